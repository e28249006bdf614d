"""Following one job in process (:mod:`bot.worker.follow`, :mod:`bot.worker.reconcile`): the real stamp client
against the HTTPS stamp simulator (real MSAL token flow), a real Redis, a fake Slack poster, and a test clock.

Each test claims a job and runs one worker turn (:meth:`bot.worker.loop.Loop.process`) or one housekeeping
pass, as the worker's loop would, and checks what reached the stamp, the channel and the job.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.app import assemble_worker, refresher
from bot.config.settings import Settings
from bot.config.stamps import load_stamp
from bot.stamp import lro
from bot.stamp.arm import ArmClient
from bot.state.job import Job, JobState
from bot.state.jobs import JobStore
from bot.words.posts import ANNOUNCE_EVENT, OVERDUE_EVENT, REPORT_EVENT
from bot.worker.loop import Loop
from devkit.simulator import StampSimulator
from tests.harness import RedisServer
from tests.unit.fakes import FakePoster

TIMEOUT = 7200.0


class Clock:
    """The worker's one clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    worker: Loop
    client: ArmClient
    clock: Clock
    store: JobStore
    poster: FakePoster

    def running(self, *, announced: bool = True) -> Job:
        """A backup started on the stamp and recorded as the web records it."""
        started = self.client.start_backup()
        job = Job(job_id=Job.new_id(), stamp="sim", requester="U1", channel="C1", requested_at=self.clock())
        assert self.store.reserve(job, reconcile_after=600) is None
        job.backup_id, job.started_at = started.backup_id, self.clock()
        job.poll_url = started.async_url or started.location_url or ""
        job.location_url = started.location_url or ""
        job.strategy = lro.select(job).name
        job.start_ts = "1700000000.000001" if announced else ""
        assert self.store.mark_running(job, due_at=self.clock())
        return job

    def saved(self, job: Job) -> Job:
        found = self.store.get(job.job_id)
        assert found is not None
        return found


@pytest.fixture
def rig(stamp: StampSimulator, store: JobStore, poster: FakePoster, redis_server: RedisServer) -> Iterator[Rig]:
    settings_for_stamp = load_stamp(stamp.env(), name="sim")
    client = ArmClient(settings_for_stamp, max_attempts=1)
    clock = Clock(time.time())  # the stamp stamps its backups with the real time; reconciliation compares
    settings = Settings(redis_url=redis_server.url, stamps=(settings_for_stamp,), backup_timeout=TIMEOUT)
    worker = assemble_worker(store, {"sim": client}, poster.as_slack_poster(), settings, clock=clock)
    yield Rig(worker, client, clock, store, poster)
    worker.close()
    client.http.close()


def test_a_refused_overdue_notice_is_posted_by_the_jobs_next_poll_once(rig: Rig, stamp: StampSimulator) -> None:
    """It used to be at most once: refused, it was never tried again."""
    stamp.backup_seconds = 600
    job = rig.running()
    rig.clock.now += TIMEOUT + 1
    rig.poster.fail("internal_error")
    rig.worker.check_running_jobs()  # housekeeping's try, without a poll: refused
    rig.worker.check_running_jobs()  # a refused notice waits for the job's poll, not the next few seconds
    assert rig.poster.marked(OVERDUE_EVENT) == [] and rig.poster.attempts == 1
    rig.worker.process(job.job_id)  # the job's next poll
    rig.worker.process(job.job_id)
    [notice] = rig.poster.marked(OVERDUE_EVENT)
    assert notice.thread_ts == job.start_ts and notice.broadcast
    saved = rig.saved(job)
    assert (saved.state, saved.overdue_reported, saved.overdue_attempts) == (JobState.RUNNING, 1, 2)


def test_an_overdue_job_is_told_once_without_waiting_for_its_poll(rig: Rig, stamp: StampSimulator) -> None:
    stamp.backup_seconds = 600
    rig.running()
    polls = stamp.count("GET", "operation")
    rig.clock.now += TIMEOUT + 1
    rig.worker.check_running_jobs()
    rig.worker.check_running_jobs()
    assert len(rig.poster.marked(OVERDUE_EVENT)) == 1 and stamp.count("GET", "operation") == polls


def test_the_outcome_waits_for_its_announcement_and_threads_under_it(rig: Rig, stamp: StampSimulator) -> None:
    stamp.backup_seconds = 0
    job = rig.running(announced=False)
    rig.poster.fail("internal_error", times=2)  # the announcement, before the poll and before the outcome
    rig.worker.process(job.job_id)
    assert rig.poster.posted == [] and rig.saved(job).state == JobState.FINISHED  # it ended: it waits
    rig.worker.process(job.job_id)
    [announced] = rig.poster.marked(ANNOUNCE_EVENT)
    [outcome] = rig.poster.marked(REPORT_EVENT)
    assert outcome.thread_ts == announced.ts and rig.saved(job).state == JobState.NOTIFIED
    assert [ts for _, ts, _ in rig.poster.edits] == [announced.ts]  # the announcement's last edit: the result


def test_an_announcement_refused_too_often_leaves_the_outcome_standing_alone(rig: Rig, stamp: StampSimulator) -> None:
    stamp.backup_seconds = 0
    job = rig.running(announced=False)
    rig.store.redis.hset(f"azs:job:{job.job_id}", "announce_attempts", 5)
    rig.worker.process(job.job_id)
    [outcome] = rig.poster.posted
    assert outcome.thread_ts is None and "could not be posted" in str(outcome.message.blocks)


@pytest.mark.parametrize("where", ["gone", "on another host"])
def test_an_operation_url_it_cannot_follow_hands_the_job_to_its_fallback(
    rig: Rig, stamp: StampSimulator, where: str
) -> None:
    stamp.backup_seconds = 600
    job = rig.running()
    if where == "gone":
        unknown = job.poll_url.replace(job.backup_id, "0" * 8 + job.backup_id[8:])  # answers 404
    else:  # the token never goes there: the stamp client refuses it before sending anything
        unknown = job.poll_url.replace("127.0.0.1", "localhost")
    rig.store.redis.hset(f"azs:job:{job.job_id}", "poll_url", unknown)
    rig.worker.process(job.job_id)  # the strategy falls back, at once and uncounted
    saved = rig.saved(job)
    assert (saved.strategy, saved.poll_url, saved.poll_failures) == ("backup", "", 0)
    assert rig.store.due_at(job.job_id) == rig.clock.now
    by_id = stamp.count("GET", f"/backups/{job.backup_id}")
    rig.worker.process(job.job_id)
    assert stamp.count("GET", f"/backups/{job.backup_id}") == by_id + 1


def test_a_start_never_recorded_adopts_the_backup_the_stamp_runs(rig: Rig, stamp: StampSimulator) -> None:
    stamp.backup_seconds = 600
    job = Job(job_id=Job.new_id(), stamp="sim", requester="U1", channel="C1", requested_at=rig.clock())
    assert rig.store.reserve(job, reconcile_after=0) is None
    backup_id = rig.client.start_backup().backup_id  # the web died before recording the answer
    rig.worker.process(job.job_id)
    saved = rig.saved(job)
    assert (saved.state, saved.backup_id, saved.strategy) == (JobState.RUNNING, backup_id, "backup")
    rig.worker.process(job.job_id)  # the next turn announces it, then follows it by id
    [announced] = rig.poster.marked(ANNOUNCE_EVENT)
    assert rig.saved(job).start_ts == announced.ts


def test_a_start_the_stamp_has_no_record_of_is_given_up_and_told_once(rig: Rig, stamp: StampSimulator) -> None:
    # Clicked after every backup the stamp lists was created, and nothing runs: nothing to adopt.
    job = Job(job_id=Job.new_id(), stamp="sim", requester="U1", channel="C1", requested_at=rig.clock() + 5)
    assert rig.store.reserve(job, reconcile_after=0) is None
    rig.poster.fail("internal_error")
    rig.worker.process(job.job_id)  # given up; its notice refused
    assert rig.saved(job).state == JobState.START_FAILED and rig.poster.posted == []
    rig.worker.process(job.job_id)  # due again after the backoff: posted
    [notice] = rig.poster.marked(REPORT_EVENT)
    assert "did not start" in notice.message.text and rig.saved(job).notified_ts == notice.ts
    assert rig.store.due_at(job.job_id) is None and rig.store.count_active() == 0  # over: the stamp is free


def test_a_followed_backup_that_ends_goes_into_the_history_and_asks_for_a_refresh(
    stamp: StampSimulator, store: JobStore, poster: FakePoster, redis_server: RedisServer
) -> None:
    """The follower tells the refresher (issue 19): the history has the final state before the next list."""
    stamp_settings = load_stamp(stamp.env(), name="sim")
    client = ArmClient(stamp_settings, max_attempts=1)
    clock = Clock(time.time())
    settings = Settings(redis_url=redis_server.url, stamps=(stamp_settings,), backup_timeout=TIMEOUT)
    refresh = refresher(store.redis, {"sim": client}, settings, clock)
    worker = assemble_worker(store, {"sim": client}, poster.as_slack_poster(), settings, refresher=refresh, clock=clock)
    try:
        rig = Rig(worker, client, clock, store, poster)
        stamp.backup_seconds = 0
        job = rig.running()
        assert refresh.snapshots.take_turn("sim", 3600)  # a refresher just read the stamp
        rig.worker.process(job.job_id)
        assert rig.saved(job).state == JobState.NOTIFIED
        entry = refresh.history.get("sim", job.backup_id)
        assert entry is not None and entry.status == "Succeeded"
        assert refresh.snapshots.take_turn("sim", 3600)  # given up: the next look reads the stamp
    finally:
        worker.close()
        client.http.close()
