"""Posting is fenced like writing: a worker frozen or throttled at each step of a post says nothing twice.

The steps of the exactly-once argument (docs/guarantees.md): count the attempt, check the fence,
send, record. Each test stops a real worker (SIGSTOP) or throttles Slack (429) at one step, lets a
second worker take the job over, then lets the first one go on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.commands.backups import definite_refusal
from bot.slack.client import BoundedRateLimitRetryHandler
from bot.stamp.errors import StampError
from bot.state.keys import active_jobs_key
from bot.words.posts import ANNOUNCE_EVENT, REPORT_EVENT
from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import AppIdentity, FakeSlack, SlackFault
from tests.harness import SlackClientSim, completions, frozen, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]
StartWorker = Callable[..., BotProcess]
LEASE = "8"
"""The shortest lease the settings allow with a 1 s stamp timeout (lease above the longest poll)."""
QUICK = {"AZS_HTTP_TIMEOUT": "1"}


def announcements(fake: FakeSlack) -> list[dict[str, Any]]:
    """Start announcements in the channel (their text is edited as the backup runs; their marker stays)."""
    return [m for m in fake.messages("CBACKUPS") if (m.get("metadata") or {}).get("event_type") == ANNOUNCE_EVENT]


def test_worker_frozen_while_its_post_is_in_flight_posts_nothing_when_it_wakes(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    """Step "send": Slack holds the post 2 s, then throttles it; the worker is frozen meanwhile."""
    stamp.backup_seconds = 1
    slack.start_backup()
    held = SlackFault(method="chat.postMessage", status=429, retry_after=1, delay=2.0)
    fake_slack.inject(held)
    first = start_worker(AZS_LEASE_SECONDS=LEASE, **QUICK)
    assert wait_until(lambda: held.times == 0, timeout=20)  # its outcome post is in Slack's hands
    # The lease runs out while it is frozen; woken, it gets its 429 and would retry: the fence check stops it.
    with frozen(first, hold=float(LEASE) + 0.5, settle=4.0):
        start_worker(AZS_LEASE_SECONDS=LEASE, **QUICK)
        assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=20)
    assert len(completions(fake_slack)) == 1


def test_worker_frozen_right_after_slack_accepted_its_post_is_not_repeated(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    """Step "record": the post is in the channel, the worker froze before recording it."""
    stamp.backup_seconds = 1
    slack.start_backup()
    fake_slack.inject(SlackFault(method="chat.postMessage", delay_after=3.0))
    first = start_worker(AZS_LEASE_SECONDS=LEASE, **QUICK)
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=20)
    with frozen(first, hold=float(LEASE) + 0.5):
        second = start_worker(AZS_LEASE_SECONDS=LEASE, **QUICK)
        assert wait_until(lambda: "an earlier attempt posted the outcome already" in second.log(), timeout=20)
    assert len(completions(fake_slack)) == 1


def test_worker_frozen_after_counting_its_attempt_and_before_posting_is_fenced(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    """Step "count, then check the fence": frozen in the 2 s wait between two throttled attempts."""
    stamp.backup_seconds = 1
    slack.start_backup()
    throttled = SlackFault(method="chat.postMessage", status=429, retry_after=2)
    fake_slack.inject(throttled)
    first = start_worker(AZS_LEASE_SECONDS="9", **QUICK)  # a 3 s budget: it waits out the 2 s Retry-After
    assert wait_until(lambda: throttled.times == 0, timeout=20)
    # Inside the wait (Slack's 429 taken, not merely sent): frozen earlier, it wakes past its budget and
    # gives up on the post without reaching the fence check this test is about.
    assert wait_until(lambda: "Slack throttles chat.postMessage" in first.log(), timeout=10)
    with frozen(first, hold=9.5, settle=0.0):
        start_worker(AZS_LEASE_SECONDS="9", **QUICK)
        assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=20)
    assert wait_until(lambda: "claim lost before a post" in first.log(), timeout=10)
    time.sleep(1.0)
    assert len(completions(fake_slack)) == 1


def test_throttling_longer_than_the_lease_delays_the_post_without_doubling_it(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    """slack_sdk's handler slept each Retry-After in full, past the lease; now the job waits it out unclaimed."""
    stamp.backup_seconds = 1
    slack.start_backup()
    fake_slack.inject(SlackFault(method="chat.postMessage", status=429, retry_after=10))
    workers = [start_worker(AZS_LEASE_SECONDS=LEASE, **QUICK), start_worker(AZS_LEASE_SECONDS=LEASE, **QUICK)]
    assert wait_until(lambda: any("ratelimited" in w.log() for w in workers), timeout=20)
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=30)
    # Timed by the local Slack's own records (when it refused, when the outcome came), not by when this test
    # noticed: on a busy machine the test sees the refusal late, and the wait would look shorter than it was.
    posts = fake_slack.calls("chat.postMessage")
    refused = next(r.at for r in posts if r.response.get("error") == "ratelimited")
    posted = next(r.at for r in posts if r.response.get("ok") and r.payload.get("thread_ts"))
    assert posted - refused >= 8.5  # Slack's Retry-After (10 s) was honoured, by the job, not a held post
    time.sleep(2.0)
    assert len(completions(fake_slack)) == 1


def test_refused_announcement_is_retried_and_the_outcome_threads_under_it(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    stamp.backup_seconds = 2
    fake_slack.inject(SlackFault(method="chat.postMessage", status=429, retry_after=10, times=1))
    slack.start_backup()
    assert announcements(fake_slack) == []  # the web process's short try gave up
    start_worker()
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=30)
    [announced] = announcements(fake_slack)
    assert completions(fake_slack)[0]["thread_ts"] == announced["ts"]


def test_announcement_that_never_gets_through_is_explained_in_the_outcome(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    stamp.backup_seconds = 6
    fake_slack.inject(SlackFault(method="chat.postMessage", status=500, times=5))  # the web's try + 4 retries
    slack.start_backup()
    start_worker()
    assert wait_until(lambda: "could not be posted" in json.dumps(fake_slack.messages("CBACKUPS")), timeout=40)
    [outcome] = fake_slack.messages("CBACKUPS")
    assert "succeeded" in str(outcome["text"]).lower() and not outcome.get("thread_ts")


COPYCAT = AppIdentity(app_id="A0COPYCAT", bot_id="B0COPYCAT", user_id="UCOPYCAT", name="copycat")


def copycat_posts(fake: FakeSlack, event_type: str, job_id: str) -> str:
    """Another app in the channel posts a message carrying the bot's marker for ``job_id``; returns its ts."""
    token = "xoxb-copycat-app"
    fake.add_app(token, COPYCAT)
    metadata = {"event_type": event_type, "event_payload": {"job_id": job_id}}
    response = WebClient(token=token, base_url=fake.api_url).chat_postMessage(
        channel="CBACKUPS", text="Backup done, all good", metadata=metadata
    )
    return str(response["ts"])


def the_bots(fake: FakeSlack, event_type: str) -> list[dict[str, Any]]:
    """The bot's own posts in the channel that carry ``event_type``."""
    return [
        m
        for m in fake.messages("CBACKUPS")
        if m.get("bot_id") == fake.identity.bot_id and (m.get("metadata") or {}).get("event_type") == event_type
    ]


def running_job_id(redis_client: redis.Redis) -> str:
    [job_id] = redis_client.smembers(active_jobs_key())
    return job_id.decode() if isinstance(job_id, bytes) else str(job_id)


def test_another_apps_marker_does_not_suppress_a_retried_outcome(
    slack: SlackClientSim,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    start_worker: StartWorker,
    redis_client: redis.Redis,
) -> None:
    """Issue 17, finding 8: the check for an earlier outcome post trusted any app's message with the marker."""
    stamp.backup_seconds = 1
    slack.start_backup()
    copycat_posts(fake_slack, REPORT_EVENT, running_job_id(redis_client))
    fake_slack.inject(SlackFault(method="chat.postMessage", status=500))  # the outcome's first try may have landed
    worker = start_worker()
    assert wait_until(lambda: len(the_bots(fake_slack, REPORT_EVENT)) == 1, timeout=30), worker.log()
    assert "posted the outcome already" not in worker.log()


def test_another_apps_marker_is_not_adopted_as_the_announcement(
    slack: SlackClientSim,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    start_worker: StartWorker,
    redis_client: redis.Redis,
) -> None:
    stamp.backup_seconds = 3
    fake_slack.inject(SlackFault(method="chat.postMessage", status=500))  # the web process's one try
    slack.start_backup()
    impostor = copycat_posts(fake_slack, ANNOUNCE_EVENT, running_job_id(redis_client))
    start_worker()
    assert wait_until(lambda: len(the_bots(fake_slack, REPORT_EVENT)) == 1, timeout=30)
    [announced] = the_bots(fake_slack, ANNOUNCE_EVENT)
    [outcome] = the_bots(fake_slack, REPORT_EVENT)
    assert outcome["thread_ts"] == announced["ts"] != impostor


def test_gateway_error_on_create_backup_goes_to_reconciliation_not_failure(
    start_web: StartWeb, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    _, slack = start_web(AZS_START_GRACE_SECONDS="2", **QUICK)
    stamp.inject(Fault(status=502, times=1, path_contains="createBackup"))
    _, hook = slack.click()
    reply = json.dumps(slack.wait_reply(hook, "does not say whether", timeout=15))
    assert "502" in reply
    _, again = slack.click()
    assert "already running" in json.dumps(slack.wait_reply(again, "already running", timeout=15))
    start_worker()
    assert wait_until(lambda: "did not start" in json.dumps(fake_slack.messages("CBACKUPS")), timeout=30)
    assert stamp.count("POST", "createBackup") >= 1


def test_definite_refusal_of_create_backup_is_a_failed_start(slack: SlackClientSim, stamp: StampSimulator) -> None:
    stamp.inject(Fault(status=409, times=1, path_contains="createBackup"))
    _, hook = slack.click()
    assert "Conflict" in json.dumps(slack.wait_reply(hook, "Conflict", timeout=15))
    assert slack.start_backup()  # the stamp is free again at once


def test_listener_client_waits_out_429s_for_a_few_seconds_at_most(fake_slack: FakeSlack) -> None:
    client = WebClient(
        token="xoxb-test-client", base_url=fake_slack.api_url, retry_handlers=[BoundedRateLimitRetryHandler(budget=3.0)]
    )
    fake_slack.inject(SlackFault(method="views.publish", status=429, retry_after=1))
    assert client.views_publish(user_id="U1", view={"type": "home", "blocks": []})["ok"]  # waited 1 s, then went
    fake_slack.inject(SlackFault(method="views.publish", status=429, retry_after=30))
    began = time.monotonic()
    with pytest.raises(SlackApiError):
        client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert time.monotonic() - began < 2.0  # slack_sdk's handler would have slept 30 s


@pytest.mark.parametrize(
    ("status", "code", "definite"),
    [
        (400, "BackupLocationNotConfigured", True),
        (409, "BackupOperationInProgress", True),
        (403, "Forbidden", True),
        (429, "TooManyRequests", True),
        (404, None, False),
        (408, "RequestTimeout", False),
        (500, "InternalError", False),
        (502, "BadGateway", False),
        (503, "ServiceUnavailable", False),
        (504, "GatewayTimeout", False),
        (None, None, False),
        (None, "AuthenticationFailed", True),
    ],
)
def test_only_a_4xx_with_an_arm_error_is_a_definite_refusal(
    status: int | None, code: str | None, definite: bool
) -> None:
    assert definite_refusal(StampError("start a backup", status=status, code=code)) is definite
