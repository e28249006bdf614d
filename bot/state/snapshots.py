"""The per-stamp snapshot in Redis: written by one reader of the stamp, read by every command and App Home.

Why: a read command that asks the stamp live takes as long as the stamp (seconds on real ARM) and queues
behind other work on the stamp's lane. The worker's refresher (one per stamp at a time: :meth:`take_turn`)
reads the stamp and :meth:`SnapshotStore.write`s what it got; readers :meth:`SnapshotStore.read` it with its
age and a stale flag. Writing also keeps two small series for the monthly report: ``availableCapacity``
samples (bounded, at most one per ``capacity_spacing``) and the backup configuration each time it changed.
Every time is passed in; key names are in :mod:`bot.state.keys`.
"""

from __future__ import annotations

import json
from typing import cast

import redis

from bot.config.settings import Settings
from bot.model.fields import without_query
from bot.model.location import BackupLocation, parse_capacity
from bot.model.snapshot import CapacitySample, ConfigChange, SnapshotView, StampSnapshot
from bot.state import keys


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SnapshotStore:
    """Snapshots, capacity samples and configuration changes of each stamp."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        stale_after: float,
        capacity_samples: int = Settings.capacity_samples,
        capacity_spacing: float = Settings.capacity_spacing,
        config_changes_kept: int = Settings.config_changes_kept,
    ) -> None:
        """``stale_after``: seconds after which a snapshot is shown as stale (a few refresh intervals)."""
        self.redis = client
        self.stale_after = stale_after
        self.capacity_samples = capacity_samples
        self.capacity_spacing = capacity_spacing
        self.config_changes_kept = config_changes_kept

    def take_turn(self, stamp: str, interval: float) -> bool:
        """True for exactly one caller per ``interval`` seconds per stamp: that caller refreshes the snapshot."""
        return bool(self.redis.set(keys.snapshot_turn_key(stamp), "1", nx=True, px=max(1, int(interval * 1000))))

    def refresh_soon(self, stamp: str) -> None:
        """Give up the current turn, so the next refresher to look reads the stamp now (a followed backup ended)."""
        self.redis.delete(keys.snapshot_turn_key(stamp))

    def write(self, stamp: str, snapshot: StampSnapshot) -> None:
        """Replace the stamp's snapshot; note its capacity and configuration when it holds a location."""
        self.redis.set(keys.snapshot_key(stamp), snapshot.to_json())
        if snapshot.location is not None and snapshot.location_read_at is not None:
            self._note_capacity(stamp, snapshot.location, snapshot.location_read_at)
            self._note_config(stamp, snapshot.location, snapshot.location_read_at)

    def read(self, stamp: str, now: float) -> SnapshotView | None:
        """The last snapshot with its age and whether it is stale; ``None`` before the first write."""
        raw = self.redis.get(keys.snapshot_key(stamp))
        if raw is None:
            return None
        snapshot = StampSnapshot.from_json(_text(raw))
        return SnapshotView(snapshot, snapshot.age(now), snapshot.is_stale(now, self.stale_after))

    def capacity(self, stamp: str, since: float | None = None) -> list[CapacitySample]:
        """The kept ``availableCapacity`` samples, oldest first (from ``since`` when given)."""
        low = "-inf" if since is None else since
        samples = []
        rows = self.redis.zrangebyscore(keys.capacity_key(stamp), low, "+inf", withscores=True)
        for member, score in cast(list[tuple[object, float]], rows):
            text = _text(member).split(" ", 1)[1]
            samples.append(CapacitySample(float(score), text, parse_capacity(text)))
        return samples

    def config_changes(self, stamp: str) -> list[ConfigChange]:
        """The backup configuration each time it changed, oldest first (the first entry: as first seen)."""
        return [_change(_text(raw)) for raw in self.redis.lrange(keys.config_changes_key(stamp), 0, -1)]

    def _note_capacity(self, stamp: str, location: BackupLocation, at: float) -> None:
        text = location.available_capacity
        if not text:
            return  # a blob target reports none
        key = keys.capacity_key(stamp)
        last = self.redis.zrevrange(key, 0, 0, withscores=True)
        if last and at - float(last[0][1]) < self.capacity_spacing:
            return
        with self.redis.pipeline() as pipe:
            pipe.zadd(key, {f"{at:.3f} {text}": at})  # the time in the member: the same text may come back
            pipe.zremrangebyrank(key, 0, -(self.capacity_samples + 1))
            pipe.execute()

    def _note_config(self, stamp: str, location: BackupLocation, at: float) -> ConfigChange | None:
        key = keys.config_changes_key(stamp)
        values = location.config_values()
        last = self.redis.lindex(key, -1)
        before = _change(_text(last)).values if last is not None else None
        if values == before:
            return None
        changed = tuple(sorted(n for n in values if before is None or values[n] != before.get(n)))
        change = ConfigChange(at, values, changed)
        with self.redis.pipeline() as pipe:
            pipe.rpush(key, json.dumps({"at": at, "values": values, "changed": list(changed)}))
            pipe.ltrim(key, -self.config_changes_kept, -1)
            pipe.execute()
        return change


def _change(raw: str) -> ConfigChange:
    data = json.loads(raw)
    values = {str(k): None if v is None else str(v) for k, v in dict(data.get("values") or {}).items()}
    if values.get("target"):  # kept with its SAS query before the model dropped it: never read back with it
        values["target"] = without_query(str(values["target"]))
    return ConfigChange(float(data.get("at") or 0.0), values, tuple(str(c) for c in data.get("changed") or ()))
