"""What travels down the request pipeline: the parsed :class:`Command`, and the :class:`Request` a runner answers.

Plain data. The command table imports this module (its runners take a :class:`Request`), so the table's
:class:`~bot.commands.table.Action` is imported here for the type checker only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.model.facts import Problem
from bot.state.inbox import WorkItem

if TYPE_CHECKING:
    from bot.commands.table import Action


@dataclass(frozen=True)
class Command:
    """A command as the listener parsed it (or a click, as ``START_CLICK``); parsed once, then carried."""

    action: Action
    stamp: str | None = None
    """The stamp the command names (``/azs backup <stamp> ...``, ``/azs stamps use <stamp>``, the card's button)."""
    backup_id: str | None = None
    option: str | None = None
    """Watch mode (all/failures/off) or threads (on/off)."""
    problem: Problem | None = None
    """Set when the input was not understood: the reply shows it above the usage."""

    def work_item(
        self, kind: str, *, user: str, channel: str, response_url: str, item_id: str, text: str = ""
    ) -> WorkItem:
        """The durable record of this command, which carries it parsed (``text`` too, for older processes)."""
        return WorkItem(
            kind=kind,
            user=user,
            channel=channel,
            response_url=response_url,
            text=text,
            stamp=self.stamp or "",
            action=self.action.value,
            backup_id=self.backup_id or "",
            option=self.option or "",
            item_id=item_id,
        )


@dataclass(frozen=True)
class Request:
    """What a runner is given: the command, who asked and where, and the durable item behind it."""

    command: Command
    user: str
    channel: str
    item_id: str = ""
    """The durable item's id; a Start click's job is named after it, so a retry finds the job."""
    received_at: float = field(default_factory=time.time)
    recovered: bool = False
    """Taken over from a process that stopped before answering it."""
    stamps: tuple[str, ...] = ()
    """Every stamp the bot knows, in configuration order (``/azs stamps`` lists them)."""
    in_ack: bool = False
    """Answered in the ack from the snapshot and the history alone: a read that needs the stamp (no snapshot yet, an
    id neither knows) raises :class:`~bot.commands.reads.NotInSnapshot` and is answered after the ack instead."""
    ack_deadline: float = float("inf")
    """For a read answered in the ack: the time (``time.time()``) by which its answer must be ready for the ack."""
