"""The digest's figures against hand calculations: days until full, not enough data, colours, counts, slow backups;
and the one message they make (escaped, within Slack's limits)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.model.backup import Backup
from bot.model.digest import Colour, Fit
from bot.model.history import HistoryEntry
from bot.model.location import BackupLocation, parse_capacity
from bot.model.snapshot import CapacitySample, SnapshotView, StampSnapshot
from bot.model.update import UpdateLocation, UpdateStates
from bot.report.digest import DigestInputs, age_colour, forecast, least_squares_slope, slow_backups, stamp_digest
from bot.words import digest as words
from bot.words.mrkdwn import MAX_BLOCKS_MESSAGE, SECTION_TEXT_LIMIT

HOUR, DAY = 3600.0, 86_400.0
NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC).timestamp()
GIB = 1024**3
STATES = UpdateStates(("AppliedSuccessfully",), ("UpdateInProgress",), ("UpdateFailed",))
IDS = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(40)]


def sample(hours_ago: float, gib: int) -> CapacitySample:
    text = f"{gib} GB"
    return CapacitySample(NOW - hours_ago * HOUR, text, parse_capacity(text))


def entry(n: int, hours_ago: float, status: str = "Succeeded", minutes: float | None = 25) -> HistoryEntry:
    return HistoryEntry(IDS[n], status, NOW - hours_ago * HOUR, None if minutes is None else minutes * 60)


def location(frequency: int | None = 12, scheduler: bool = True, capacity: str = "930 GB") -> BackupLocation:
    return BackupLocation(
        name="local",
        path=r"\\fs\share",
        blob_url=None,
        user_name=None,
        scheduler_enabled=scheduler,
        frequency_hours=frequency,
        retention_days=7,
        available_capacity=capacity,
        next_backup=datetime(2026, 12, 3, 14, 0, tzinfo=UTC),
        last_backup=None,
        encryption_cert_thumbprint="ABC",
    )


def view(snapshot: StampSnapshot, age: float = 60.0, stale: bool = False) -> SnapshotView:
    return SnapshotView(snapshot, age, stale)


def test_days_until_full_is_the_least_squares_fall_against_a_hand_calculation() -> None:
    """Samples 36 h, 24 h, 12 h and now: 1000, 980, 950, 930 GiB. Hours from the first: 0, 12, 24, 36 (mean 18);
    GiB deviations from the mean 965: 35, 15, -15, -35. Sxy = -18*35 - 6*15 + 6*-15 + 18*-35 = -1440; Sxx = 720;
    slope = -2 GiB/h = -48 GiB/day. Days until full = newest free space / daily fall = 930 / 48 = 19.375."""
    result = forecast([sample(36, 1000), sample(24, 980), sample(12, 950), sample(0, 930)], NOW)
    assert result.fit is Fit.FITTED
    assert result.bytes_per_day is not None and abs(result.bytes_per_day - (-48 * GIB)) < 1
    assert result.days_until_full is not None and abs(result.days_until_full - 19.375) < 1e-9
    assert result.available_text == "930 GB" and result.samples == 4 and result.span_hours == 36


def test_least_squares_slope_of_a_line_is_its_slope() -> None:
    assert least_squares_slope([(0, 5), (1, 3), (2, 1)]) == -2
    assert least_squares_slope([(1, 5), (1, 7)]) == 0


def test_not_enough_data_until_it_is_honest() -> None:
    assert forecast([], NOW).fit is Fit.NO_SAMPLES
    assert forecast([sample(48, 1000), sample(0, 900)], NOW).fit is Fit.FEW_SAMPLES
    assert forecast([sample(20, 1000), sample(10, 950), sample(0, 900)], NOW).fit is Fit.SHORT_SPAN
    steady = forecast([sample(48, 900), sample(24, 910), sample(0, 905)], NOW)
    assert steady.fit is Fit.NOT_FALLING and steady.days_until_full is None
    unreadable = CapacitySample(NOW, "lots", None)
    assert forecast([unreadable], NOW).fit is Fit.NO_SAMPLES
    old = forecast([sample(50 * 24, 1000), sample(40 * 24, 900), sample(0, 800)], NOW)
    assert old.fit is Fit.FEW_SAMPLES  # only the last 30 days count: one sample left


def test_colours_against_once_and_twice_the_frequency() -> None:
    assert age_colour(11.9, 12, paused=False) is Colour.GREEN
    assert age_colour(12.1, 12, paused=False) is Colour.AMBER
    assert age_colour(24.0, 12, paused=False) is Colour.AMBER
    assert age_colour(24.1, 12, paused=False) is Colour.RED
    assert age_colour(None, 12, paused=False) is Colour.RED
    assert age_colour(None, 12, paused=True) is Colour.AMBER  # the stamp skips backups during an update


def test_slow_backups_are_more_than_twice_the_median_of_those_before() -> None:
    history = [entry(0, 60, minutes=20), entry(1, 48, minutes=30), entry(2, 36, minutes=25), entry(3, 6, minutes=51)]
    [slow] = slow_backups(history, NOW - 12 * HOUR)
    assert slow.backup_id == IDS[3] and slow.usual_seconds == 25 * 60 and slow.seconds == 51 * 60
    assert slow_backups([*history[:3], entry(3, 6, minutes=50)], NOW - 12 * HOUR) == ()  # exactly twice is not
    assert slow_backups(history[2:], NOW - 12 * HOUR) == ()  # one before it: nothing is usual yet


def test_a_stamp_digest_from_snapshot_history_and_samples() -> None:
    backups = (
        Backup(
            IDS[5],
            "Succeeded",
            datetime.fromtimestamp(NOW - 13 * HOUR, UTC),
            is_cloud_recovery_ready=True,
            stamp_version="1.2108.0.32",
        ),
    )
    update = UpdateLocation("local", "AppliedSuccessfully", "1.2108.0.32")
    snapshot = StampSnapshot(location(), NOW - 60, backups, NOW - 60, update, NOW - 60)
    history = [
        entry(1, 40),
        entry(2, 20, "Failed", None),
        entry(3, 18, "PartialSucceeded"),
        entry(4, 14, "Skipped", None),
    ]
    capacity = [sample(36, 1000), sample(24, 980), sample(12, 950), sample(0, 930)]
    d = stamp_digest(
        DigestInputs("east", view(snapshot), history, capacity),
        since=NOW - DAY,
        now=NOW,
        states=STATES,
        max_age_hours=48,
    )
    assert d.newest_good_id == IDS[5] and d.newest_good_at == NOW - 13 * HOUR
    assert d.age_colour is Colour.AMBER and d.expected_hours == 12 and d.expected_from_scheduler
    assert (d.counts.succeeded, d.counts.partial, d.counts.failed, d.counts.skipped) == (0, 1, 1, 1)
    assert d.scheduler_enabled is True and d.recovery_ready is True and d.recovery_backup_id == IDS[5]
    assert d.forecast.days_until_full is not None and round(d.forecast.days_until_full, 3) == 19.375
    assert d.colour is Colour.AMBER and not d.update_paused


def test_a_stamp_with_no_snapshot_and_no_good_backup_is_red() -> None:
    d = stamp_digest(DigestInputs("west", None, [], []), since=NOW - DAY, now=NOW, states=STATES, max_age_hours=48)
    assert d.colour is Colour.RED and d.stale and d.recovery_ready is None and d.expected_hours == 24
    assert d.forecast.fit is Fit.NO_SAMPLES


def test_an_update_running_caps_the_age_colour_and_filling_fast_is_red() -> None:
    update = UpdateLocation("local", "UpdateInProgress", "1.2108.0.32")
    snapshot = StampSnapshot(location(), NOW, (), NOW, update, NOW)
    capacity = [sample(48, 300), sample(24, 200), sample(0, 100)]  # 100 GiB a day, 100 GiB left: 1 day
    d = stamp_digest(
        DigestInputs("east", view(snapshot), [entry(1, 100)], capacity),
        since=NOW - DAY,
        now=NOW,
        states=STATES,
        max_age_hours=48,
    )
    assert d.update_paused and d.age_colour is Colour.AMBER
    assert d.forecast.days_until_full is not None and round(d.forecast.days_until_full, 6) == 1.0
    assert d.colour is Colour.RED


def test_the_digest_is_one_escaped_message_within_slack_limits() -> None:
    hostile = "<!channel> *bold* `tick`"
    snapshot = StampSnapshot(location(capacity=hostile), NOW, (), NOW, UpdateLocation("x", hostile, hostile), NOW)
    figures = [
        stamp_digest(
            DigestInputs(f"stamp-{n}", view(snapshot), [entry(1, 5)], []),
            since=NOW - DAY,
            now=NOW,
            states=STATES,
            max_age_hours=48,
        )
        for n in range(60)
    ]
    marker = {"event_type": words.DIGEST_EVENT, "event_payload": {"period": "digest:daily:2026-12-03"}}
    message = words.digest(figures, period="Thursday 3 December 2026", since=NOW - DAY, now=NOW, marker=marker)
    assert len(message.blocks) <= MAX_BLOCKS_MESSAGE
    assert all(len(json.dumps(b)) < SECTION_TEXT_LIMIT + 500 for b in message.blocks)
    body = json.dumps(message.blocks)
    assert "<!channel>" not in body and "`tick`" not in body
    assert "20 more stamp(s)" in body and message.metadata == marker
    assert "stamp-0" in message.text and "days until full: not enough data (no capacity samples)" in message.text
