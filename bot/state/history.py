"""The durable backup history: every backup the bot saw on a stamp, kept ``AZS_HISTORY_DAYS`` after it was made.

Why: a stamp keeps its backups 14 days at most, so whatever the bot does not record itself is gone after
that, and no report can rebuild it. Per stamp, two keys (:mod:`bot.state.keys`): a sorted set of backup ids
scored by creation time (newest-first reads and pruning by score are range operations) and a hash of one
compact JSON entry per backup (:class:`bot.model.history.HistoryEntry`). Recording is an idempotent upsert:
the same backup seen again changes nothing, and a more complete observation (``Running`` then
``Succeeded``) updates its entry. Times are passed in, so tests and the caller own the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis
from redis.client import Pipeline

from bot.model.backup import Backup, is_backup_id
from bot.model.history import HistoryEntry
from bot.state import keys, scripts

DAY = 86_400.0


@dataclass(frozen=True)
class HistoryPage:
    """One page of a stamp's history, newest first."""

    entries: tuple[HistoryEntry, ...]
    total: int
    """Entries within the days asked for, on every page."""
    offset: int
    next_offset: int | None
    """Where the next page starts; ``None`` on the last page."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class HistoryStore:
    """Record and read the backup history of each stamp."""

    def __init__(self, client: redis.Redis, *, keep_days: float) -> None:
        self.redis = client
        self.keep_seconds = keep_days * DAY
        self._newest_with_status = client.register_script(scripts.NEWEST_WITH_STATUS)

    def record(self, stamp: str, backups: Iterable[Backup], now: float) -> int:
        """Upsert every backup (``now``: when they were read); prune what is past the retention. Returns how
        many entries were added or changed. Backups whose id is not a GUID are not recorded."""
        cutoff = now - self.keep_seconds
        seen: dict[str, HistoryEntry] = {}
        for backup in backups:
            if is_backup_id(backup.backup_id):
                entry = HistoryEntry.from_backup(backup, now)
                if entry.created is None or entry.created >= cutoff:
                    seen[entry.backup_id] = entry
        index, entries = keys.backup_history_index_key(stamp), keys.backup_history_entries_key(stamp)
        changed: dict[str, HistoryEntry] = {}

        def upsert(pipe: Pipeline) -> None:
            """Runs again if another client wrote either key meanwhile (``WATCH``), so ``changed`` is reset."""
            changed.clear()
            ids = list(seen)
            stored = pipe.hmget(entries, ids) if ids else []
            for backup_id, raw in zip(ids, stored, strict=True):
                old = HistoryEntry.from_json(backup_id, _text(raw)) if raw is not None else None
                merged = old.merged_with(seen[backup_id]) if old else seen[backup_id]
                if merged != old:
                    changed[backup_id] = merged
            expired = [_text(m) for m in pipe.zrangebyscore(index, "-inf", f"({cutoff}")]
            pipe.multi()
            if changed:
                pipe.hset(entries, mapping={k: v.to_json() for k, v in changed.items()})
                pipe.zadd(index, {k: _score(v) for k, v in changed.items()})
            if expired:
                pipe.hdel(entries, *expired)
                pipe.zrem(index, *expired)
            if changed or expired:
                # The keys outlive the newest entry by the retention, so a stamp taken out of the configuration
                # leaves nothing behind once its last backup would have been pruned anyway.
                pipe.expire(index, int(self.keep_seconds) + 1)
                pipe.expire(entries, int(self.keep_seconds) + 1)

        self.redis.transaction(upsert, index, entries)
        return len(changed)

    def page(self, stamp: str, *, days: float, now: float, offset: int = 0, limit: int = 20) -> HistoryPage:
        """Backups created in the last ``days`` (before ``now``), newest first, ``limit`` from ``offset``."""
        if days <= 0 or offset < 0 or limit < 1:
            raise ValueError("days must be positive, offset at least 0 and limit at least 1")
        index, entries = keys.backup_history_index_key(stamp), keys.backup_history_entries_key(stamp)
        since = now - days * DAY
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebyscore(index, "+inf", since, start=offset, num=limit)
            pipe.zcount(index, since, "+inf")
            ids, total = pipe.execute()
        ids = [_text(i) for i in ids]
        raws = self.redis.hmget(entries, ids) if ids else []
        found = tuple(
            HistoryEntry.from_json(i, _text(raw)) for i, raw in zip(ids, raws, strict=True) if raw is not None
        )
        after = offset + len(ids)
        return HistoryPage(found, int(total), offset, after if after < int(total) else None)

    def get(self, stamp: str, backup_id: str) -> HistoryEntry | None:
        """One backup's entry, whether or not the stamp still lists it."""
        raw = self.redis.hget(keys.backup_history_entries_key(stamp), backup_id.lower())
        return HistoryEntry.from_json(backup_id.lower(), _text(raw)) if raw is not None else None

    def newest_succeeded(self, stamp: str) -> HistoryEntry | None:
        """The newest ``Succeeded`` backup the history holds for ``stamp`` (one round trip), else ``None``."""
        found = self._newest_with_status(
            keys=[keys.backup_history_index_key(stamp), keys.backup_history_entries_key(stamp)], args=["succeeded"]
        )
        if not found:
            return None
        backup_id, raw = (_text(part) for part in found)
        return HistoryEntry.from_json(backup_id, raw)


def _score(entry: HistoryEntry) -> float:
    """Creation time; until the stamp reports one, when the bot first saw the backup."""
    return entry.created if entry.created is not None else entry.first_seen
