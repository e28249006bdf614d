"""Months in UTC: parsing, bounds, the last complete month."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.report.period import Month


def test_parse_and_bounds() -> None:
    month = Month.parse("2024-02")
    assert (month.year, month.month, str(month), month.days) == (2024, 2, "2024-02", 29)
    assert month.start == datetime(2024, 2, 1, tzinfo=UTC).timestamp()
    assert month.end == datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    assert Month.parse("2025-12").next() == Month(2026, 1) and Month(2026, 1).previous() == Month(2025, 12)


@pytest.mark.parametrize("text", ["2024-13", "2024-00", "24-01", "2024/01", "2024-1", "", "now"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Month.parse(text)


def test_the_last_complete_month() -> None:
    assert Month.last_complete(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC).timestamp()) == Month(2025, 12)
    assert Month.last_complete(datetime(2026, 3, 31, 23, 59, tzinfo=UTC).timestamp()) == Month(2026, 2)
