"""Parse the text after ``/azs`` into a command; pure, so any input gets a helpful answer.

Grammar: ``help`` | ``stamps [use <stamp>]`` | ``backup [<stamp>] [<verb> [args]]`` where a word after
``backup`` that is not a verb names the stamp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bot.messages import clip, escape
from bot.settings import STAMP_NAME

_BACKUP_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Action(StrEnum):
    HELP = "help"
    START = "start"
    STATUS = "status"
    LIST = "list"
    SHOW = "show"
    CONFIG = "config"
    AUDIT = "audit"
    WATCH = "watch"
    CANCEL = "cancel"
    THREADS = "threads"
    STAMPS = "stamps"
    USE_STAMP = "use-stamp"


OPERATOR_ONLY = frozenset({Action.START, Action.AUDIT, Action.USE_STAMP, Action.WATCH, Action.THREADS})
WATCH_MODES = ("all", "failures", "off")

_NO_ARGUMENT = {"start": Action.START, "status": Action.STATUS, "list": Action.LIST, "config": Action.CONFIG,
                "audit": Action.AUDIT, "cancel": Action.CANCEL, "help": Action.HELP}
_VERBS = {*_NO_ARGUMENT, "show", "watch", "threads"}


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
    if rest and rest[0].lower() not in _VERBS:
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
    if not words:
        return Command(Action.START)
    verb, args = words[0].lower(), words[1:]
    if verb in _NO_ARGUMENT and not args:
        return Command(_NO_ARGUMENT[verb])
    if verb == "show":
        if len(args) != 1:
            return _problem("`/azs backup show` needs one backup id.")
        backup_id = args[0].rsplit("/", 1)[-1]
        if not _BACKUP_ID.match(backup_id):
            return _problem(f"`{quote(args[0])}` is not a backup id (a GUID).")
        return Command(Action.SHOW, backup_id=backup_id.lower())
    if verb == "watch" and len(args) <= 1:
        mode = args[0].lower() if args else "all"
        if mode in WATCH_MODES:
            return Command(Action.WATCH, option=mode)
        return _problem("`/azs backup watch` takes `all`, `failures` or `off`.")
    if verb == "threads" and len(args) == 1 and args[0].lower() in ("on", "off"):
        return Command(Action.THREADS, option=args[0].lower())
    return _problem(f"I don't understand `/azs backup {quote(' '.join(words))}`.")


def quote(text: str) -> str:
    """Echo user input safely inside inline code: :func:`bot.messages.escape`, bounded length."""
    return clip(escape(text), 61)
