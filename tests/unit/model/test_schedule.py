"""A channel's schedule and its periods: daily and weekly in the channel's zone, across DST, and the monthly report."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.model.schedule import Cadence, ChannelSchedule, Deliverable, current_period, parse_hhmm, zone_of

BERLIN = zone_of("Europe/Berlin")
NEW_YORK = zone_of("America/New_York")
UTC_ZONE = zone_of("UTC")


def at(text: str) -> float:
    """A UTC instant written ``2026-03-28 07:30``."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()


def daily(hhmm: str = "08:00", **kw: object) -> ChannelSchedule:
    return ChannelSchedule(cadence=Cadence.DAILY, at=parse_hhmm(hhmm) or time(8), **kw)  # type: ignore[arg-type]


def test_zones_are_iana_names_and_nothing_else() -> None:
    assert zone_of("Europe/Berlin") is not None and zone_of("UTC") is not None
    for bad in ("Mars/Olympus", "../etc/passwd", "Europe/Berlin; rm", "", "x" * 80, "/etc/localtime"):
        assert zone_of(bad) is None, bad


@pytest.mark.parametrize("text", ["24:00", "8", "08:60", "8:5", "0800", ""])
def test_times_of_day_are_hh_mm(text: str) -> None:
    assert parse_hhmm(text) is None


def test_a_daily_digest_is_owed_from_its_local_time_until_the_next_day() -> None:
    assert BERLIN is not None
    schedule = daily("08:00")
    before = current_period(schedule, Deliverable.DIGEST, at("2026-12-03 06:59"), BERLIN)  # 07:59 in Berlin
    after = current_period(schedule, Deliverable.DIGEST, at("2026-12-03 07:00"), BERLIN)  # 08:00 in Berlin
    assert before is not None and before.key == "daily:2026-12-02"
    assert after is not None and after.key == "daily:2026-12-03" and after.due_at == at("2026-12-03 07:00")
    assert after.label == "Thursday 3 December 2026"


def test_daily_periods_follow_the_wall_clock_across_both_dst_changes() -> None:
    """08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC in summer (clocks go forward on 29 March 2026 and
    back on 25 October 2026): one period per local date, each due at 08:00 local."""
    assert BERLIN is not None
    schedule = daily("08:00")
    for day, utc_hour in (("2026-03-28", "07"), ("2026-03-29", "06"), ("2026-10-24", "06"), ("2026-10-25", "07")):
        period = current_period(schedule, Deliverable.DIGEST, at(f"{day} 12:00"), BERLIN)
        assert period is not None and period.key == f"daily:{day}"
        assert period.due_at == at(f"{day} {utc_hour}:00"), day


def test_a_skipped_local_time_lands_once_an_hour_later() -> None:
    """02:30 does not exist in Berlin on 29 March 2026: the period is due at 03:30 local (01:30 UTC), once."""
    assert BERLIN is not None
    schedule = daily("02:30")
    period = current_period(schedule, Deliverable.DIGEST, at("2026-03-29 01:30"), BERLIN)
    assert period is not None and period.key == "daily:2026-03-29" and period.due_at == at("2026-03-29 01:30")
    early = current_period(schedule, Deliverable.DIGEST, at("2026-03-29 01:29"), BERLIN)
    assert early is not None and early.key == "daily:2026-03-28"


def test_the_same_instant_is_a_different_day_in_another_zone() -> None:
    assert NEW_YORK is not None and UTC_ZONE is not None
    schedule = daily("20:00")
    instant = at("2026-12-04 02:00")  # 21:00 on the 3rd in New York
    ny = current_period(schedule, Deliverable.DIGEST, instant, NEW_YORK)
    utc = current_period(schedule, Deliverable.DIGEST, instant, UTC_ZONE)
    assert ny is not None and ny.key == "daily:2026-12-03"
    assert utc is not None and utc.key == "daily:2026-12-03" and utc.due_at == at("2026-12-03 20:00")


def test_weekly_periods_start_on_the_chosen_day_in_the_channel_zone() -> None:
    assert BERLIN is not None
    schedule = ChannelSchedule(cadence=Cadence.WEEKLY, at=time(9, 0), weekday=0)  # Monday 09:00
    monday_early = current_period(schedule, Deliverable.DIGEST, at("2026-11-30 07:59"), BERLIN)  # 08:59 local
    monday = current_period(schedule, Deliverable.DIGEST, at("2026-11-30 08:00"), BERLIN)
    sunday = current_period(schedule, Deliverable.DIGEST, at("2026-12-06 22:00"), BERLIN)
    assert monday_early is not None and monday_early.key == "weekly:2026-11-23"
    assert monday is not None and monday.key == "weekly:2026-11-30"
    assert sunday is not None and sunday.key == "weekly:2026-11-30"


def test_a_period_that_came_before_the_schedule_was_set_is_not_owed() -> None:
    """Turned on at 10:00 for a daily 08:00 digest: today's 08:00 is not owed, tomorrow's is. Set within the
    minute of its time, the period is owed (say "09:30" at 09:30 and get it now)."""
    assert UTC_ZONE is not None
    set_late = daily("08:00", since=at("2026-12-03 10:00"))
    assert current_period(set_late, Deliverable.DIGEST, at("2026-12-03 11:00"), UTC_ZONE) is None
    tomorrow = current_period(set_late, Deliverable.DIGEST, at("2026-12-04 08:00"), UTC_ZONE)
    assert tomorrow is not None and tomorrow.key == "daily:2026-12-04"
    same_minute = daily("09:30", since=at("2026-12-03 09:30") + 40)
    assert current_period(same_minute, Deliverable.DIGEST, at("2026-12-03 09:31"), UTC_ZONE) is not None
    assert current_period(ChannelSchedule(), Deliverable.DIGEST, at("2026-12-03 09:31"), UTC_ZONE) is None


def test_the_monthly_report_covers_the_month_before_the_first() -> None:
    assert BERLIN is not None
    schedule = ChannelSchedule(monthly_report=True, at=time(8, 0))
    first = current_period(schedule, Deliverable.MONTHLY_REPORT, at("2026-12-01 07:00"), BERLIN)
    before = current_period(schedule, Deliverable.MONTHLY_REPORT, at("2026-12-01 06:59"), BERLIN)
    january = current_period(schedule, Deliverable.MONTHLY_REPORT, at("2027-01-15 12:00"), BERLIN)
    assert first is not None and first.key == "monthly:2026-11" and first.month == (2026, 11)
    assert before is not None and before.key == "monthly:2026-10"
    assert january is not None and january.key == "monthly:2026-12" and january.month == (2026, 12)
    assert current_period(ChannelSchedule(), Deliverable.MONTHLY_REPORT, at("2026-12-01 09:00"), BERLIN) is None


def test_a_schedule_survives_its_json() -> None:
    schedule = ChannelSchedule(Cadence.WEEKLY, time(17, 45), 4, True, 12.5, True, 13.0, "Asia/Tokyo")
    assert ChannelSchedule.from_json(schedule.to_json()) == schedule
    assert ChannelSchedule().is_empty and not schedule.is_empty


def test_digest_words_set_the_schedule_and_refuse_what_does_not_fit() -> None:
    from bot.model.schedule import digest_from_words

    now, off = 100.0, ChannelSchedule(zone="Asia/Tokyo")
    weekly = digest_from_words(["weekly", "Friday", "17:30", "problems-only"], off, now)
    assert weekly == ChannelSchedule(Cadence.WEEKLY, time(17, 30), 4, True, now, zone="Asia/Tokyo")
    assert digest_from_words(["daily"], off, now) == ChannelSchedule(
        Cadence.DAILY, time(8), 0, False, now, zone="Asia/Tokyo"
    )
    assert weekly is not None
    only = digest_from_words(["problems-only"], off, now)
    assert only is not None and only.cadence is Cadence.DAILY and only.problems_only
    stopped = digest_from_words(["off"], weekly, now)
    assert stopped is not None and stopped.cadence is Cadence.OFF and stopped.zone == "Asia/Tokyo"
    for bad in (["hourly"], ["daily", "25:00"], ["daily", "08:00", "09:00"], ["weekly", "someday"], []):
        assert digest_from_words(bad, off, now) is None, bad
