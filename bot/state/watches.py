"""Which channels watch which stamp, and what each was already told: Redis state shared by web and worker.

``/azs backup watch`` writes it (:mod:`bot.commands.backups`); the worker's :class:`bot.worker.watch.Watcher` reads it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from bot.model.backup import Backup
from bot.state import keys

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

    def notice_due(self, stamp: str, notice: str, channel: str, ttl: float) -> bool:
        """True for exactly one caller until ``ttl`` seconds pass (or :meth:`forget_notice`): it posts ``notice``."""
        key = keys.watch_notice_key(stamp, notice, channel)
        return bool(self.redis.set(key, "1", nx=True, px=max(1, int(ttl * 1000))))

    def keep_notice(self, stamp: str, notice: str, channel: str, ttl: float) -> None:
        """The notice went out: its mark (taken by :meth:`notice_due`) now lasts ``ttl`` seconds."""
        self.redis.set(keys.watch_notice_key(stamp, notice, channel), "1", xx=True, px=max(1, int(ttl * 1000)))

    def notice_told(self, stamp: str, notice: str, channel: str) -> bool:
        return bool(self.redis.exists(keys.watch_notice_key(stamp, notice, channel)))

    def forget_notice(self, stamp: str, notice: str, channels: list[str]) -> None:
        """The notice may be posted again (its post failed, or what it said stopped being true)."""
        if channels:
            self.redis.delete(*(keys.watch_notice_key(stamp, notice, c) for c in channels))
