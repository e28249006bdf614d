"""What a monthly backup report found, as pure data: one stamp's RPO compliance, its failures and what changed.

Computed by :mod:`bot.report.compliance`, worded by :mod:`bot.words.report`, written into files by
:mod:`bot.report`. Here (floor 1) so the words (floor 2) and the Slack upload (floor 5) can name these
types without importing the report's code. Times are epoch seconds (UTC).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReportFile:
    """One file of a report, as uploaded: its name, its bytes and the title Slack shows."""

    name: str
    content: bytes
    title: str

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of ``content``: printed in the message, so a kept copy can be checked later."""
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Failure:
    """A backup that failed (or only partly succeeded), and how long until the next good one."""

    backup_id: str
    created: float
    status: str
    recovered_after: float | None
    """Seconds from this backup's creation to the next good backup's; ``None`` if none came (yet)."""


@dataclass(frozen=True)
class Gap:
    """The longest time without a good backup: from ``start`` (a good backup, or the period's start) to ``end``."""

    start: float
    end: float
    start_is_backup: bool
    end_is_backup: bool

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SettingChange:
    """One backup setting seen changing: ``before`` is ``None`` when the bot had not seen it before."""

    at: float
    setting: str
    """``frequency``, ``retention``, ``scheduler``, ``path`` or ``thumbprint``."""
    before: str | None
    after: str | None


@dataclass(frozen=True)
class VersionChange:
    """The stamp's version changed: the first backup on ``after`` was made at ``at``."""

    at: float
    before: str
    after: str


@dataclass(frozen=True)
class Window:
    """An update window within the month (clipped to it); ``end`` is ``None`` while it still runs."""

    start: float
    end: float | None


@dataclass(frozen=True)
class StampCompliance:
    """One stamp over one month."""

    stamp: str
    frequency_hours: float
    frequency_assumed: bool
    """True when the configured frequency was not known and the stamp's default (12 h) was used."""
    periods_expected: int
    """Periods of ``frequency_hours`` in the month, up to now, less those an update window touched."""
    periods_covered: int
    """Expected periods with at least one good (``Succeeded``) backup created in them."""
    periods_excluded: int
    """Periods left out because an update window overlapped them (the stamp skips backups by design)."""
    succeeded: int = 0
    partial: int = 0
    failed: int = 0
    other: int = 0
    """Running, skipped or unknown statuses: neither good nor failed."""
    largest_gap: Gap | None = None
    failures: tuple[Failure, ...] = ()
    setting_changes: tuple[SettingChange, ...] = ()
    version_changes: tuple[VersionChange, ...] = ()
    windows: tuple[Window, ...] = field(default_factory=tuple)

    @property
    def backups(self) -> int:
        return self.succeeded + self.partial + self.failed + self.other

    @property
    def has_data(self) -> bool:
        """False when the bot recorded no backup of this stamp in the month: no figure is honest then."""
        return self.backups > 0

    @property
    def ratio(self) -> float | None:
        """Covered / expected; ``None`` with no data or nothing expected (never a 100 % made of nothing)."""
        if not self.has_data or self.periods_expected == 0:
            return None
        return self.periods_covered / self.periods_expected
