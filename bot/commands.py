"""Parse the text after ``/azs`` into a command; pure, so any input gets a helpful answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_BACKUP_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Action(StrEnum):
    HELP = "help"
    START = "start"
    STATUS = "status"
    LIST = "list"
    SHOW = "show"
    CONFIG = "config"
    AUDIT = "audit"


OPERATOR_ONLY = frozenset({Action.START, Action.AUDIT})


@dataclass(frozen=True)
class Command:
    action: Action
    backup_id: str | None = None
    problem: str | None = None
    """Set when the input was not understood: the reply shows it above the usage."""


def parse(text: str | None) -> Command:
    """``/azs`` text to a :class:`Command`; unknown or malformed input becomes help with a problem."""
    words = (text or "").split()
    if not words or words[0].lower() in ("help", "-h", "--help", "?"):
        return Command(Action.HELP)
    if words[0].lower() != "backup":
        return Command(Action.HELP, problem=f"I don't know `{_quote(words[0])}`.")
    rest = [w.lower() for w in words[1:]]
    if not rest or rest == ["start"]:
        return Command(Action.START)
    verb, args = rest[0], words[2:]
    simple = {"status": Action.STATUS, "list": Action.LIST, "config": Action.CONFIG, "help": Action.HELP,
              "audit": Action.AUDIT}
    if verb in simple and not args:
        return Command(simple[verb])
    if verb == "show":
        if len(args) != 1:
            return Command(Action.HELP, problem="`/azs backup show` needs one backup id.")
        backup_id = args[0].rsplit("/", 1)[-1]
        if not _BACKUP_ID.match(backup_id):
            return Command(Action.HELP, problem=f"`{_quote(args[0])}` is not a backup id (a GUID).")
        return Command(Action.SHOW, backup_id=backup_id.lower())
    return Command(Action.HELP, problem=f"I don't understand `/azs {_quote(' '.join(words))}`.")


def _quote(text: str) -> str:
    """Echo user input safely inside inline code: no backticks, no mentions, bounded length."""
    cleaned = text.replace("`", "'").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return cleaned[:60] + ("…" if len(cleaned) > 60 else "")
