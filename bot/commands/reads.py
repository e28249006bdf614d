"""The read commands of one stamp, answered from its snapshot and the bot's own history, not from the stamp.

One reader of each stamp (the worker's refresher, :mod:`bot.worker`) keeps a snapshot in Redis; ``status``,
``list``, ``config``, ``show`` of a known id, ``history``, ``dr`` and App Home read it, so they answer as fast as
Redis does whatever the stamp's speed, never wait in the stamp's lane, and say how old the answer is. Before the
first refresh (a fresh install) the first reader surveys the stamp once and writes the snapshot, so the answer is
still useful. Only ``show`` of an id neither the snapshot nor the history knows asks the stamp.

A request answered in the ack (``Request.in_ack``) never asks the stamp: where the answer would need it, the read
raises :class:`NotInSnapshot` and the pipeline leaves the command to the after-ack path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import redis

from bot.commands.request import Request
from bot.model.backup import Backup, is_backup_id
from bot.model.recovery import Readiness, readiness
from bot.model.snapshot import SnapshotView, StampSnapshot
from bot.model.update import UpdateClass, UpdateStates
from bot.stamp.arm import ArmClient
from bot.stamp.errors import StampError
from bot.stamp.survey import survey
from bot.state.history import DAY, HistoryStore
from bot.state.snapshots import SnapshotStore
from bot.words import recovery, replies, steward
from bot.words.backups import backup_config, backup_detail, backup_list
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)

DEFAULT_HISTORY_DAYS = 30
"""What ``/azs backup history`` shows with no number of days."""


class NotInSnapshot(Exception):
    """A read answered in the ack needs the stamp (no snapshot yet, an unknown id): it is answered after the ack."""


@dataclass
class StampReads:
    """One stamp's snapshot and history, as the read commands answer from them."""

    stamp: str
    arm: ArmClient
    snapshots: SnapshotStore
    history: HistoryStore
    update_states: UpdateStates
    history_days: int
    """How long the history is kept (``AZS_HISTORY_DAYS``): the most days ``history`` can show."""
    clock: Callable[[], float] = time.time
    _first_read: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def with_redis(self, client: redis.Redis) -> StampReads:
        """The same reads through ``client`` (the ack path's, with short timeouts)."""
        snapshots = SnapshotStore(
            client,
            stale_after=self.snapshots.stale_after,
            capacity_samples=self.snapshots.capacity_samples,
            capacity_spacing=self.snapshots.capacity_spacing,
            config_changes_kept=self.snapshots.config_changes_kept,
        )
        history = HistoryStore(client, keep_days=self.history.keep_seconds / DAY)
        return replace(self, snapshots=snapshots, history=history)

    def view(self, request: Request | None = None) -> SnapshotView:
        """The snapshot with its age; before the worker's first refresh, the stamp surveyed once (and written),
        unless the request is answered in the ack (:class:`NotInSnapshot`)."""
        found = self.snapshots.read(self.stamp, self.clock())
        if found is not None:
            return found
        if request is not None and request.in_ack:
            raise NotInSnapshot(f"no snapshot of {self.stamp} yet")
        with self._first_read:  # readers of the same stamp in this process wait for one survey
            found = self.snapshots.read(self.stamp, self.clock())
            if found is not None:
                return found
            now = self.clock()
            snapshot = survey(self.arm, None, now)
            self.snapshots.write(self.stamp, snapshot)
            if snapshot.backups_read_at is not None:
                self.history.record(self.stamp, snapshot.backups, now)
            log.info("no snapshot of %s yet: surveyed the stamp for a read command", self.stamp)
            return self.snapshots.read(self.stamp, self.clock()) or SnapshotView(snapshot, 0.0, False)

    def update_class(self, snapshot: StampSnapshot) -> UpdateClass:
        return self.update_states.classify(snapshot.update.state if snapshot.update else None)

    def update_line(self, snapshot: StampSnapshot) -> str:
        return steward.update_line(snapshot.update, self.update_class(snapshot), snapshot.update_denied)

    # --- the runners' bodies (BackupService's methods of the same names call these) --------------------------------

    def status(self, running: Message, request: Request | None = None) -> Message:
        """The backups the bot follows (``running``, from the job store), and this stamp as last read."""
        view = self.view(request)
        snapshot = view.snapshot
        on_stamp = next((b for b in snapshot.backups if not b.is_terminal), None)
        latest = next((b for b in snapshot.backups if b.is_terminal), None)
        message = steward.stamp_status(running, self.stamp, on_stamp, latest, self.update_line(snapshot))
        return steward.with_freshness(message, view)

    def list(self, request: Request) -> Message:
        view = self.view(request)
        if view.snapshot.backups_read_at is None:
            return self._never_read(view, "list backups")
        return steward.with_freshness(backup_list(self.stamp, list(view.snapshot.backups)), view)

    def config(self, request: Request) -> Message:
        view = self.view(request)
        if view.snapshot.location is None:
            return self._never_read(view, "read the backup configuration")
        return steward.with_freshness(backup_config(self.stamp, view.snapshot.location), view)

    def show(self, request: Request) -> Message:
        """A backup the snapshot lists (in full, as listed), else one the history keeps, else the stamp's answer."""
        backup_id = (request.command.backup_id or "").lower()
        if not is_backup_id(backup_id):
            return replies.not_a_backup_id()
        view = self.view(request)
        listed = next((b for b in view.snapshot.backups if b.backup_id.lower() == backup_id), None)
        if listed is not None:
            return steward.with_freshness(backup_detail(self.stamp, listed), view)
        kept = self.history.get(self.stamp, backup_id)
        if kept is not None:
            return steward.from_history(backup_detail(self.stamp, kept.as_backup()), kept.first_seen)
        if request.in_ack:
            raise NotInSnapshot(f"backup {backup_id} is known to neither the snapshot nor the history")
        backup = self.arm.get_backup(backup_id)
        if backup is None:
            return replies.no_such_backup(self.stamp, backup_id)
        return backup_detail(self.stamp, backup)

    def history_page(self, request: Request) -> Message:
        """``history [days] [page N]``: what the bot recorded, newest first, one page."""
        asked, page = history_args(request.command.option)
        days = min(asked, self.history_days)
        offset = (page - 1) * steward.HISTORY_PAGE_SIZE
        found = self.history.page(
            self.stamp, days=days, now=self.clock(), offset=offset, limit=steward.HISTORY_PAGE_SIZE
        )
        return steward.history_page(
            self.stamp,
            found.entries,
            days=days,
            page=page,
            total=found.total,
            more=found.next_offset is not None,
            kept_days=self.history_days,
            asked_days=asked,
        )

    def readiness(self, view: SnapshotView) -> Readiness:
        """Cloud-recovery readiness from the snapshot, with every version the history saw the stamp run."""
        snapshot = view.snapshot
        now = self.clock()
        seen = self.history.page(self.stamp, days=self.history_days, now=now, limit=500).entries
        return readiness(
            snapshot.location,
            snapshot.backups,
            snapshot.update,
            datetime.fromtimestamp(now, UTC),
            seen_versions=[e.stamp_version for e in seen if e.stamp_version],
        )

    def dr(self, request: Request) -> Message:
        view = self.view(request)
        if view.snapshot.backups_read_at is None:
            return self._never_read(view, "read the backups")
        card = recovery.dr_card(self.stamp, self.readiness(view), self.update_line(view.snapshot))
        return steward.with_freshness(card, view)

    def home_lines(self) -> tuple[SnapshotView, str, str]:
        """App Home's view of the stamp, its readiness line and its update line."""
        view = self.view()
        return view, recovery.readiness_line(self.readiness(view)), self.update_line(view.snapshot)

    def _never_read(self, view: SnapshotView, doing: str) -> Message:
        """The part this answer needs was never read: the stamp's last error, as a failed live read says it."""
        error = view.snapshot.error or "the stamp has not answered yet"
        return replies.stamp_call_failed(doing, self.stamp, StampError(error, code=view.snapshot.error_code))

    def latest(self, view: SnapshotView) -> Backup | None:
        return next((b for b in view.snapshot.backups if b.is_terminal), None)


def history_args(option: str | None) -> tuple[int, int]:
    """(days, page) from the parsed ``history`` option (``"<days>:<page>"``, see :mod:`bot.commands.parse`)."""
    days, _, page = (option or "").partition(":")
    return int(days or DEFAULT_HISTORY_DAYS), int(page or 1)
