"""The exactly-once posting protocol (:mod:`bot.slack.delivery`) in process: a real Redis, a fake Slack poster.

Each test breaks one step of count -> look for an earlier post -> post under the lease -> record, and
checks what reached the channel and what the job says. The process-level proofs (real workers frozen
with SIGSTOP, killed, throttled by the local Slack) are ``tests/e2e/test_delivery.py`` and ``tests/e2e/test_soak.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from bot.model.backoff import backoff
from bot.slack.client import Fenced
from bot.slack.delivery import ABANDONED, ANNOUNCEMENT, OUTCOME, OVERDUE, Delivered, Delivery, Kind
from bot.state.job import Claim, Job, JobState
from bot.state.jobs import JobStore
from bot.state.keys import lease_key
from bot.words import posts
from bot.words.mrkdwn import Message
from bot.words.posts import ANNOUNCE_EVENT, OVERDUE_EVENT, REPORT_EVENT
from tests.unit.fakes import FakePoster

LEASE = 30.0
"""Long enough that the lease keeper's renewals (every 10 s) never race a test that takes the job over."""
NOW = 1_700_000_000.0
BACKUP = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
ANNOUNCED = "1700000000.000001"


def delivery(store: JobStore, poster: FakePoster, clock: Callable[[], float] = lambda: NOW) -> Delivery:
    return Delivery(store, poster.as_slack_poster(), lease_seconds=LEASE, clock=clock, give_up_after=5)


def claimed(store: JobStore, state: JobState, **fields: str | int | float) -> Claim:
    """A job in ``state`` as a worker finds it in Redis, claimed."""
    job = Job(job_id=Job.new_id(), stamp="s", requester="U1", channel="C1", state=state, backup_id=BACKUP)
    for name, value in fields.items():
        setattr(job, name, value)
    assert store.reserve(job, reconcile_after=0) is None
    claim = store.claim(job.job_id, ttl=LEASE)
    assert claim is not None
    return claim


def saved(store: JobStore, claim: Claim) -> Job:
    job = store.get(claim.job.job_id)
    assert job is not None
    return job


def held(store: JobStore, claim: Claim) -> bool:
    return bool(store.redis.exists(lease_key(claim.job.job_id)))


def outcome(job: Job) -> Message:
    return posts.completion(job, None, "the stamp said no")


def test_an_outcome_is_posted_once_under_its_announcement_and_recorded(store: JobStore, poster: FakePoster) -> None:
    claim = claimed(store, JobState.FINISHED, start_ts=ANNOUNCED)
    assert delivery(store, poster).deliver(claim, OUTCOME, outcome(claim.job)) is Delivered.POSTED
    [post] = poster.posted
    assert (post.thread_ts, post.broadcast, post.marker) == (ANNOUNCED, True, (REPORT_EVENT, claim.job.job_id))
    job = saved(store, claim)
    assert (job.state, job.notified_ts, job.post_attempts) == (JobState.NOTIFIED, post.ts, 1)
    assert not held(store, claim) and store.due_at(job.job_id) is None  # the job is over


def test_an_earlier_attempts_post_is_found_and_not_posted_again(store: JobStore, poster: FakePoster) -> None:
    claim = claimed(store, JobState.FINISHED)
    poster.fail("internal_error", landed=True)  # Slack took it; the worker heard a 5xx
    assert delivery(store, poster).deliver(claim, OUTCOME, outcome(claim.job)) is Delivered.REFUSED
    assert len(poster.posted) == 1 and saved(store, claim).state == JobState.FINISHED
    retry = store.claim(claim.job.job_id, ttl=LEASE)
    assert retry is not None and retry.job.post_attempts == 1  # counted before the post
    assert delivery(store, poster).deliver(retry, OUTCOME, outcome(retry.job)) is Delivered.FOUND
    assert len(poster.posted) == 1
    assert saved(store, claim).notified_ts == poster.posted[0].ts


def test_a_first_attempt_does_not_read_the_history(store: JobStore, poster: FakePoster) -> None:
    """Nothing was counted, so nothing can be in the channel: a history read would only cost a Slack call."""
    poster.history_unreadable = True
    claim = claimed(store, JobState.FINISHED)
    assert delivery(store, poster).deliver(claim, OUTCOME, outcome(claim.job)) is Delivered.POSTED


def test_an_unreadable_history_is_not_posted_blind(store: JobStore, poster: FakePoster) -> None:
    claim = claimed(store, JobState.FINISHED, post_attempts=1)
    poster.history_unreadable = True  # Slack cannot show it now (429, 5xx): the earlier post may be there
    assert delivery(store, poster).deliver(claim, OUTCOME, outcome(claim.job)) is Delivered.REFUSED
    assert poster.posted == [] and poster.attempts == 0
    assert saved(store, claim).state == JobState.FINISHED and store.due_at(claim.job.job_id) is not None


def test_a_claim_lost_mid_post_is_fenced_and_records_nothing(store: JobStore, poster: FakePoster) -> None:
    claim = claimed(store, JobState.FINISHED)
    raised: list[BaseException] = []

    def deliver() -> None:
        try:
            delivery(store, poster).deliver(claim, OUTCOME, outcome(claim.job))
        except Fenced as exc:
            raised.append(exc)

    poster.freeze()
    thread = threading.Thread(target=deliver)
    thread.start()
    assert poster.froze.wait(5)
    # Stopped past its lease: the lease ran out and another worker claimed the job.
    store.redis.delete(lease_key(claim.job.job_id))
    newer = store.claim(claim.job.job_id, ttl=LEASE)
    assert newer is not None
    poster.thaw()
    thread.join(5)
    assert raised and poster.posted == []
    job = saved(store, claim)
    assert (job.state, job.notified_ts, job.post_attempts) == (JobState.FINISHED, "", 1)
    # The new holder looks in the channel first (an attempt was counted), finds nothing, posts once.
    assert delivery(store, poster).deliver(newer, OUTCOME, outcome(newer.job)) is Delivered.POSTED
    assert len(poster.posted) == 1


def test_429s_within_the_budget_are_waited_out_and_posted_once(store: JobStore, poster: FakePoster) -> None:
    claim = claimed(store, JobState.FINISHED)
    poster.throttle(0.05, times=2)
    assert delivery(store, poster).deliver(claim, OUTCOME, outcome(claim.job)) is Delivered.POSTED
    assert len(poster.posted) == 1 and poster.attempts == 3


def test_a_429_beyond_the_budget_is_retried_after_slacks_retry_after(store: JobStore, poster: FakePoster) -> None:
    """A third of the lease at most is spent on 429s; then the job waits, unclaimed, for Slack's Retry-After."""
    claim = claimed(store, JobState.FINISHED)
    poster.throttle(60.0)
    assert delivery(store, poster).deliver(claim, OUTCOME, outcome(claim.job)) is Delivered.REFUSED
    due = store.due_at(claim.job.job_id)
    assert due is not None and NOW + 60 <= due < NOW + 61
    job = saved(store, claim)
    assert (job.state, job.poll_failures, poster.posted) == (JobState.FINISHED, 1, [])
    assert not held(store, claim)


def test_an_announcement_refused_too_often_is_given_up(store: JobStore, poster: FakePoster) -> None:
    claim = claimed(store, JobState.RUNNING, announce_attempts=5)
    assert delivery(store, poster).deliver(claim, ANNOUNCEMENT, posts.started(claim.job)) is Delivered.GIVEN_UP
    job = saved(store, claim)
    assert poster.posted == [] and job.announce_given_up == 1 and not job.announcement_pending
    assert held(store, claim)  # the worker goes on with its poll


def test_the_web_tries_the_announcement_once_and_lets_go(store: JobStore, poster: FakePoster) -> None:
    claim = claimed(store, JobState.RUNNING)
    store.release(claim)
    job = claim.job
    assert delivery(store, poster).try_once(job.job_id, ANNOUNCEMENT, posts.started(job)) is Delivered.POSTED
    [post] = poster.marked(ANNOUNCE_EVENT)
    assert saved(store, claim).start_ts == post.ts and not held(store, claim)


def test_the_web_leaves_the_announcement_to_a_worker_that_holds_the_job(store: JobStore, poster: FakePoster) -> None:
    claim = claimed(store, JobState.RUNNING)  # a worker holds it
    job = claim.job
    assert delivery(store, poster).try_once(job.job_id, ANNOUNCEMENT, posts.started(job)) is None
    assert poster.posted == [] and saved(store, claim).announce_attempts == 0


def test_an_announcement_the_web_could_not_post_is_left_counted_for_a_worker(
    store: JobStore, poster: FakePoster
) -> None:
    claim = claimed(store, JobState.RUNNING)
    store.release(claim)
    poster.fail("internal_error")
    job = claim.job
    assert delivery(store, poster).try_once(job.job_id, ANNOUNCEMENT, posts.started(job)) is Delivered.REFUSED
    job = saved(store, claim)
    assert job.announce_attempts == 1 and job.announcement_pending and not held(store, claim)


@pytest.mark.parametrize("landed", [True, False], ids=["slack-took-it", "slack-refused-it"])
def test_the_overdue_notice_is_posted_exactly_once(store: JobStore, poster: FakePoster, landed: bool) -> None:
    """It used to be at most once: a refused notice was never tried again. Now it is counted and marked."""
    claim = claimed(store, JobState.RUNNING, start_ts=ANNOUNCED)
    notice = posts.overdue(claim.job, 7200.0)
    poster.fail("internal_error", landed=landed)
    assert delivery(store, poster).deliver(claim, OVERDUE, notice) is Delivered.REFUSED
    job = saved(store, claim)
    assert (job.overdue_reported, job.overdue_attempts) == (0, 1)  # still owed; the retry looks first
    store.release(claim)
    retry = store.claim(claim.job.job_id, ttl=LEASE)
    assert retry is not None
    expected = Delivered.FOUND if landed else Delivered.POSTED
    assert delivery(store, poster).deliver(retry, OVERDUE, notice) is expected
    [post] = poster.marked(OVERDUE_EVENT)
    assert (post.thread_ts, post.broadcast) == (ANNOUNCED, True)
    job = saved(store, claim)
    assert (job.overdue_reported, job.overdue_ts, job.state) == (1, post.ts, JobState.RUNNING)


def test_a_refused_abandoned_notice_backs_off_on_its_own_refusals(store: JobStore, poster: FakePoster) -> None:
    """Reconciliation failed seven times before giving the start up; the notice's backoff does not inherit that."""
    claim = claimed(store, JobState.STARTING, backup_id="", poll_failures=7)
    assert store.give_up(claim, "the stamp has no record of it.")
    poster.fail("internal_error")
    notice = posts.start_abandoned_notice(claim.job, claim.job.error)
    assert delivery(store, poster).deliver(claim, ABANDONED, notice) is Delivered.REFUSED
    due = store.due_at(claim.job.job_id)
    assert due is not None and backoff(1, 2.0, 300.0, 0.0) <= due - NOW <= backoff(1, 2.0, 300.0, 1.0)
    retry = store.claim(claim.job.job_id, ttl=LEASE)
    assert retry is not None
    assert delivery(store, poster).deliver(retry, ABANDONED, notice) is Delivered.POSTED
    job = saved(store, claim)
    assert (job.state, job.notified_ts) == (JobState.START_FAILED, poster.posted[0].ts)


@pytest.mark.parametrize("kind", [ANNOUNCEMENT, OUTCOME, ABANDONED, OVERDUE], ids=lambda k: k.what)
def test_every_kind_looks_for_the_marker_its_message_carries(kind: Kind) -> None:
    job = Job(job_id="j1", stamp="s", requester="U1", channel="C1", backup_id=BACKUP, error="x")
    rendered = {
        ANNOUNCEMENT.what: posts.started(job),
        OUTCOME.what: outcome(job),
        ABANDONED.what: posts.start_abandoned_notice(job, job.error),
        OVERDUE.what: posts.overdue(job, 7200.0),
    }[kind.what]
    assert rendered.metadata == {"event_type": kind.marker, "event_payload": {"job_id": "j1", "backup_id": BACKUP}}
