"""A process killed at every step of a backup's life leaves nothing unexplained or unreported."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

import redis

from bot.state.keys import job_key
from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim, completions, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]
StartWorker = Callable[..., BotProcess]


def channel_text(fake: FakeSlack) -> str:
    return json.dumps(fake.messages("CBACKUPS"))


def test_web_killed_before_the_stamp_got_the_start_tells_the_requester(
    start_web: StartWeb, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    web, slack = start_web(AZS_START_GRACE_SECONDS="2", AZS_HTTP_TIMEOUT="1")
    stamp.inject(Fault(status=503, delay=3.0, times=1, path_contains="createBackup"))
    slack.click()
    assert wait_until(lambda: stamp.state()["pending_faults"] == 0, timeout=10)  # createBackup in flight
    web.kill()  # dies while its createBackup is in flight; the stamp then refuses it
    start_worker()
    assert wait_until(lambda: "did not start" in channel_text(fake_slack), timeout=20)
    assert "<@UOPER>" in channel_text(fake_slack)
    assert stamp.running_backup_id() is None
    _, again = start_web()[1].click()
    assert "started infrastructure backup" in json.dumps(slack.wait_reply(again, "started", timeout=10))


def test_web_killed_after_the_stamp_started_the_backup_is_adopted_and_reported(
    start_web: StartWeb, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    web, slack = start_web(AZS_START_GRACE_SECONDS="2", AZS_HTTP_TIMEOUT="1")
    stamp.backup_seconds = 4
    stamp.inject(Fault(status=0, delay=2.0, times=1, path_contains="createBackup"))
    slack.click()
    assert wait_until(lambda: stamp.state()["pending_faults"] == 0, timeout=10)
    web.kill()
    assert wait_until(lambda: stamp.running_backup_id() is not None, timeout=5)
    backup_id = str(stamp.running_backup_id())
    start_worker()
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=30)
    text = channel_text(fake_slack)
    assert text.count(backup_id) >= 2 and "succeeded" in text


def test_stamp_silent_on_start_is_reconciled_not_failed(
    start_web: StartWeb, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    _, slack = start_web(AZS_START_GRACE_SECONDS="2", AZS_HTTP_TIMEOUT="1")
    stamp.backup_seconds = 3
    stamp.inject(Fault(status=0, delay=2.0, times=1, path_contains="createBackup"))
    _, hook = slack.click()
    assert "did not answer" in json.dumps(slack.wait_reply(hook, "did not answer", timeout=10))
    start_worker()
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=30)
    assert str(stamp.count("POST", "createBackup"))


def test_operation_url_404_falls_back_to_the_backup_by_id(
    slack: SlackClientSim, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    stamp.backup_seconds = 2
    slack.start_backup()
    stamp.inject(Fault(status=404, times=100, path_contains="operationResults"))
    by_id = stamp.count("GET", "/backups/")
    start_worker()
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=30)
    assert stamp.count("GET", "/backups/") > by_id
    assert "succeeded" in channel_text(fake_slack)


def test_worker_stops_cleanly_on_sigterm(
    slack: SlackClientSim, start_worker: StartWorker, stamp: StampSimulator
) -> None:
    stamp.backup_seconds = 60
    slack.start_backup()
    worker = start_worker()
    polls = stamp.count("GET", "operationResults")
    assert wait_until(lambda: stamp.count("GET", "operationResults") > polls, timeout=10)
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    worker.process.wait(timeout=10)
    assert time.monotonic() - started < 10 and worker.process.returncode == 0
    assert "poller stopped" in worker.log()


def test_overdue_backup_is_reported_once_and_still_followed(
    slack: SlackClientSim, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    stamp.backup_seconds = 4
    slack.start_backup()
    start_worker(AZS_BACKUP_TIMEOUT="1")
    assert wait_until(lambda: "has been running for more than" in channel_text(fake_slack), timeout=10)
    assert wait_until(lambda: "succeeded" in channel_text(fake_slack), timeout=20)
    assert sum("has been running for more than" in m["text"] for m in fake_slack.messages("CBACKUPS")) == 1


def test_worker_killed_after_slack_took_the_outcome_does_not_post_it_twice(
    slack: SlackClientSim, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    from devkit.slack_fake import SlackFault

    stamp.backup_seconds = 1
    slack.start_backup()
    fake_slack.inject(SlackFault(method="chat.postMessage", delay_after=30, times=1))
    first = start_worker(AZS_LEASE_SECONDS="8", AZS_HTTP_TIMEOUT="1")  # the shortest lease a 1 s timeout allows
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=20)
    first.kill()  # Slack stored the message; the worker never heard back nor marked the job reported
    second = start_worker(AZS_LEASE_SECONDS="8", AZS_HTTP_TIMEOUT="1")
    assert wait_until(lambda: "posted the outcome already" in second.log(), timeout=20)
    time.sleep(1)
    assert len(completions(fake_slack)) == 1


def test_state_survives_a_redis_restart_with_persistence_and_the_worker_reconnects(
    start_web: StartWeb, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    from devkit.localrun import RedisServer

    persistent = RedisServer(persistent=True)
    persistent.start()
    try:
        _, slack = start_web(REDIS_URL=persistent.url)
        stamp.backup_seconds = 5
        slack.start_backup()
        worker = start_worker(REDIS_URL=persistent.url)
        polls = stamp.count("GET", "operationResults")
        assert wait_until(lambda: stamp.count("GET", "operationResults") > polls, timeout=10)  # it follows the job
        persistent.stop()
        assert wait_until(lambda: "redis unavailable" in worker.log(), timeout=10)
        persistent.start()
        assert wait_until(lambda: bool(completions(fake_slack)), timeout=40)
        time.sleep(1)
        assert len(completions(fake_slack)) == 1
        assert "lost its data" not in worker.log()
    finally:
        persistent.stop()


def test_operation_url_on_another_host_gets_no_token_and_the_backup_is_followed_by_id(
    slack: SlackClientSim,
    start_worker: StartWorker,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    redis_client: redis.Redis,
) -> None:
    stamp.backup_seconds = 3
    slack.start_backup()
    [key] = redis_client.keys(job_key("*"))
    foreign = stamp.url.replace("127.0.0.1", "localhost") + "/operationResults/x?api-version=2018-09-01"
    redis_client.hset(key, "poll_url", foreign)  # as if the stamp had named another host
    seen = len(stamp.requests_log)
    worker = start_worker()
    assert wait_until(lambda: "succeeded" in channel_text(fake_slack), timeout=20), channel_text(fake_slack)
    assert not [r for r in stamp.requests_log[seen:] if "operationResults/x" in r.path]
    assert [r for r in stamp.requests_log[seen:] if r.kind == "backup"]
    assert "not on the configured endpoint" in worker.log()


def test_web_stops_cleanly_on_sigterm(start_web: StartWeb) -> None:
    web, slack = start_web()
    _, hook = slack.command("backup status")
    slack.wait_reply(hook, "No backup")
    started = time.monotonic()
    web.signal(signal.SIGTERM)
    web.process.wait(timeout=10)
    assert time.monotonic() - started < 10 and web.process.returncode == 0


def test_web_killed_after_announcing_leaves_the_worker_to_report(
    start_web: StartWeb, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    web, slack = start_web()
    stamp.backup_seconds = 2
    slack.start_backup()
    web.kill()
    start_worker()
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=30)
