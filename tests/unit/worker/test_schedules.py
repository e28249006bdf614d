"""The scheduler in a real Redis: a channel's digest exactly once per period across two schedulers, a post that
landed although its answer was lost, a frozen scheduler whose lease moved on, problems-only, and the fence."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import redis

from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.model.schedule import Cadence, ChannelSchedule, Deliverable, Period, parse_hhmm
from bot.model.snapshot import StampSnapshot
from bot.model.update import UpdateStates
from bot.state.history import HistoryStore
from bot.state.schedules import NOTHING_POSTED, ScheduleStore
from bot.state.snapshots import SnapshotStore
from bot.words.digest import DIGEST_EVENT
from bot.worker.schedules import Scheduler
from tests.unit.fakes import FakePoster

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
    assert scheduler(store_redis, poster).run_due() == 1  # found, recorded
    assert digests(poster) == ["CONE"]
    assert ScheduleStore(store_redis).posted("CONE", _only_period(store_redis)) == poster.posted[0].ts


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
    now = time.time()
    ScheduleStore(store_redis).put("CONE", ChannelSchedule(monthly_report=True, monthly_since=0.0))
    poster = FakePoster()
    assert scheduler(store_redis, poster).run_due() == 0
    uploads: list[tuple[str, str]] = []

    def reporter(channel: str, period: Period, at: float, guard: object) -> str:
        uploads.append((channel, period.key))
        return "99.000001"

    assert scheduler(store_redis, poster, monthly=reporter).run_due() == 1
    assert scheduler(store_redis, poster, monthly=reporter).run_due() == 0
    month = datetime.fromtimestamp(now, UTC).replace(day=1)
    assert len(uploads) == 1 and uploads[0][1].startswith("monthly:") and uploads[0][1] < f"monthly:{month:%Y-%m}"
    assert Deliverable.MONTHLY_REPORT.value == "report"
