"""The digest's figures for one stamp, as plain data: :mod:`bot.report.digest` computes them, :mod:`bot.words.digest`
words them. Kept on the model floor so the renderers take them without importing the computation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum


class Colour(IntEnum):
    """Ordered: the worst of several is their ``max``."""

    GREEN = 0
    AMBER = 1
    RED = 2


class Fit(StrEnum):
    """Whether "days until full" could be said honestly, and if not, why."""

    FITTED = "fitted"
    NO_SAMPLES = "no_samples"
    """No ``availableCapacity`` sample at all (a blob target reports none)."""
    FEW_SAMPLES = "few_samples"
    SHORT_SPAN = "short_span"
    NOT_FALLING = "not_falling"
    """Free space is steady or growing: it is not filling up."""


@dataclass(frozen=True)
class Forecast:
    """Free capacity and when it runs out at the fitted rate (least squares over the samples)."""

    fit: Fit
    available_text: str | None = None
    """The stamp's own text of the newest sample (``"1.00 TB"``)."""
    days_until_full: float | None = None
    bytes_per_day: float | None = None
    """The fitted change of free space per day (negative: filling)."""
    samples: int = 0
    span_hours: float = 0.0


@dataclass(frozen=True)
class Counts:
    """Backups created in the period, by outcome (running ones are counted when they end)."""

    succeeded: int = 0
    partial: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.partial + self.failed + self.skipped


@dataclass(frozen=True)
class SlowBackup:
    backup_id: str
    created: float | None
    seconds: float
    usual_seconds: float
    """The median of the backups before it."""


@dataclass(frozen=True)
class StampDigest:
    """One stamp in the digest. Absent facts are ``None`` (the snapshot never held them)."""

    stamp: str
    snapshot_age: float | None
    stale: bool
    error: str | None
    newest_good_id: str | None
    newest_good_at: float | None
    age_colour: Colour
    expected_hours: float
    """The backup age the colours are measured against: the frequency (green within it, amber within twice)."""
    expected_from_scheduler: bool
    counts: Counts
    scheduler_enabled: bool | None
    frequency_hours: int | None
    next_backup: datetime | None
    recovery_ready: bool | None
    recovery_backup_id: str | None
    recovery_gaps: tuple[str, ...]
    update_paused: bool
    """An update is preparing, running or failed: the stamp skips backups by design."""
    update_state: str | None
    stamp_version: str | None
    forecast: Forecast
    slow: tuple[SlowBackup, ...]

    @property
    def colour(self) -> Colour:
        """The stamp's overall colour: its backup age, raised to amber by anything else worth a look."""
        worry = (
            self.stale
            or self.counts.failed > 0
            or self.counts.partial > 0
            or self.recovery_ready is False
            or bool(self.slow)
        )
        days = self.forecast.days_until_full
        capacity = (
            Colour.GREEN if days is None else Colour.RED if days < 7 else Colour.AMBER if days < 30 else Colour.GREEN
        )
        return max(self.age_colour, Colour.AMBER if worry else Colour.GREEN, capacity)
