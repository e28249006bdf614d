"""The report upload's comment keeps what an auditor checks (each file's SHA-256, the schedule's tag) within the
size Slack takes, however many stamps and failures the month had."""

from __future__ import annotations

import uuid

from bot.model.report import Failure, ReportFile, StampCompliance
from bot.words import report
from bot.words.mrkdwn import MAX_TEXT

FILES = [ReportFile("azs-backup-report-2026-11.csv", b"csv", "CSV"), ReportFile("chart.png", b"png", "chart")]


def month_with_failures(stamp: str, failures: int) -> StampCompliance:
    return StampCompliance(
        stamp,
        12.0,
        False,
        60,
        60 - failures,
        0,
        succeeded=60 - failures,
        failed=failures,
        failures=tuple(Failure(str(uuid.uuid4()), 1.79e9 + i * 43_200, "Failed", 43_200.0) for i in range(failures)),
    )


def test_many_stamps_keep_the_hashes_and_the_tag_within_slacks_size() -> None:
    stamps = [month_with_failures(f"stamp-{n}", 12) for n in range(12)]
    tail = report.scheduled_tail("report:monthly:2026-11")
    comment = report.caption("2026-11", stamps, FILES, None, tail)
    assert len(comment) <= MAX_TEXT
    assert all(f"SHA-256 {f.sha256}" in comment for f in FILES)
    assert comment.endswith("(report:monthly:2026-11)")
    assert "stamp-0" in comment and "more stamp(s)" in comment and "stamp-11" not in comment


def test_a_small_month_is_told_in_full() -> None:
    comment = report.caption("2026-11", [month_with_failures("east", 1)], FILES, "matplotlib is not installed")
    assert "east" in comment and "more stamp" not in comment
    assert "No chart: matplotlib is not installed" in comment
