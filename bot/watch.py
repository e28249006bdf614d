"""Watching a stamp: announce every backup that ends (scheduled ones included) and overdue backups.

Channels subscribe with ``/azs backup watch``. Every ``AZS_WATCH_INTERVAL`` seconds one worker (the
one that takes the stamp's turn key) lists the stamp's backups once, whatever the number of watching
channels, and posts what each channel has not seen. Backups that ended before a channel subscribed
are never announced to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from bot import keys, messages
from bot.arm import ArmClient, StampError
from bot.jobs import JobStore
from bot.models import Backup, BackupLocation, is_backup_id
from bot.slack import PostFailed, SlackPoster

log = logging.getLogger(__name__)

STALE_ALERT_REPEAT_SECONDS = 86_400
ANNOUNCED_MEMORY_SECONDS = 30 * 86_400


@dataclass(frozen=True)
class Subscription:
    channel: str
    mode: str
    since: float

    def wants(self, backup: Backup) -> bool:
        ended_after = backup.created is not None and backup.created.timestamp() > self.since
        return ended_after and (self.mode == "all" or backup.status.lower() != "succeeded")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class WatchStore:
    """Subscriptions and what was already announced, in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._converted: set[str] = set()

    def subscribe(self, stamp: str, channel: str, mode: str) -> None:
        if mode == "off":
            self.redis.hdel(keys.watchers_key(stamp), channel)
        else:
            self.redis.hset(keys.watchers_key(stamp), channel, f"{mode} {time.time()!r}")

    def subscriptions(self, stamp: str) -> list[Subscription]:
        subs = []
        for channel, value in self.redis.hgetall(keys.watchers_key(stamp)).items():
            mode, _, since = _text(value).partition(" ")
            subs.append(Subscription(_text(channel), mode, float(since or 0)))
        return subs

    def take_turn(self, stamp: str, interval: float) -> bool:
        """True for exactly one caller per interval per stamp."""
        return bool(self.redis.set(keys.watch_turn_key(stamp), "1", nx=True, px=int(interval * 1000)))

    def announced(self, stamp: str, backup_id: str, channels: list[str]) -> list[bool]:
        key = self._announced_key(stamp)
        members = [f"{backup_id} {c}" for c in channels]
        return [score is not None for score in self.redis.zmscore(key, members)]

    def mark_announced(self, stamp: str, backup_id: str, channel: str) -> None:
        """Each pair is remembered for longer than the stamp keeps backups (retention is at most 14 days).

        A sorted set scored by when the pair was announced, so each entry ages out on its own; a plain
        set with a key TTL renewed on every add would never shrink while the stamp is watched.
        """
        key, now = self._announced_key(stamp), time.time()
        with self.redis.pipeline() as pipe:
            pipe.zadd(key, {f"{backup_id} {channel}": now})
            pipe.zremrangebyscore(key, "-inf", now - ANNOUNCED_MEMORY_SECONDS)
            pipe.expire(key, ANNOUNCED_MEMORY_SECONDS)
            pipe.execute()

    def _announced_key(self, stamp: str) -> str:
        """The key, once converted from the plain set earlier versions kept (its pairs count as announced now)."""
        key = keys.watch_announced_key(stamp)
        if stamp not in self._converted:
            if _text(self.redis.type(key)) == "set":
                members = [_text(m) for m in self.redis.smembers(key)]
                with self.redis.pipeline() as pipe:
                    pipe.delete(key)
                    if members:
                        pipe.zadd(key, dict.fromkeys(members, time.time()))
                        pipe.expire(key, ANNOUNCED_MEMORY_SECONDS)
                    pipe.execute()
            self._converted.add(stamp)
        return key

    def stale_alert_due(self, stamp: str) -> bool:
        """True at most once a day while the stamp stays overdue."""
        return bool(self.redis.set(keys.stale_alert_key(stamp), "1", nx=True, ex=STALE_ALERT_REPEAT_SECONDS))

    def clear_stale_alert(self, stamp: str) -> None:
        self.redis.delete(keys.stale_alert_key(stamp))


class Watcher:
    def __init__(self, store: WatchStore, jobs: JobStore, clients: Mapping[str, ArmClient], poster: SlackPoster, *,
                 interval: float, max_age_hours: float) -> None:
        self.store = store
        self.jobs = jobs
        self.clients = clients
        self.poster = poster
        self.interval = interval
        self.max_age_hours = max_age_hours

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
        for backup in (b for b in reversed(backups) if b.is_terminal and is_backup_id(b.backup_id)):
            wanting = [s for s in subs if s.wants(backup)]
            if not wanting:
                continue
            seen = self.store.announced(stamp, backup.backup_id, [s.channel for s in wanting])
            fresh = [s for s, done in zip(wanting, seen, strict=True) if not done]
            if not fresh:
                continue
            job = self.jobs.find_by_backup_id(stamp, backup.backup_id)
            for sub in fresh:
                reported_by_job = job is not None and job.channel == sub.channel  # it reports there itself
                if not reported_by_job and not self._post(sub.channel, messages.watched_backup(stamp, backup)):
                    continue
                self.store.mark_announced(stamp, backup.backup_id, sub.channel)

    def _check_staleness(self, stamp: str, location: BackupLocation, backups: list[Backup],
                         subs: list[Subscription]) -> None:
        good = [b for b in backups if b.status.lower() == "succeeded" and b.created is not None]
        newest = max(good, key=lambda b: b.created.timestamp() if b.created else 0.0) if good else None
        if location.scheduler_enabled and location.frequency_hours:
            limit, reason = 2.0 * location.frequency_hours, f"twice the scheduler's {location.frequency_hours} h"
        else:
            limit, reason = self.max_age_hours, "the scheduler is off; AZS_MAX_BACKUP_AGE_HOURS"
        age_hours = (time.time() - newest.created.timestamp()) / 3600 if newest and newest.created else float("inf")
        if age_hours <= limit:
            self.store.clear_stale_alert(stamp)
            return
        if self.store.stale_alert_due(stamp):
            for sub in subs:
                self._post(sub.channel, messages.stale_backups(stamp, newest, limit, reason))

    def _post(self, channel: str, message: messages.Message) -> bool:
        try:
            self.poster.post(channel, message, user=None)
            return True
        except PostFailed as exc:
            log.error("watch: cannot post to %s: %s", channel, exc.error)
            return False
