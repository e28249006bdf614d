"""Parse the text after ``/azs`` into a command, once, in the listener; pure, so any input gets a helpful answer.

Grammar: ``help`` | ``stamps [use <stamp>]`` | ``backup [<stamp>] [<verb> [args]]`` where a word after
``backup`` that is not a verb names the stamp.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.commands.request import Command
from bot.commands.table import BACKUP_VERBS, FIRST_WORDS, MAX_WORDS, Action, Args, Verb
from bot.config.stamps import STAMP_NAME
from bot.model.facts import Problem, Trouble
from bot.state.inbox import WorkItem

_BACKUP_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MONTH = re.compile(r"^\d{4}-\d{1,2}$")
_VALID_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_ACTIONS = frozenset(action.value for action in Action)


def _problem(trouble: Trouble, said: str = "", verb: str = "", choices: tuple[str, ...] = ()) -> Command:
    return Command(Action.HELP, problem=Problem(trouble, said, verb, choices))


def parse(text: str | None) -> Command:
    """``/azs`` text to a :class:`Command`; unknown or malformed input becomes help with a problem."""
    words = (text or "").split()
    if not words or words[0].lower() in ("help", "-h", "--help", "?"):
        return Command(Action.HELP)
    head = words[0].lower()
    if head == "stamps":
        return _parse_stamps(words[1:])
    if head != "backup":
        return _problem(Trouble.UNKNOWN_WORD, words[0])
    rest, stamp = words[1:], None
    if rest and rest[0].lower() not in FIRST_WORDS:
        if not STAMP_NAME.match(rest[0]):
            return _problem(Trouble.NOT_A_STAMP, rest[0])
        stamp, rest = rest[0], rest[1:]
    command = _parse_verb(rest)
    return Command(command.action, stamp or command.stamp, command.backup_id, command.option, command.problem)


def _parse_stamps(args: list[str]) -> Command:
    if not args:
        return Command(Action.STAMPS)
    if len(args) == 2 and args[0].lower() == "use" and STAMP_NAME.match(args[1]):
        return Command(Action.USE_STAMP, stamp=args[1])
    return _problem(Trouble.STAMPS_USAGE)


def _parse_verb(words: list[str]) -> Command:
    """The words after ``/azs backup [stamp]``, read by the verb's row of the command table."""
    if not words:
        return Command(Action.START)
    two = BACKUP_VERBS.get(" ".join(words[:2]).lower()) if len(words) > 1 else None
    verb, args = (two, words[2:]) if two else (BACKUP_VERBS.get(words[0].lower()), words[1:])
    command = _parse_args(verb, args) if verb else None
    return command or _problem(Trouble.NOT_UNDERSTOOD, " ".join(words))


def _parse_args(verb: Verb, args: list[str]) -> Command | None:
    """``None`` when the arguments do not fit the verb at all (the caller says it did not understand)."""
    reader = _ARG_READERS.get(verb.args)
    if reader is not None:
        return reader(verb, args)
    return None if args else Command(verb.action)


def _words_command(verb: Verb, args: list[str]) -> Command | None:
    fits = 0 < len(args) <= MAX_WORDS and all(len(word) <= 64 for word in args)
    return Command(verb.action, option=" ".join(args)) if fits else None


def _backup_id_command(verb: Verb, args: list[str]) -> Command:
    if len(args) != 1:
        return _problem(Trouble.NEEDS_ONE_ID, verb=verb.action)
    backup_id = args[0].rsplit("/", 1)[-1]
    if not _BACKUP_ID.match(backup_id):
        return _problem(Trouble.NOT_AN_ID, args[0])
    return Command(verb.action, backup_id=backup_id.lower())


def _choice_command(verb: Verb, args: list[str]) -> Command | None:
    if len(args) > 1 or (not args and verb.default is None):
        return None
    choice = args[0].lower() if args else verb.default
    if choice in verb.choices:
        return Command(verb.action, option=choice)
    if verb.default is None:
        return None
    return _problem(Trouble.CHOICES, verb=verb.action, choices=verb.choices)


MAX_DAYS, MAX_PAGE = 3650, 1000
"""The most days (the history's longest retention) and pages ``history`` takes; the runner caps days further."""


_DAYS_PAGE = re.compile(r"^(?P<days>\d+)?\s*(?:page (?P<page>\d+))?$")


def _number(word: str | None, most: int) -> int | None:
    return int(word) if word and word.isdigit() and 1 <= int(word) <= most else None


def _days_page_command(verb: Verb, args: list[str]) -> Command | None:
    """``[days] [page N]``: ``None`` when the words are anything else (the help says what was not understood)."""
    words = " ".join(args)
    match = _DAYS_PAGE.match(words)
    if match is None:
        return None
    days, page = (_number(word, most) for word, most in ((match["days"], MAX_DAYS), (match["page"], MAX_PAGE)))
    if (match["days"] and days is None) or (match["page"] and page is None):
        return None
    return Command(verb.action, option=f"{days or ''}:{page or ''}" if words else None)


def _report_command(verb: Verb, args: list[str]) -> Command | None:
    """``[YYYY-MM] [stamp|all]`` in any order; ``None`` (not understood) for anything else."""
    month = [a for a in args if _MONTH.match(a)]
    rest = [a for a in args if not _MONTH.match(a)]
    if not _report_args_fit(month, rest):
        return None
    stamp = rest[0] if rest and rest[0].lower() != "all" else None
    return Command(verb.action, stamp=stamp, option=month[0] if month else None)


def _report_args_fit(month: list[str], rest: list[str]) -> bool:
    """At most one real month (``2026-13`` is a bad month, not a stamp) and one stamp name or ``all``."""
    months_ok = len(month) <= 1 and all(_VALID_MONTH.match(m) for m in month)
    return months_ok and len(rest) <= 1 and all(STAMP_NAME.match(r) for r in rest)


_ARG_READERS: dict[Args, Callable[[Verb, list[str]], Command | None]] = {
    Args.BACKUP_ID: _backup_id_command,
    Args.CHOICE: _choice_command,
    Args.WORDS: _words_command,
    Args.DAYS_PAGE: lambda verb, args: _days_page_command(verb, [a.lower() for a in args]),
    Args.REPORT: _report_command,
}
"""How each kind of argument list in the command table is read; a verb with none takes no arguments."""


def command_of(item: WorkItem) -> Command:
    """The command a durable item carries, as its listener parsed it.

    An item recorded before items carried their command (or by a newer process, with an action this one does not
    know) is read the old way: a click is the Start click, a command is parsed from its text.
    """
    if item.action in _ACTIONS:
        return Command(Action(item.action), item.stamp or None, item.backup_id or None, item.option or None)
    if item.kind == "click":
        return Command(Action.START_CLICK, item.stamp or None)
    return parse(item.text)
