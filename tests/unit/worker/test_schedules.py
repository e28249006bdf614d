"""The scheduler in a real Redis: a channel's digest exactly once per period across two schedulers, a post that
landed although its answer was lost, a frozen scheduler whose lease moved on, problems-only, and the fence; the
monthly report the same way, uploaded to the local Slack and found by its tag after a lost answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from slack_sdk import WebClient

from bot.commands.report import Reporter
from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.model.report import ReportFile
from bot.model.schedule import Cadence, ChannelSchedule, Deliverable, parse_hhmm
from bot.model.snapshot import StampSnapshot
from bot.model.update import UpdateStates
from bot.slack.client import SlackPoster
from bot.state.history import HistoryStore
from bot.state.schedules import FAILED, NOTHING_POSTED, ScheduleStore
from bot.state.snapshots import SnapshotStore
from bot.words.digest import DIGEST_EVENT
from bot.worker.schedules import Scheduler
from devkit.slack_fake import FakeSlack, SlackFault
from tests.harness import wait_until
from tests.unit.fakes import FakePoster
from tests.unit.report.month_of_history import NOW, STAMP, feed, ts, windows

STATES = UpdateStates(("AppliedSuccessfully",), ("UpdateInProgress",), ("UpdateFailed",))
GOOD = "0a000000-0000-4000-8000-000000000000"


def due_now(now: float, **kw: object) -> ChannelSchedule:
    """A daily digest at this UTC minute, set now: owed at once (the same-minute rule)."""
    at = parse_hhmm(datetime.fromtimestamp(now, UTC).strftime("%H:%M"))
    assert at is not None
    return ChannelSchedule(cadence=Cadence.DAILY, at=at, since=now, zone="UTC", **kw)  # type: ignore[arg-type]


def scheduler(client: redis.Redis, poster: FakePoster, *, lease: float = 6.0, **kw: object) -> Scheduler:
    return Scheduler(
        ScheduleStore(client),
        SnapshotStore(client, stale_after=600.0),
        HistoryStore(client, keep_days=400),
        poster.as_slack_poster(),
        ["east"],
        default_zone="UTC",
        lease_seconds=lease,
        states=STATES,
        max_age_hours=48.0,
        **kw,  # type: ignore[arg-type]
    )


def healthy_stamp(client: redis.Redis, now: float) -> None:
    """A snapshot with a good recovery-ready backup an hour old and a 12-hour scheduler: every colour green."""
    created = datetime.fromtimestamp(now - 3600, UTC)
    backup = Backup(GOOD, "Succeeded", created, 1500.0, stamp_version="1.2108.0.32", is_cloud_recovery_ready=True)
    location = BackupLocation("local", r"\\fs\share", None, None, True, 12, 7, None, None, None, "ABC")
    SnapshotStore(client, stale_after=600.0).write(
        "east", StampSnapshot().with_location(location, now).with_backups([backup], now)
    )
    HistoryStore(client, keep_days=400).record("east", [backup], now)


def digests(poster: FakePoster) -> list[str]:
    return [p.channel for p in poster.marked(DIGEST_EVENT)]


def test_two_schedulers_on_one_redis_post_each_channel_once_per_period(store_redis: redis.Redis) -> None:
    now = time.time()
    store = ScheduleStore(store_redis)
    store.put("CONE", due_now(now))
    store.put("CTWO", due_now(now))
    poster = FakePoster()
    first, second = scheduler(store_redis, poster), scheduler(store_redis, poster)
    threads = [threading.Thread(target=s.run_due) for s in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(digests(poster)) == ["CONE", "CTWO"]
    assert first.run_due() == 0 and second.run_due() == 0  # recorded: nothing owed until tomorrow
    assert sorted(digests(poster)) == ["CONE", "CTWO"]
    assert store.last_digest("CONE") is not None


def test_a_post_that_landed_with_its_answer_lost_is_found_not_repeated(store_redis: redis.Redis) -> None:
    """The kill-after-Slack-took-it case in process: the attempt was counted, the post is in the channel, nothing
    was recorded. The next claimant looks in the channel first and records what it finds."""
    now = time.time()
    ScheduleStore(store_redis).put("CONE", due_now(now))
    poster = FakePoster()
    poster.fail("internal_error", landed=True)
    assert scheduler(store_redis, poster).run_due() == 0
    assert digests(poster) == ["CONE"]
    later = scheduler(store_redis, poster, clock=lambda: time.time() + 30)  # past the failed attempt's backoff
    assert later.run_due() == 1  # found, recorded
    assert digests(poster) == ["CONE"]
    assert ScheduleStore(store_redis).posted("CONE", _only_period(store_redis)) == poster.posted[0].ts


def test_a_refusal_for_good_settles_the_period_and_a_passing_one_backs_off(store_redis: redis.Redis) -> None:
    """not_in_channel will not change by waiting: the period is recorded failed, never tried (nor rebuilt) again.
    A transient error leaves it owed, but no claim before its backoff has passed."""
    now = time.time()
    store = ScheduleStore(store_redis)
    store.put("CGONE", due_now(now))
    poster = FakePoster()
    poster.fail("not_in_channel")
    assert scheduler(store_redis, poster).run_due() == 0
    assert store.posted("CGONE", _period_of(store_redis, "CGONE")) == FAILED + "not_in_channel"
    assert scheduler(store_redis, poster, clock=lambda: now + 3600).run_due() == 0
    assert poster.attempts == 1 and digests(poster) == []
    store.put("CSOON", due_now(now))
    poster.fail("internal_error")
    assert scheduler(store_redis, poster, clock=lambda: now).run_due() == 0
    assert scheduler(store_redis, poster, clock=lambda: now + 5).run_due() == 0  # backing off: not even claimed
    assert poster.attempts == 2
    assert scheduler(store_redis, poster, clock=lambda: now + 11).run_due() == 1
    assert digests(poster) == ["CSOON"]


def test_one_channel_failing_does_not_stop_the_others(store_redis: redis.Redis) -> None:
    store = ScheduleStore(store_redis)
    for channel in ("CBAD", "CGOOD", "CBAD2"):
        store.put(channel, ChannelSchedule(monthly_report=True, monthly_since=0.0))

    def monthly(channel: str, *_: object) -> str:
        if channel.startswith("CBAD"):
            raise RuntimeError("a bug in one channel's report")
        return "F1"

    assert scheduler(store_redis, FakePoster(), monthly=monthly).run_due() == 1
    assert store.posted("CGOOD", _period_of(store_redis, "CGOOD")) == "F1"


def _only_period(client: redis.Redis) -> str:
    [key] = [k for k in client.scan_iter("azs:schedules:period:CONE:*")]
    return str(key).split("CONE:", 1)[1]


def test_a_scheduler_frozen_past_its_lease_cannot_post_after_the_next_one_did(store_redis: redis.Redis) -> None:
    now = time.time()
    ScheduleStore(store_redis).put("CONE", due_now(now))
    slow_poster, poster = FakePoster(), FakePoster()
    slow_poster.freeze()
    frozen = scheduler(store_redis, slow_poster)
    thread = threading.Thread(target=frozen.run_due)
    thread.start()
    assert slow_poster.froze.wait(10)
    # Stopped past its lease (a frozen process renews nothing): the lease ran out and another worker claims it.
    store_redis.delete(*store_redis.keys("azs:schedules:lease:CONE:*"))
    assert scheduler(store_redis, poster).run_due() == 1
    slow_poster.thaw()
    thread.join(10)
    assert digests(poster) == ["CONE"] and digests(slow_poster) == []


def test_problems_only_stays_quiet_while_every_stamp_is_green_and_speaks_when_not(store_redis: redis.Redis) -> None:
    now = time.time()
    healthy_stamp(store_redis, now)
    store = ScheduleStore(store_redis)
    store.put("CQUIET", due_now(now, problems_only=True))
    poster = FakePoster()
    assert scheduler(store_redis, poster).run_due() == 1
    assert digests(poster) == []
    assert store.posted("CQUIET", _period_of(store_redis, "CQUIET")) == NOTHING_POSTED
    store_redis.delete(*store_redis.keys("azs:stamp:east:*"))  # nothing known: red
    store_redis.delete(*store_redis.keys("azs:schedules:period:*"))
    assert scheduler(store_redis, poster).run_due() == 1
    assert digests(poster) == ["CQUIET"]


def _period_of(client: redis.Redis, channel: str) -> str:
    [key] = [k for k in client.scan_iter(f"azs:schedules:period:{channel}:*")]
    return str(key).split(f"{channel}:", 1)[1]


def test_the_digest_counts_backups_since_the_channel_last_one(store_redis: redis.Redis) -> None:
    now = time.time()
    healthy_stamp(store_redis, now)
    failed = Backup("0b000000-0000-4000-8000-000000000000", "Failed", datetime.fromtimestamp(now - 600, UTC))
    HistoryStore(store_redis, keep_days=400).record("east", [failed], now)
    ScheduleStore(store_redis).put("CONE", due_now(now))
    poster = FakePoster()
    scheduler(store_redis, poster).run_due()
    [posted] = poster.marked(DIGEST_EVENT)
    assert "1 succeeded, 0 partial, 1 failed, 0 skipped" in posted.message.text
    assert posted.message.metadata is not None
    assert posted.message.metadata["event_payload"]["period"].startswith("digest:daily:")


def test_writes_of_an_older_claim_are_fenced(store_redis: redis.Redis) -> None:
    store = ScheduleStore(store_redis)
    old = store.claim("CONE", "digest:daily:2026-12-03", ttl=0.05)
    assert old is not None and store.claim("CONE", "digest:daily:2026-12-03", ttl=5) is None  # held
    time.sleep(0.1)
    new = store.claim("CONE", "digest:daily:2026-12-03", ttl=5)
    assert new is not None and new.fence == old.fence + 1
    assert not store.count_attempt(old, 1.0) and not store.record(old, "1.0") and not store.renew(old, ttl=5)
    assert store.count_attempt(new, 2.0) and store.record(new, "2.0", digest_at=2.0)
    assert store.claim("CONE", "digest:daily:2026-12-03", ttl=5) is None  # posted: never again
    assert store.last_digest("CONE") == 2.0


def test_a_monthly_report_is_left_owed_until_a_reporter_is_given(store_redis: redis.Redis) -> None:
    ScheduleStore(store_redis).put("CONE", ChannelSchedule(monthly_report=True, monthly_since=0.0))
    assert scheduler(store_redis, FakePoster()).run_due() == 0
    assert store_redis.keys("azs:schedules:period:*") == []  # not even claimed: the next worker may have one
    assert Deliverable.MONTHLY_REPORT.value == "report"


# --- the monthly report through the report command's builder and the local Slack's upload flow -----------------


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def report_scheduler(client: redis.Redis, fake: FakeSlack, *, now: float = NOW, timeout: int = 5) -> Scheduler:
    """A worker's scheduler on the simulated March, with the report command's builder as its reporter."""
    history, snapshots = feed(client)
    poster = SlackPoster(WebClient(token="xoxb-t", base_url=fake.api_url, timeout=timeout), retry_seconds=2.0)
    reporter = Reporter(history, snapshots, windows(client), poster, clock=lambda: now, stamps=(STAMP,))
    return Scheduler(
        ScheduleStore(client),
        snapshots,
        history,
        poster,
        [STAMP],
        default_zone="UTC",
        lease_seconds=6.0,
        states=STATES,
        max_age_hours=48.0,
        monthly=reporter.scheduled,
        clock=lambda: now,
    )


def report_shares(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages(channel) if m.get("upload")]


MONTHLY = ChannelSchedule(monthly_report=True, monthly_since=ts(1, 0))


def test_two_schedulers_upload_each_channel_one_report_for_last_month(
    store_redis: redis.Redis, fake: FakeSlack
) -> None:
    store = ScheduleStore(store_redis)
    store.put("CONE", MONTHLY)
    store.put("CTWO", MONTHLY)
    first, second = report_scheduler(store_redis, fake), report_scheduler(store_redis, fake)
    threads = [threading.Thread(target=s.run_due) for s in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert first.run_due() == 0 and second.run_due() == 0  # recorded: nothing owed until May
    for channel in ("CONE", "CTWO"):
        [share] = report_shares(fake, channel)
        assert "report:monthly:2026-03" in share["text"] and "RPO compliance 93.1 %" in share["text"]
        names = [f.name for f in fake.uploaded_files(channel)]
        assert names == ["azs-backup-report-2026-03-east.csv", "azs-backup-report-2026-03-east.png"]
        assert store.posted(channel, "report:monthly:2026-03") == ",".join(
            f.file_id for f in fake.uploaded_files(channel)
        )
    assert store.last_digest("CONE") is None  # a report is not a digest


def test_an_upload_that_reached_slack_with_its_answer_lost_is_found_not_repeated(
    store_redis: redis.Redis, fake: FakeSlack
) -> None:
    """Slack shared the files but its answer never came (the worker's client gave up): the attempt was counted
    and nothing recorded. The next claimant finds the share by the tag in its comment and records it."""
    ScheduleStore(store_redis).put("CONE", MONTHLY)
    fake.inject(SlackFault(method="files.completeUploadExternal", delay_after=3.0))
    assert report_scheduler(store_redis, fake, timeout=1).run_due() == 0
    assert wait_until(lambda: len(report_shares(fake, "CONE")) == 1, timeout=5)
    assert ScheduleStore(store_redis).posted("CONE", "report:monthly:2026-03") is None
    assert report_scheduler(store_redis, fake, now=NOW + 30).run_due() == 1
    [share] = report_shares(fake, "CONE")
    assert len(fake.uploaded_files("CONE")) == 2  # the CSV and the chart, once
    assert ScheduleStore(store_redis).posted("CONE", "report:monthly:2026-03") == share["ts"]
    assert report_scheduler(store_redis, fake).run_due() == 0


def test_another_upload_with_the_month_in_it_is_not_taken_for_the_scheduled_one(
    store_redis: redis.Redis, fake: FakeSlack
) -> None:
    """An operator's own `/azs backup report 2026-03` (no tag), or a tag for another month, is no proof: after a
    counted attempt that Slack refused, the report still goes out."""
    ScheduleStore(store_redis).put("CONE", MONTHLY)
    poster = SlackPoster(WebClient(token="xoxb-t", base_url=fake.api_url, timeout=5), retry_seconds=2.0)
    poster.upload_files("CONE", [ReportFile("a.csv", b"x", "a")], "Backup report for March 2026 report:monthly:2026-0")
    fake.inject(SlackFault(method="files.completeUploadExternal", error="internal_error"))
    assert report_scheduler(store_redis, fake).run_due() == 0
    assert report_scheduler(store_redis, fake, now=NOW + 30).run_due() == 1  # past its backoff
    assert len(report_shares(fake, "CONE")) == 2


def test_a_channel_east_of_utc_waits_for_the_month_to_end_in_utc(store_redis: redis.Redis, fake: FakeSlack) -> None:
    """08:00 on 1 April in Auckland is 19:00 on 31 March in UTC: March is not over yet in the report's UTC."""
    ScheduleStore(store_redis).put("CONE", replace(MONTHLY, zone="Pacific/Auckland", monthly_since=ts(1, 0)))
    auckland_eight = datetime(2026, 4, 1, 8, 0, tzinfo=ZoneInfo("Pacific/Auckland")).timestamp()
    assert report_scheduler(store_redis, fake, now=auckland_eight + 60).run_due() == 0
    assert report_shares(fake, "CONE") == []
    assert report_scheduler(store_redis, fake, now=ts(1, 0, month=4) + 60).run_due() == 1
    assert "report:monthly:2026-03" in report_shares(fake, "CONE")[0]["text"]
