"""The monthly report, built: read each stamp's history, configuration changes and update windows, compute its
compliance, and write the CSV, the chart and the summary. The one entry point for the command and the scheduler.

Reads Redis only (never a stamp), so it runs anywhere and answers the same after the stamp pruned its backups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.model.history import HistoryEntry
from bot.model.report import ReportFile, StampCompliance
from bot.report.chart import ChartUnavailable, chart_png
from bot.report.compliance import UpdateWindowLike, stamp_compliance
from bot.report.csv_file import csv_bytes
from bot.report.period import Month
from bot.state.history import DAY, HistoryStore
from bot.state.snapshots import SnapshotStore
from bot.words import report as words
from bot.words.mrkdwn import Message

__all__ = ["Month", "MonthlyReport", "ReportFile", "WindowSource", "build_monthly_report", "frequencies"]

LOOKBACK_DAYS = 31
"""History read before the month: the last good backup before it opens the first gap."""
PAGE = 500


class WindowSource(Protocol):
    """Where update windows come from (:class:`bot.state.update_windows.UpdateWindowStore`)."""

    def windows(self, stamp: str, since: float, until: float) -> Sequence[UpdateWindowLike]: ...


@dataclass(frozen=True)
class MonthlyReport:
    """A built report: the files to upload (CSV, then the chart when one could be drawn) and the summary."""

    month: Month
    files: list[ReportFile]
    summary: Message
    stamps: list[StampCompliance] = field(default_factory=list)
    chart_missing: str | None = None
    """Why there is no chart (matplotlib not installed), or ``None``."""

    def caption(self, tail: str = "") -> str:
        """Plain text for the upload's comment: the month, each file's SHA-256, the stamps' figures that fit."""
        return words.caption(str(self.month), self.stamps, self.files, self.chart_missing, tail)


def read_history(history: HistoryStore, stamp: str, since: float, now: float) -> list[HistoryEntry]:
    """Every entry of ``stamp`` created from ``since`` to ``now``, oldest first."""
    if since >= now:
        return []
    days, offset = (now - since) / DAY, 0
    found: list[HistoryEntry] = []
    while True:
        page = history.page(stamp, days=days, now=now, offset=offset, limit=PAGE)
        found.extend(page.entries)
        if page.next_offset is None:
            break
        offset = page.next_offset
    return sorted(found, key=lambda e: e.created if e.created is not None else e.first_seen)


def file_stem(month: Month, stamps: Sequence[str]) -> str:
    """``azs-backup-report-2026-07`` (all stamps) or ``...-2026-07-<stamp>`` (one), safe as a file name."""
    base = f"azs-backup-report-{month}"
    if len(stamps) != 1:
        return base
    return f"{base}-{re.sub(r'[^A-Za-z0-9._-]+', '_', stamps[0])[:60]}"


def build_monthly_report(
    history: HistoryStore,
    snapshots: SnapshotStore,
    windows: WindowSource | None,
    stamps: list[str],
    month: Month,
    frequency_hours_by_stamp: Mapping[str, float | None],
    now: float,
) -> MonthlyReport:
    """The report on ``stamps`` for ``month``, as of ``now`` (epoch seconds)."""
    per_stamp: list[tuple[StampCompliance, list[HistoryEntry]]] = []
    for stamp in stamps:
        entries = read_history(history, stamp, month.start - LOOKBACK_DAYS * DAY, now)
        found = windows.windows(stamp, month.start, month.end) if windows is not None else []
        frequency = frequency_hours_by_stamp.get(stamp)
        compliance = stamp_compliance(stamp, entries, snapshots.config_changes(stamp), found, month, frequency, now)
        per_stamp.append((compliance, entries))
    stem = file_stem(month, stamps)
    rows = [(c.stamp, [e for e in entries if _in(e, month)]) for c, entries in per_stamp]
    files = [ReportFile(f"{stem}.csv", csv_bytes(rows), f"Backups {month} (CSV)")]
    chart_missing = None
    try:
        files.append(ReportFile(f"{stem}.png", chart_png(month, per_stamp, now), f"Backups {month} (chart)"))
    except ChartUnavailable as exc:
        chart_missing = str(exc)
    compliances = [c for c, _ in per_stamp]
    summary = words.summary(str(month), compliances, files, chart_missing)
    return MonthlyReport(month, files, summary, compliances, chart_missing)


def _in(entry: HistoryEntry, month: Month) -> bool:
    return entry.created is not None and month.start <= entry.created < month.end


def frequencies(snapshots: SnapshotStore, stamps: Sequence[str], now: float) -> dict[str, float | None]:
    """Each stamp's configured backup frequency (hours) as its snapshot last read it; ``None`` when not known."""
    found: dict[str, float | None] = {}
    for stamp in stamps:
        view = snapshots.read(stamp, now)
        location = view.snapshot.location if view is not None else None
        found[stamp] = float(location.frequency_hours) if location and location.frequency_hours else None
    return found
