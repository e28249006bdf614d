"""The CSV's cells: nothing a stamp wrote can become a spreadsheet formula."""

from __future__ import annotations

import pytest

from bot.report.csv_file import safe_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Succeeded", "Succeeded"),
        ("1.2108.0.32", "1.2108.0.32"),
        (None, ""),
        ("a=b", "a=b"),
    ],
)
def test_formula_starts_are_neutralised(value: str | None, cell: str) -> None:
    assert safe_cell(value) == cell
