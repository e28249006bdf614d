"""The report's CSV: every backup of the month, one row each, for a spreadsheet or an auditor's tooling.

UTF-8 with a byte-order mark, so spreadsheets open it as UTF-8. Every cell a stamp wrote (ids, roles,
versions) could start a formula: a cell beginning with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return, which some spreadsheets skip before reading one) gets a leading ``'`` and is shown as text (OWASP's
advice on CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from bot.model.history import HistoryEntry

HEADER = (
    "stamp",
    "id",
    "kind",
    "created (UTC)",
    "duration (s)",
    "status",
    "failed roles",
    "stamp version",
    "cloud-recovery ready",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell's text that no spreadsheet reads as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def row(stamp: str, entry: HistoryEntry) -> list[str]:
    created = entry.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") if entry.created_at else ""
    duration = "" if entry.duration_seconds is None else f"{entry.duration_seconds:.0f}"
    ready = "" if entry.is_cloud_recovery_ready is None else "yes" if entry.is_cloud_recovery_ready else "no"
    cells = (stamp, entry.backup_id, entry.kind, created, duration, entry.status, "; ".join(entry.failed_roles))
    return [safe_cell(c) for c in (*cells, entry.stamp_version, ready)]


def csv_bytes(rows: Iterable[tuple[str, Sequence[HistoryEntry]]]) -> bytes:
    """The file: the header, then each stamp's backups oldest first (``rows``: stamp and its entries)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for stamp, entries in rows:
        for entry in sorted(entries, key=lambda e: (e.created or e.first_seen, e.backup_id)):
            writer.writerow(row(stamp, entry))
    return out.getvalue().encode("utf-8-sig")
