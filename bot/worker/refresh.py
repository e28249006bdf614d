"""The one reader of each stamp: the snapshot every command and App Home answer from, the history, the updates.

Every ``AZS_SNAPSHOT_INTERVAL`` seconds one worker (the one that takes the stamp's turn,
:meth:`bot.state.snapshots.SnapshotStore.take_turn`) surveys the stamp (:func:`bot.stamp.survey.survey`:
backup location, backup list, update location), writes the snapshot, records every listed backup in the
durable history (the stamp forgets them after 14 days at most) and notes the update state in the update
windows. A followed backup that ends gives up the turn, so the snapshot shows it within a second or so. A
stamp that stops answering keeps its last snapshot: the survey keeps each part and records the error, so
readers see it stale with its age.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from bot.model.backup import Backup
from bot.model.snapshot import StampSnapshot
from bot.model.update import UpdateStates
from bot.stamp.arm import ArmClient
from bot.stamp.survey import survey
from bot.state.history import HistoryStore
from bot.state.snapshots import SnapshotStore
from bot.state.update_windows import UpdateWindowStore

log = logging.getLogger(__name__)


class Refresher:
    """Refreshes each stamp's snapshot in its turn and keeps the history and the update windows from it."""

    def __init__(
        self,
        clients: Mapping[str, ArmClient],
        snapshots: SnapshotStore,
        history: HistoryStore,
        windows: UpdateWindowStore,
        states: UpdateStates,
        *,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients, self.snapshots, self.history, self.windows = clients, snapshots, history, windows
        self.states, self.interval, self.clock = states, interval, clock

    def run_due(self) -> int:
        """Refresh every stamp whose turn this worker takes; returns how many it refreshed."""
        done = 0
        for stamp in self.clients:
            if self.snapshots.take_turn(stamp, self.interval):
                self.refresh(stamp)
                done += 1
        return done

    def refresh(self, stamp: str) -> StampSnapshot:
        """Survey ``stamp`` over its last snapshot, write it, and record what was read just now."""
        now = self.clock()
        view = self.snapshots.read(stamp, now)
        snapshot = survey(self.clients[stamp], view.snapshot if view else None, now)
        self.snapshots.write(stamp, snapshot)
        if snapshot.backups_read_at == now:
            self.history.record(stamp, snapshot.backups, now)
        update = snapshot.update
        if update is not None and snapshot.update_read_at == now:
            paused = self.states.classify(update.state).pauses_backups
            self.windows.note(stamp, paused, update.state or "", now)
        return snapshot

    def backup_ended(self, stamp: str, backup: Backup | None) -> None:
        """A backup the worker followed ended: its final state goes into the history now (the next list may be
        minutes away), and the stamp is read again at the next look rather than at the end of the interval."""
        if backup is not None:
            self.history.record(stamp, [backup], self.clock())
        self.snapshots.refresh_soon(stamp)
