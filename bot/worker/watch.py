"""Watching a stamp: announce every backup that ends (scheduled ones included) and overdue backups.

Channels subscribe with ``/azs backup watch``. Every ``AZS_WATCH_INTERVAL`` seconds one worker (the
one that takes the stamp's turn key) lists the stamp's backups once, whatever the number of watching
channels, and posts what each channel has not seen. Backups that ended before a channel subscribed
are never announced to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from bot.model.backup import Backup, is_backup_id
from bot.model.location import BackupLocation
from bot.slack.client import PostFailed, SlackPoster
from bot.stamp.arm import ArmClient
from bot.stamp.errors import StampError
from bot.state.jobs import JobStore
from bot.state.watches import ANNOUNCED_MEMORY_SECONDS, STALE_ALERT_REPEAT_SECONDS, Subscription, WatchStore
from bot.words import posts
from bot.words.mrkdwn import Message

__all__ = ["ANNOUNCED_MEMORY_SECONDS", "STALE_ALERT_REPEAT_SECONDS", "Subscription", "WatchStore", "Watcher"]

log = logging.getLogger(__name__)


class Watcher:
    def __init__(
        self,
        store: WatchStore,
        jobs: JobStore,
        clients: Mapping[str, ArmClient],
        poster: SlackPoster,
        *,
        interval: float,
        max_age_hours: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.clients = clients
        self.poster = poster
        self.interval = interval
        self.max_age_hours = max_age_hours
        self.clock = clock

    def run_due(self) -> None:
        """Check every watched stamp whose turn has come; failures wait for the next turn."""
        for stamp, client in self.clients.items():
            subs = self.store.subscriptions(stamp)
            if not subs or not self.store.take_turn(stamp, self.interval):
                continue
            try:
                backups = client.list_backups()
                self._announce_ended(stamp, backups, subs)
                self._check_staleness(stamp, client.backup_location(), backups, subs)
            except StampError as exc:
                log.warning("watch: cannot read backups of %s: %s", stamp, exc)

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
            if reported_by_job or self._post(sub.channel, posts.watched_backup(stamp, backup)):
                self.store.mark_announced(stamp, backup.backup_id, sub.channel)

    def _check_staleness(
        self, stamp: str, location: BackupLocation, backups: list[Backup], subs: list[Subscription]
    ) -> None:
        newest = newest_success(backups)
        limit, reason = self._age_limit(location)
        if (
            newest is not None
            and newest.created is not None
            and (self.clock() - newest.created.timestamp()) / 3600 <= limit
        ):
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


def newest_success(backups: list[Backup]) -> Backup | None:
    """The latest succeeded backup with a creation time."""
    good = [b for b in backups if b.status.lower() == "succeeded" and b.created is not None]
    return max(good, key=lambda b: b.created.timestamp() if b.created else 0.0) if good else None
