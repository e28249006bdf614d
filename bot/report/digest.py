"""The digest's figures per stamp, from what the bot already keeps: the snapshot, the history, the capacity samples.

Pure: every input is passed in (the worker's :mod:`bot.worker.schedules` reads them from Redis), so each figure is
tested against a hand calculation. The rules:

* **Age of the newest good backup** (``Succeeded``, from the history and the snapshot's list) against the expected
  frequency: green within it, amber within twice it, red beyond (or no good backup). The frequency is the
  scheduler's when it is on, else ``AZS_MAX_BACKUP_AGE_HOURS`` stands for twice it. While an update pauses backups
  (the stamp skips them by design) the colour is at most amber.
* **Counts** of the backups created since the last digest, by outcome.
* **Days until full**: a least-squares line through the ``availableCapacity`` samples of the last
  :data:`FIT_DAYS` days (free bytes against time); the newest free space divided by the fitted daily fall. Said
  only when it is honest: at least :data:`MIN_SAMPLES` samples spanning at least :data:`MIN_SPAN_HOURS` hours,
  and a falling line. With fewer samples or a shorter span one backup's worth of data moves the line more than
  the trend does; a flat or rising line has no day on which the share is full.
* **Slow backups**: created since the last digest and taking more than :data:`SLOW_FACTOR` times the median of the
  :data:`USUAL_OF` finished backups before it (at least :data:`MIN_USUAL` of them, else nothing is "usual" yet).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.model.backup import Backup, Outcome
from bot.model.digest import Colour, Counts, Fit, Forecast, SlowBackup, StampDigest
from bot.model.history import HistoryEntry
from bot.model.location import BackupLocation
from bot.model.recovery import readiness
from bot.model.snapshot import CapacitySample, SnapshotView
from bot.model.update import UpdateLocation, UpdateStates

DAY = 86_400.0
FIT_DAYS = 30
MIN_SAMPLES = 3
MIN_SPAN_HOURS = 24.0
SLOW_FACTOR = 2.0
USUAL_OF = 20
MIN_USUAL = 3


@dataclass(frozen=True)
class DigestInputs:
    """What one stamp's digest is computed from."""

    stamp: str
    view: SnapshotView | None
    history: Sequence[HistoryEntry]
    """The stamp's history entries, any order, reaching back far enough for the usual durations."""
    capacity: Sequence[CapacitySample]


def forecast(samples: Sequence[CapacitySample], now: float) -> Forecast:
    """Free capacity and the days until full (see the module's rules)."""
    usable = sorted(
        (
            (s.at, float(s.available_bytes))
            for s in samples
            if s.available_bytes is not None and s.at >= now - FIT_DAYS * DAY
        ),
        key=lambda pair: pair[0],
    )
    newest_text = max(samples, key=lambda s: s.at).text if samples else None
    if not usable:
        return Forecast(Fit.NO_SAMPLES, newest_text)
    span_hours = (usable[-1][0] - usable[0][0]) / 3600
    base = Forecast(Fit.FITTED, newest_text, samples=len(usable), span_hours=span_hours)
    if len(usable) < MIN_SAMPLES:
        return _with(base, Fit.FEW_SAMPLES)
    if span_hours < MIN_SPAN_HOURS:
        return _with(base, Fit.SHORT_SPAN)
    slope = least_squares_slope(usable) * DAY
    if slope >= 0:
        return _with(base, Fit.NOT_FALLING, slope)
    return _with(base, Fit.FITTED, slope, usable[-1][1] / -slope)


def _with(base: Forecast, fit: Fit, rate: float | None = None, days: float | None = None) -> Forecast:
    return Forecast(fit, base.available_text, days, rate, base.samples, base.span_hours)


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float:
    """The slope of the least-squares line through ``(x, y)`` points (y per unit of x); 0 when x does not vary."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def counts_since(entries: Sequence[HistoryEntry], since: float, now: float) -> Counts:
    made = [e for e in entries if e.created is not None and since <= e.created <= now]
    by = [e.outcome for e in made]
    return Counts(
        succeeded=by.count(Outcome.SUCCEEDED),
        partial=by.count(Outcome.PARTIAL),
        failed=by.count(Outcome.FAILED),
        skipped=by.count(Outcome.SKIPPED),
    )


def slow_backups(entries: Sequence[HistoryEntry], since: float) -> tuple[SlowBackup, ...]:
    """Backups created since ``since`` that took more than :data:`SLOW_FACTOR` times the usual (module rules)."""
    timed = sorted(filter(_timed, entries), key=lambda e: e.created or 0.0)
    found = [_slow(entry, timed[max(0, i - USUAL_OF) : i]) for i, entry in enumerate(timed)]
    return tuple(s for s in found if s is not None and (s.created or 0.0) >= since)


def _timed(entry: HistoryEntry) -> bool:
    """Finished, with a creation time and a duration."""
    return entry.created is not None and bool(entry.duration_seconds) and entry.outcome is not Outcome.RUNNING


def _slow(entry: HistoryEntry, before: Sequence[HistoryEntry]) -> SlowBackup | None:
    if len(before) < MIN_USUAL:
        return None
    usual = statistics.median(e.duration_seconds or 0.0 for e in before)
    seconds = entry.duration_seconds or 0.0
    return SlowBackup(entry.backup_id, entry.created, seconds, usual) if seconds > SLOW_FACTOR * usual else None


def age_colour(age_hours: float | None, expected_hours: float, paused: bool) -> Colour:
    if age_hours is None or age_hours > 2 * expected_hours:
        colour = Colour.RED
    else:
        colour = Colour.GREEN if age_hours <= expected_hours else Colour.AMBER
    return min(colour, Colour.AMBER) if paused else colour


def _newest_good(entries: Sequence[HistoryEntry], backups: Sequence[Backup]) -> tuple[str | None, float | None]:
    good = [(e.created, e.backup_id) for e in entries if e.outcome is Outcome.SUCCEEDED and e.created is not None]
    good += [(b.created.timestamp(), b.backup_id) for b in backups if b.outcome is Outcome.SUCCEEDED and b.created]
    if not good:
        return None, None
    at, backup_id = max(good)
    return backup_id, at


@dataclass(frozen=True)
class _Known:
    """What the snapshot says, each ``None`` when it was never read."""

    location: BackupLocation | None
    update: UpdateLocation | None
    backups: tuple[Backup, ...]

    @classmethod
    def of(cls, view: SnapshotView | None) -> _Known:
        snapshot = view.snapshot if view is not None else None
        if snapshot is None:
            return cls(None, None, ())
        return cls(snapshot.location, snapshot.update, snapshot.backups)

    def expected_hours(self, max_age_hours: float) -> tuple[float, bool]:
        """The frequency the age is measured against, and whether it is the scheduler's."""
        location = self.location
        if location is not None and location.scheduler_enabled and location.frequency_hours:
            return float(location.frequency_hours), True
        return max_age_hours / 2, False


def _view_facts(view: SnapshotView | None) -> tuple[float | None, bool, str | None]:
    """(age, stale, last error) of the snapshot; never read is stale."""
    if view is None:
        return None, True, None
    return view.age, view.stale, view.snapshot.error


def _readiness_facts(known: _Known, now: float, read: bool) -> tuple[bool | None, str | None, tuple[str, ...]]:
    if not read:
        return None, None, ()
    ready = readiness(known.location, known.backups, known.update, datetime.fromtimestamp(now, UTC))
    return ready.ready, ready.backup.backup_id if ready.backup else None, tuple(g.value for g in ready.gaps)


def stamp_digest(
    inputs: DigestInputs, *, since: float, now: float, states: UpdateStates, max_age_hours: float
) -> StampDigest:
    """One stamp's figures: ``since`` is when the channel's last digest went out (the counts start there)."""
    known = _Known.of(inputs.view)
    location, update = known.location, known.update
    expected, scheduled = known.expected_hours(max_age_hours)
    paused = update is not None and states.classify(update.state).pauses_backups
    good_id, good_at = _newest_good(inputs.history, known.backups)
    age, stale, error = _view_facts(inputs.view)
    ready, ready_id, gaps = _readiness_facts(known, now, inputs.view is not None)
    return StampDigest(
        stamp=inputs.stamp,
        snapshot_age=age,
        stale=stale,
        error=error,
        newest_good_id=good_id,
        newest_good_at=good_at,
        age_colour=age_colour(None if good_at is None else (now - good_at) / 3600, expected, paused),
        expected_hours=expected,
        expected_from_scheduler=scheduled,
        counts=counts_since(inputs.history, since, now),
        scheduler_enabled=location.scheduler_enabled if location else None,
        frequency_hours=location.frequency_hours if location else None,
        next_backup=location.next_backup if location else None,
        recovery_ready=ready,
        recovery_backup_id=ready_id,
        recovery_gaps=gaps,
        update_paused=paused,
        update_state=update.state if update else None,
        stamp_version=update.current_version if update else None,
        forecast=forecast(inputs.capacity, now),
        slow=slow_backups(inputs.history, since),
    )
