"""A calendar month in UTC: the period a report covers, parsed from ``YYYY-MM``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month; :attr:`start` and :attr:`end` are its bounds in epoch seconds (UTC, end exclusive)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1970 <= self.year <= 9998:
            raise ValueError(f"not a month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2026-07"`` -> July 2026; :class:`ValueError` for anything else."""
        match = _MONTH.match(text.strip())
        if not match:
            raise ValueError(f"a month is written YYYY-MM, not {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, moment: float) -> Month:
        day = datetime.fromtimestamp(moment, UTC)
        return cls(day.year, day.month)

    @classmethod
    def last_complete(cls, now: float) -> Month:
        """The month before the one ``now`` is in: the default of ``/azs backup report``."""
        return cls.containing(now).previous()

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    @property
    def first_day(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def start(self) -> float:
        return self.first_day.timestamp()

    @property
    def end(self) -> float:
        return self.next().start

    @property
    def days(self) -> int:
        return round((self.end - self.start) / 86_400)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
