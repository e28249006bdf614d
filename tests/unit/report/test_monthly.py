"""A month of simulated history through the real stores gives the CSV, a chart and the figures of a hand
calculation (tests/unit/report/month_of_history.py describes the month)."""

from __future__ import annotations

import csv
import hashlib
import io
import struct
import sys

import pytest
import redis
from PIL import Image

from bot.model.report import Failure, Gap, SettingChange, VersionChange, Window
from bot.report.monthly import build_monthly_report
from bot.report.period import Month
from tests.unit.report.month_of_history import (
    FORMULA_ROLE,
    HOUR,
    NEW,
    NEW_PATH,
    NOW,
    OLD,
    STAMP,
    WINDOW,
    feed,
    ts,
    windows,
)

MARCH = Month(2026, 3)


def test_the_month_gives_the_hand_calculated_compliance(store_redis: redis.Redis) -> None:
    history, snapshots = feed(store_redis)
    report = build_monthly_report(history, snapshots, windows(store_redis), [STAMP], MARCH, {STAMP: 12}, NOW)
    [c] = report.stamps
    # 31 days x 2 periods of 12 h = 62; the update (20th 10:00 to 21st 20:00) touches 4 of them: 58 expected.
    # Not covered: 5th 12-24 h (failed), 10th 0-12 h (partial), 12th both (failed): 54 covered.
    assert (c.periods_expected, c.periods_covered, c.periods_excluded) == (58, 54, 4)
    assert c.ratio == pytest.approx(54 / 58)
    # 62 scheduled less 3 skipped during the update, plus 1 on demand; 3 failed, 1 partial.
    assert (c.backups, c.succeeded, c.partial, c.failed, c.other) == (60, 56, 1, 3, 0)
    # Longest without a good backup: the 20th 02:00 (before the update) to the 22nd 02:00 (after it).
    assert c.largest_gap == Gap(ts(20, 2), ts(22, 2), True, True)
    assert c.largest_gap.seconds == 48 * HOUR
    assert [(f.created, f.status, f.recovered_after) for f in c.failures] == [
        (ts(5, 14), "Failed", 12 * HOUR),
        (ts(10, 2), "PartialSucceeded", 12 * HOUR),
        (ts(12, 2), "Failed", 24 * HOUR),
        (ts(12, 14), "Failed", 12 * HOUR),
    ]
    assert all(isinstance(f, Failure) for f in c.failures)
    path_before = snapshots.config_changes(STAMP)[0].values["target"]
    assert c.setting_changes == (
        SettingChange(ts(15, 9), "retention", "7", "14"),
        SettingChange(ts(16, 9), "path", path_before, NEW_PATH),
    )
    assert c.version_changes == (VersionChange(ts(22, 2), OLD, NEW),)
    assert c.windows == (Window(*WINDOW),)


def test_the_summary_says_it_and_escapes_what_the_stamp_wrote(store_redis: redis.Redis) -> None:
    history, snapshots = feed(store_redis)
    report = build_monthly_report(history, snapshots, windows(store_redis), [STAMP], MARCH, {STAMP: 12}, NOW)
    blocks = " ".join(str(b) for b in report.summary.blocks)
    assert "March 2026" in report.summary.text
    assert (
        "RPO compliance *93.1 %*: 54 of 58 periods of 12 h had a good backup; 4 left out for update windows" in blocks
    )
    assert "Largest gap without a good backup: 2d (2026-03-20 02:00:00 UTC to 2026-03-22 02:00:00 UTC)" in blocks
    assert "Failed at 2026-03-12 02:00:00 UTC: next good backup 1d later" in blocks
    assert "retention 7 → 14 at 2026-03-15 09:00:00 UTC" in blocks
    assert f"Version: {OLD} → {NEW} at 2026-03-22 02:00:00 UTC" in blocks
    assert "<!here>" not in blocks and "&lt;!here&gt;" in blocks
    for file in report.files:
        assert hashlib.sha256(file.content).hexdigest() == file.sha256
        assert file.sha256 in blocks and file.sha256 in report.caption()


def test_the_csv_has_every_backup_of_the_month_and_no_formula(store_redis: redis.Redis) -> None:
    history, snapshots = feed(store_redis)
    report = build_monthly_report(history, snapshots, windows(store_redis), [STAMP], MARCH, {STAMP: 12}, NOW)
    csv_file = report.files[0]
    assert csv_file.name == f"azs-backup-report-2026-03-{STAMP}.csv"
    assert csv_file.content.startswith(b"\xef\xbb\xbf")  # the BOM: spreadsheets read UTF-8
    rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "stamp",
        "id",
        "kind",
        "created (UTC)",
        "duration (s)",
        "status",
        "failed roles",
        "stamp version",
        "cloud-recovery ready",
    ]
    assert len(rows) == 1 + 60  # February's and April's backups are not in March's file
    assert rows[1] == [STAMP, "00000000-0000-4000-8000-000000000101", "scheduled", "2026-03-01T02:00:00Z", "1800",
                       "Succeeded", "", OLD, "yes"]  # fmt: skip
    failed = next(r for r in rows if r[3] == "2026-03-05T14:00:00Z")
    assert failed[5:9] == ["Failed", f"'{FORMULA_ROLE}; KeyVault", OLD, "no"]
    assert [r[2] for r in rows if r[3] == "2026-03-25T09:30:00Z"] == ["on demand"]
    assert rows[-1][3] == "2026-03-31T14:00:00Z" and rows[-1][7] == NEW


def test_the_chart_is_a_png_that_decodes(store_redis: redis.Redis) -> None:
    history, snapshots = feed(store_redis)
    report = build_monthly_report(history, snapshots, windows(store_redis), [STAMP], MARCH, {STAMP: 12}, NOW)
    png = report.files[1]
    assert png.name.endswith(".png") and report.chart_missing is None
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png.content[16:24])
    assert (width, height) == (1100, 600)
    image = Image.open(io.BytesIO(png.content))
    image.load()
    assert image.size == (1100, 600)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10  # drawn, not blank


def test_without_matplotlib_the_report_goes_out_and_says_so(
    store_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    history, snapshots = feed(store_redis)
    report = build_monthly_report(history, snapshots, windows(store_redis), [STAMP], MARCH, {STAMP: 12}, NOW)
    assert [f.name[-4:] for f in report.files] == [".csv"]
    assert report.chart_missing and "matplotlib" in report.chart_missing
    assert "No chart: matplotlib is not installed" in report.summary.text


def test_a_month_without_data_says_so_instead_of_100_percent(store_redis: redis.Redis) -> None:
    history, snapshots = feed(store_redis)
    report = build_monthly_report(history, snapshots, windows(store_redis), [STAMP, "west"], Month(2026, 1), {}, NOW)
    assert all(c.ratio is None and not c.has_data for c in report.stamps)
    assert "no backup recorded this month: no compliance figure" in report.summary.text
    assert "100" not in report.summary.text.replace(report.files[0].sha256, "")
    assert report.files[0].name == "azs-backup-report-2026-01.csv"


def test_the_running_month_expects_only_periods_that_ended(store_redis: redis.Redis) -> None:
    history, snapshots = feed(store_redis)
    report = build_monthly_report(history, snapshots, None, [STAMP], MARCH, {STAMP: 12}, ts(3, 13))
    [c] = report.stamps
    # 1st 00-12, 1st 12-24, 2nd 00-12, 2nd 12-24, 3rd 00-12 ended by the 3rd 13:00; all covered.
    assert (c.periods_expected, c.periods_covered, c.frequency_assumed) == (5, 5, False)
    # Every gap is 12 h; the first is from February's last good backup, the first of equals is the one shown.
    assert c.largest_gap == Gap(ts(28, 14, month=2), ts(1, 2), True, True)
