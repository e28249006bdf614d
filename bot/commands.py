"""Parse the text after ``/azs`` into a command; pure, so any input gets a helpful answer.

Grammar: ``help`` | ``stamps [use <stamp>]`` | ``backup [<stamp>] [<verb> [args]]`` where a word after
``backup`` that is not a verb names the stamp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.messages import clip, escape
from bot.settings import STAMP_NAME
from bot.verbs import BACKUP_VERBS, OPERATOR_ONLY, WATCH_MODES, Action, Args, Verb

__all__ = ["OPERATOR_ONLY", "WATCH_MODES", "Action", "Command", "parse", "quote"]

_BACKUP_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Command:
    action: Action
    stamp: str | None = None
    backup_id: str | None = None
    option: str | None = None
    """Watch mode (all/failures/off), threads (on/off), or the stamp for ``stamps use``."""
    problem: str | None = None
    """Set when the input was not understood: the reply shows it above the usage."""


def _problem(text: str) -> Command:
    return Command(Action.HELP, problem=text)


def parse(text: str | None) -> Command:
    """``/azs`` text to a :class:`Command`; unknown or malformed input becomes help with a problem."""
    words = (text or "").split()
    if not words or words[0].lower() in ("help", "-h", "--help", "?"):
        return Command(Action.HELP)
    head = words[0].lower()
    if head == "stamps":
        return _parse_stamps(words[1:])
    if head != "backup":
        return _problem(f"I don't know `{quote(words[0])}`.")
    rest, stamp = words[1:], None
    if rest and rest[0].lower() not in BACKUP_VERBS:
        if not STAMP_NAME.match(rest[0]):
            return _problem(f"`{quote(rest[0])}` is neither a command nor a stamp name.")
        stamp, rest = rest[0], rest[1:]
    command = _parse_verb(rest)
    return Command(command.action, stamp, command.backup_id, command.option, command.problem)


def _parse_stamps(args: list[str]) -> Command:
    if not args:
        return Command(Action.STAMPS)
    if len(args) == 2 and args[0].lower() == "use" and STAMP_NAME.match(args[1]):
        return Command(Action.USE_STAMP, option=args[1])
    return _problem("Use `/azs stamps` or `/azs stamps use &lt;stamp&gt;`.")


def _parse_verb(words: list[str]) -> Command:
    """The words after ``/azs backup [stamp]``, read by the verb's row of the command table."""
    if not words:
        return Command(Action.START)
    verb = BACKUP_VERBS.get(words[0].lower())
    command = _parse_args(verb, words[1:]) if verb else None
    return command or _problem(f"I don't understand `/azs backup {quote(' '.join(words))}`.")


def _parse_args(verb: Verb, args: list[str]) -> Command | None:
    """``None`` when the arguments do not fit the verb at all (the caller says it did not understand)."""
    if verb.args == Args.BACKUP_ID:
        return _backup_id_command(verb, args)
    if verb.args == Args.CHOICE:
        return _choice_command(verb, args)
    return None if args else Command(verb.action)


def _backup_id_command(verb: Verb, args: list[str]) -> Command:
    if len(args) != 1:
        return _problem(f"`/azs backup {verb.action}` needs one backup id.")
    backup_id = args[0].rsplit("/", 1)[-1]
    if not _BACKUP_ID.match(backup_id):
        return _problem(f"`{quote(args[0])}` is not a backup id (a GUID).")
    return Command(verb.action, backup_id=backup_id.lower())


def _choice_command(verb: Verb, args: list[str]) -> Command | None:
    if len(args) > 1 or (not args and verb.default is None):
        return None
    choice = args[0].lower() if args else verb.default
    if choice in verb.choices:
        return Command(verb.action, option=choice)
    if verb.default is None:
        return None
    return _problem(f"`/azs backup {verb.action}` takes {_alternatives(verb.choices)}.")


def _alternatives(choices: tuple[str, ...]) -> str:
    quoted = [f"`{c}`" for c in choices]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def quote(text: str) -> str:
    """Echo user input safely inside inline code: :func:`bot.messages.escape`, bounded length."""
    return clip(escape(text), 61)
