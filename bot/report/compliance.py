"""RPO compliance of one stamp over one month, computed from the durable history: pure, every time passed in.

How it is counted (docs/reporting.md says the same for an auditor):

- The month is cut into consecutive periods of the configured backup frequency, starting at 00:00 UTC on
  the first; a remainder shorter than one period at the end is not a period. Only periods that have ended
  by ``now`` are expected (a report on the running month does not count what is still to come).
- A period an update window overlaps is *excluded*, and counted as such: the stamp skips scheduled backups
  during an update by design.
- A period is *covered* when a good backup (status ``Succeeded``) was created in it. ``PartialSucceeded``
  is not good: some roles were not backed up.
- Compliance = covered / expected. A stamp with no backup recorded in the month has no figure.
- The largest gap runs between consecutive good backups, from the last good one before the month (or the
  month's start) to the end of the month (or ``now``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Protocol

from bot.model.backup import Outcome
from bot.model.history import HistoryEntry
from bot.model.report import Failure, Gap, SettingChange, StampCompliance, VersionChange, Window
from bot.model.snapshot import ConfigChange
from bot.report.period import Month

DEFAULT_FREQUENCY_HOURS = 12.0
"""The stamp's own default, used when the configured frequency is not known (the report says so)."""
HOUR = 3600.0
SETTINGS = {
    "frequency_hours": "frequency",
    "retention_days": "retention",
    "scheduler_enabled": "scheduler",
    "target": "path",
    "encryption_cert_thumbprint": "thumbprint",
}
"""The configuration the snapshots record (:meth:`bot.model.location.BackupLocation.config_values`) -> the
setting's name in the report."""


class UpdateWindowLike(Protocol):
    """An update window as :class:`bot.state.update_windows.UpdateWindowStore` returns it."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float | None: ...


def stamp_compliance(
    stamp: str,
    entries: Iterable[HistoryEntry],
    changes: Sequence[ConfigChange],
    windows: Iterable[UpdateWindowLike],
    month: Month,
    frequency_hours: float | None,
    now: float,
) -> StampCompliance:
    """One stamp's figures for ``month``. ``entries``: its history from before the month up to ``now`` (the
    good backup before the month opens the first gap; the good one after a failure may come after the month)."""
    dated = sorted((e for e in entries if e.created is not None), key=_created)
    in_month = [e for e in dated if month.start <= _created(e) < month.end]
    clipped = _clipped(windows, month)
    frequency = _frequency(frequency_hours)
    good = [_created(e) for e in dated if e.outcome is Outcome.SUCCEEDED]
    expected, covered, excluded = _periods(month, frequency * HOUR, good, clipped, now)
    succeeded, partial, failed = _counted(in_month)
    return StampCompliance(
        stamp=stamp,
        frequency_hours=frequency,
        frequency_assumed=frequency != frequency_hours,
        periods_expected=expected,
        periods_covered=covered,
        periods_excluded=excluded,
        succeeded=succeeded,
        partial=partial,
        failed=failed,
        other=len(in_month) - succeeded - partial - failed,
        largest_gap=largest_gap(good, month, now) if in_month else None,
        failures=tuple(_failures(in_month, good)),
        setting_changes=tuple(setting_changes(changes, month)),
        version_changes=tuple(version_changes(dated, month)),
        windows=clipped,
    )


_COUNTED = (Outcome.SUCCEEDED, Outcome.PARTIAL, Outcome.FAILED)


def _counted(in_month: Sequence[HistoryEntry]) -> tuple[int, int, int]:
    """Succeeded, partly succeeded and failed backups."""
    succeeded, partial, failed = (sum(1 for e in in_month if e.outcome is o) for o in _COUNTED)
    return succeeded, partial, failed


def _clipped(windows: Iterable[UpdateWindowLike], month: Month) -> tuple[Window, ...]:
    return tuple(w for w in (_clip(w, month) for w in windows) if w is not None)


def _frequency(hours: float | None) -> float:
    return hours if hours and hours > 0 else DEFAULT_FREQUENCY_HOURS


def _created(entry: HistoryEntry) -> float:
    return entry.created if entry.created is not None else entry.first_seen


def _clip(window: UpdateWindowLike, month: Month) -> Window | None:
    """The part of ``window`` inside the month; ``None`` when it lies outside."""
    if window.start >= month.end or (window.end is not None and window.end <= month.start):
        return None
    end = None if window.end is None else min(window.end, month.end)
    return Window(max(window.start, month.start), end)


def _periods(
    month: Month, length: float, good: Sequence[float], windows: Sequence[Window], now: float
) -> tuple[int, int, int]:
    """(expected, covered, excluded) over the month's whole periods that ended by ``now``."""
    expected = covered = excluded = 0
    start = month.start
    while start + length <= min(month.end, now):
        end = start + length
        if any(w.start < end and (w.end is None or w.end > start) for w in windows):
            excluded += 1
        else:
            expected += 1
            covered += any(start <= t < end for t in good)
        start = end
    return expected, covered, excluded


def largest_gap(good: Sequence[float], month: Month, now: float) -> Gap | None:
    """The longest stretch without a good backup, within the month (or up to ``now``)."""
    end = min(month.end, now)
    before = [t for t in good if t < month.start]
    points = [(before[-1], True) if before else (month.start, False)]
    points += [(t, True) for t in good if month.start <= t < end]
    points.append((end, False))
    best: Gap | None = None
    for (start, start_backup), (stop, stop_backup) in pairwise(points):
        if best is None or stop - start > best.seconds:
            best = Gap(start, stop, start_backup, stop_backup)
    return best


def _failures(in_month: Sequence[HistoryEntry], good: Sequence[float]) -> Iterable[Failure]:
    for entry in in_month:
        if entry.outcome in (Outcome.FAILED, Outcome.PARTIAL):
            created = _created(entry)
            later = [t for t in good if t > created]
            yield Failure(entry.backup_id, created, entry.status, later[0] - created if later else None)


def setting_changes(changes: Sequence[ConfigChange], month: Month) -> Iterable[SettingChange]:
    """Each recorded backup setting that changed in the month, with its value before (the first record of a
    stamp is what the bot first saw, not a change)."""
    for index, change in enumerate(changes):
        if not month.start <= change.at < month.end:
            continue
        before = changes[index - 1].values if index > 0 else None
        if before is None and set(change.changed) >= set(SETTINGS):
            continue
        for name in change.changed:
            if name in SETTINGS:
                old = before.get(name) if before is not None else None
                yield SettingChange(change.at, SETTINGS[name], old, change.values.get(name))


def version_changes(dated: Sequence[HistoryEntry], month: Month) -> Iterable[VersionChange]:
    """Where the stamp version of consecutive backups (oldest first) changes within the month."""
    previous: str | None = None
    for entry in dated:
        version = entry.stamp_version
        if not version:
            continue
        if previous is not None and version != previous and month.start <= _created(entry) < month.end:
            yield VersionChange(_created(entry), previous, version)
        previous = version
