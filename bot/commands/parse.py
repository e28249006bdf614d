"""Parse the text after ``/azs`` into a command; pure, so any input gets a helpful answer.

Grammar: ``help`` | ``stamps [use <stamp>]`` | ``backup [<stamp>] [<verb> [args]]`` where a word after
``backup`` that is not a verb names the stamp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.commands.table import BACKUP_VERBS, OPERATOR_ONLY, WATCH_MODES, Action, Args, Verb
from bot.config.settings import STAMP_NAME
from bot.model.facts import Problem, Trouble

__all__ = ["OPERATOR_ONLY", "WATCH_MODES", "Action", "Command", "Problem", "Trouble", "parse"]

_BACKUP_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Command:
    action: Action
    stamp: str | None = None
    backup_id: str | None = None
    option: str | None = None
    """Watch mode (all/failures/off), threads (on/off), or the stamp for ``stamps use``."""
    problem: Problem | None = None
    """Set when the input was not understood: the reply shows it above the usage."""


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
    return Command(command.action, stamp, command.backup_id, command.option, command.problem)


def _parse_stamps(args: list[str]) -> Command:
    if not args:
        return Command(Action.STAMPS)
    if len(args) == 2 and args[0].lower() == "use" and STAMP_NAME.match(args[1]):
        return Command(Action.USE_STAMP, option=args[1])
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
