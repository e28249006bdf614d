"""The report's chart (PNG): per stamp, the backups of each day by outcome, and the age of the newest good
backup against the expected frequency, update windows shaded.

matplotlib is an optional extra (``pip install azs-backup-bot[report]``; the image installs it): without it
:func:`chart_png` raises :class:`ChartUnavailable` and the report goes out without a chart, saying so.
Drawn headless (the Agg backend), with no font or file outside the package, deterministic for equal input.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.model.backup import Outcome
from bot.model.history import HistoryEntry
from bot.model.report import StampCompliance
from bot.report.period import Month

DAY, HOUR = 86_400.0, 3600.0
COLOURS = {Outcome.SUCCEEDED: "#2e7d32", Outcome.PARTIAL: "#f9a825", Outcome.FAILED: "#c62828"}
LABELS = {Outcome.SUCCEEDED: "succeeded", Outcome.PARTIAL: "partly succeeded", Outcome.FAILED: "failed"}


class ChartUnavailable(Exception):
    """No chart can be drawn here (matplotlib is not installed): the message says why."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartUnavailable("matplotlib is not installed (the `report` extra)") from exc
    return plt


def daily_counts(entries: Sequence[HistoryEntry], month: Month) -> dict[Outcome, list[int]]:
    """Per outcome, the backups created on each day of the month (day 1 first)."""
    counts = {outcome: [0] * month.days for outcome in COLOURS}
    for entry in entries:
        if entry.created is not None and month.start <= entry.created < month.end and entry.outcome in counts:
            counts[entry.outcome][int((entry.created - month.start) // DAY)] += 1
    return counts


def age_series(entries: Sequence[HistoryEntry], month: Month, now: float) -> tuple[list[float], list[float | None]]:
    """Hourly through the month (up to ``now``): days since the month's start, and the age in hours of the newest
    good backup then (``None`` before any good backup is known)."""
    good = sorted(e.created for e in entries if e.created is not None and e.outcome is Outcome.SUCCEEDED)
    xs: list[float] = []
    ages: list[float | None] = []
    moment, index, newest = month.start, 0, None
    while moment <= min(month.end, now):
        while index < len(good) and good[index] <= moment:
            newest, index = good[index], index + 1
        xs.append((moment - month.start) / DAY)
        ages.append(None if newest is None else (moment - newest) / HOUR)
        moment += HOUR
    return xs, ages


def chart_png(month: Month, stamps: Sequence[tuple[StampCompliance, Sequence[HistoryEntry]]], now: float) -> bytes:
    """The PNG: two panels per stamp. :class:`ChartUnavailable` without matplotlib."""
    plt = _pyplot()
    rows = max(1, len(stamps))
    figure, axes = plt.subplots(rows * 2, 1, figsize=(11, 6.0 * rows), squeeze=False, dpi=100)
    try:
        for number, (compliance, entries) in enumerate(stamps):
            _draw_stamp(axes[number * 2][0], axes[number * 2 + 1][0], month, compliance, entries, now)
        figure.suptitle(f"Infrastructure backups, {month} (UTC)")
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png", metadata={"Software": None})
        return out.getvalue()
    finally:
        plt.close(figure)


def _draw_stamp(
    counts_ax: Any, age_ax: Any, month: Month, c: StampCompliance, entries: Sequence[HistoryEntry], now: float
) -> None:
    days = list(range(1, month.days + 1))
    bottom = [0] * month.days
    for outcome, values in daily_counts(entries, month).items():
        counts_ax.bar(days, values, bottom=bottom, color=COLOURS[outcome], label=LABELS[outcome], width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    counts_ax.set_title(f"{c.stamp}: backups per day")
    counts_ax.set_xlim(0.5, month.days + 0.5)
    counts_ax.set_ylabel("backups")
    counts_ax.legend(loc="upper right", fontsize="small")
    xs, ages = age_series(entries, month, now)
    age_ax.plot(xs, [float("nan") if a is None else a for a in ages], color="#1565c0", label="age of newest good")
    age_ax.axhline(c.frequency_hours, color="#616161", linestyle="--", label=f"frequency ({c.frequency_hours:g} h)")
    for window in c.windows:
        end = window.end if window.end is not None else min(month.end, now)
        age_ax.axvspan((window.start - month.start) / DAY, (end - month.start) / DAY, color="#9e9e9e", alpha=0.3)
    age_ax.set_xlim(0, month.days)
    age_ax.set_xlabel(f"days since {datetime.fromtimestamp(month.start, UTC):%Y-%m-%d} 00:00 UTC (grey: update)")
    age_ax.set_ylabel("hours")
    age_ax.legend(loc="upper right", fontsize="small")
