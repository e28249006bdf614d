"""Parse the text after ``/azs`` into a command, once, in the listener; pure, so any input gets a helpful answer.

Grammar: ``help`` | ``stamps [use <stamp>]`` | ``backup [<stamp>] [<verb> [args]]`` where a word after
``backup`` that is not a verb names the stamp.
"""

from __future__ import annotations

import re

from bot.commands.request import Command
from bot.commands.table import BACKUP_VERBS, Action, Args, Verb
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
    if rest and rest[0].lower() not in BACKUP_VERBS:
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
    verb = BACKUP_VERBS.get(words[0].lower())
    command = _parse_args(verb, words[1:]) if verb else None
    return command or _problem(Trouble.NOT_UNDERSTOOD, " ".join(words))


def _parse_args(verb: Verb, args: list[str]) -> Command | None:
    """``None`` when the arguments do not fit the verb at all (the caller says it did not understand)."""
    if verb.args == Args.BACKUP_ID:
        return _backup_id_command(verb, args)
    if verb.args == Args.CHOICE:
        return _choice_command(verb, args)
    if verb.args == Args.REPORT:
        return _report_command(verb, args)
    return None if args else Command(verb.action)


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
