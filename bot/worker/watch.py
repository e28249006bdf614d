"""Watching a stamp: announce every backup that ends (scheduled ones included), overdue backups, and updates.

Channels subscribe with ``/azs backup watch``. Every ``AZS_WATCH_INTERVAL`` seconds one worker (the
one that takes the stamp's turn key) reads the stamp's snapshot (the refresher is the one reader of the stamp:
:mod:`bot.worker.refresh`), whatever the number of watching channels, and posts what each channel has not seen.
Backups that ended before a channel subscribed are never announced to it. While an update pauses backups
there is no overdue alarm (:mod:`bot.worker.update_watch` says why instead), and the alarm counts the time
since the update ended, not only since the newest good backup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from bot.model.backup import Backup, is_backup_id
from bot.model.location import BackupLocation
from bot.model.snapshot import SnapshotView
from bot.slack.client import PostFailed, SlackPoster
from bot.state.jobs import JobStore
from bot.state.snapshots import SnapshotStore
from bot.state.watches import ANNOUNCED_MEMORY_SECONDS, STALE_ALERT_REPEAT_SECONDS, Subscription, WatchStore
from bot.words import notices, posts
from bot.words.mrkdwn import Message
from bot.worker.update_watch import UpdateWatch

__all__ = ["ANNOUNCED_MEMORY_SECONDS", "STALE_ALERT_REPEAT_SECONDS", "Subscription", "WatchStore", "Watcher"]

log = logging.getLogger(__name__)


class Watcher:
    def __init__(
        self,
        store: WatchStore,
        jobs: JobStore,
        snapshots: SnapshotStore,
        stamps: Sequence[str],
        poster: SlackPoster,
        *,
        interval: float,
        max_age_hours: float,
        updates: Callable[[Callable[[str, Message], bool]], UpdateWatch] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``updates`` builds the update half around this watcher's way of posting (none: updates are not read)."""
        self.store = store
        self.jobs = jobs
        self.snapshots = snapshots
        self.stamps = tuple(stamps)
        self.poster = poster
        self.interval = interval
        self.max_age_hours = max_age_hours
        self.updates = updates(self._post) if updates is not None else None
        self.clock = clock

    def run_due(self) -> None:
        """Check every watched stamp whose turn has come, from its snapshot; one not read yet waits."""
        for stamp in self.stamps:
            subs = self.store.subscriptions(stamp)
            if not subs or not self.store.take_turn(stamp, self.interval):
                continue
            now = self.clock()
            view = self.snapshots.read(stamp, now)
            if view is None or view.snapshot.backups_read_at is None:
                continue  # the refresher has not read the stamp yet
            self.check(stamp, view, subs, now)

    def check(self, stamp: str, view: SnapshotView, subs: list[Subscription], now: float) -> None:
        snapshot = view.snapshot
        backups = list(snapshot.backups)
        self._announce_ended(stamp, backups, subs)
        paused = self.updates.check(stamp, snapshot, subs, now) if self.updates is not None else False
        if paused or view.stale or snapshot.location is None:
            return  # skipped by design, or not known to be current: no overdue alarm
        resumed = self.updates.resumed_at(stamp, now) if self.updates is not None else None
        self._check_staleness(stamp, snapshot.location, backups, subs, resumed)

    def _announce_ended(self, stamp: str, backups: list[Backup], subs: list[Subscription]) -> None:
        """Each ended backup, oldest first, to the channels that want it and were not told yet."""
        for backup in (b for b in reversed(backups) if b.is_terminal and is_backup_id(b.backup_id)):
            fresh = self._not_yet_told(stamp, backup, subs)
            if fresh:
                self._tell(stamp, backup, fresh)

    def _not_yet_told(self, stamp: str, backup: Backup, subs: list[Subscription]) -> list[Subscription]:
        wanting = [s for s in subs if s.wants(backup)]
        if not wanting:
            return []
        seen = self.store.announced(stamp, backup.backup_id, [s.channel for s in wanting])
        return [s for s, done in zip(wanting, seen, strict=True) if not done]

    def _tell(self, stamp: str, backup: Backup, subs: list[Subscription]) -> None:
        """Post to each channel, except the one a bot-started job reports in (it says it there itself)."""
        job = self.jobs.find_by_backup_id(stamp, backup.backup_id)
        for sub in subs:
            reported_by_job = job is not None and job.channel == sub.channel
            if reported_by_job or self._post(sub.channel, ended_message(stamp, backup)):
                self.store.mark_announced(stamp, backup.backup_id, sub.channel)

    def _check_staleness(
        self,
        stamp: str,
        location: BackupLocation,
        backups: list[Backup],
        subs: list[Subscription],
        resumed: float | None = None,
    ) -> None:
        """``resumed``: when an update that paused backups last ended; the scheduler's time runs from then too."""
        newest = newest_success(backups)
        limit, reason = self._age_limit(location)
        since = max(newest.created.timestamp() if newest and newest.created else 0.0, resumed or 0.0)
        if since and (self.clock() - since) / 3600 <= limit:
            self.store.clear_stale_alert(stamp)
            return
        if self.store.stale_alert_due(stamp):
            for sub in subs:
                self._post(sub.channel, posts.stale_backups(stamp, newest, limit, reason))

    def _age_limit(self, location: BackupLocation) -> tuple[float, str]:
        """Hours a good backup may be old, and why: twice the scheduler's interval, else the setting."""
        if location.scheduler_enabled and location.frequency_hours:
            return 2.0 * location.frequency_hours, f"twice the scheduler's {location.frequency_hours} h"
        return self.max_age_hours, "the scheduler is off; AZS_MAX_BACKUP_AGE_HOURS"

    def _post(self, channel: str, message: Message) -> bool:
        try:
            self.poster.post(channel, message, user=None)
            return True
        except PostFailed as exc:
            log.error("watch: cannot post to %s: %s", channel, exc.error)
            return False


def ended_message(stamp: str, backup: Backup) -> Message:
    """A ``Skipped`` backup reads as skipped (by design during an update), never as failed."""
    if backup.status.lower() == "skipped":
        return notices.skipped_backup(stamp, backup)
    return posts.watched_backup(stamp, backup)


def newest_success(backups: list[Backup]) -> Backup | None:
    """The latest succeeded backup with a creation time."""
    good = [b for b in backups if b.status.lower() == "succeeded" and b.created is not None]
    return max(good, key=lambda b: b.created.timestamp() if b.created else 0.0) if good else None
