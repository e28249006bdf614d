"""Races, restarts and outages: nothing is lost and nothing is reported twice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import redis
import requests

from bot.state.keys import meta_key
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import BotProcess, RedisServer, SlackClientSim, completions, free_port, frozen, page_text, wait_until


def test_concurrent_clicks_start_exactly_one_backup(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    stamp.backup_seconds = 30
    starts = stamp.count("POST", "createBackup")
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda i: slack.click(user="UOPER" if i % 2 else "UOTHEROP"), range(12)))
    assert all(response.status_code == 200 for response, _ in results)
    hooks = [hook for _, hook in results]
    assert wait_until(
        lambda: all(slack.replies(h) and "Starting" not in json.dumps(slack.replies(h)[-1]) for h in hooks), timeout=15
    )
    finals = [json.dumps(slack.replies(h)[-1]) for h in hooks]
    assert sum("started infrastructure backup" in f for f in finals) == 1
    assert sum("already running" in f for f in finals) == 11
    running = stamp.running_backup_id()
    assert running and all(running in f or "still being started" in f for f in finals)
    assert stamp.count("POST", "createBackup") == starts + 1
    assert len(fake_slack.messages("CBACKUPS")) == 1


def test_start_while_a_backup_runs_names_it_requester_and_time(slack: SlackClientSim, stamp: StampSimulator) -> None:
    stamp.backup_seconds = 30
    backup_id = slack.start_backup()
    _, hook = slack.click(user="UOTHEROP")
    reply = json.dumps(slack.wait_reply(hook, "already running"))
    assert backup_id in reply and "<@UOPER>" in reply and "UTC" in reply
    _, hook = slack.command("backup", user="UOTHEROP")
    assert backup_id in json.dumps(slack.wait_reply(hook, "already running"))


def test_worker_killed_mid_backup_then_restarted_posts_once(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: Callable[..., BotProcess]
) -> None:
    stamp.backup_seconds = 4
    backup_id = slack.start_backup()
    polls = stamp.count("GET", "operationResults")
    # Killed at any moment, possibly holding its claim on the job (on a busy machine it nearly always is):
    # the replacement waits out the lease, so keep it short (the shortest the settings allow with 1 s calls).
    short_lease = {"AZS_LEASE_SECONDS": "8", "AZS_HTTP_TIMEOUT": "1"}
    worker = start_worker(**short_lease)
    assert wait_until(lambda: stamp.count("GET", "operationResults") >= polls + 2, timeout=10)
    worker.kill()
    assert completions(fake_slack) == []
    start_worker(**short_lease)
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=30)
    time.sleep(1.5)
    [done] = completions(fake_slack)
    assert backup_id in json.dumps(done)


def test_two_workers_post_once(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: Callable[..., BotProcess]
) -> None:
    stamp.backup_seconds = 2
    slack.start_backup()
    start_worker(), start_worker(), start_worker()
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=30)
    time.sleep(2.0)
    assert len(completions(fake_slack)) == 1


def test_stopped_worker_resuming_after_its_lease_moved_cannot_post_again(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: Callable[..., BotProcess]
) -> None:
    stamp.backup_seconds = 1
    stamp.inject(Fault(status=0, delay=6.0, times=1, path_contains="operationResults"))
    slack.start_backup()
    # The shortest lease the settings allow with a 3 s timeout (3 s x 2 calls + 5 s < 12 s).
    first = start_worker(AZS_LEASE_SECONDS="12", AZS_HTTP_TIMEOUT="3")
    # Started, claimed the job and now waits inside the delayed poll (the simulator has taken the fault).
    assert wait_until(lambda: stamp.state()["pending_faults"] == 0, timeout=20)
    with frozen(first, settle=4.0):  # frozen inside its delayed poll, holding a lease that expires within 12 s
        start_worker(AZS_LEASE_SECONDS="12", AZS_HTTP_TIMEOUT="3")
        assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=30)
    assert len(completions(fake_slack)) == 1


def test_redis_down_gives_a_clear_reply_and_healthz_503(
    slack: SlackClientSim, redis_server: RedisServer, web: str, redis_client: redis.Redis
) -> None:
    requests.get(f"{web}/healthz", timeout=5)
    meta = redis_client.hgetall(meta_key())
    redis_server.stop()
    started = time.monotonic()
    response, hook = slack.command("backup status")
    assert response.status_code == 200
    reply = json.dumps(slack.wait_reply(hook, "Redis", timeout=5))
    assert time.monotonic() - started < 3.0
    assert "not answering" in reply
    health = requests.get(f"{web}/healthz", timeout=5)
    assert health.status_code == 503 and "redis" in health.json()["reason"]
    _, hook = slack.click()
    assert "Redis" in json.dumps(slack.wait_reply(hook, "Redis", timeout=5))
    redis_server.start()
    redis_client.hset(meta_key(), mapping=cast(Any, meta))  # as a Redis with persistence would come back
    assert requests.get(f"{web}/healthz", timeout=5).status_code == 200


def test_arm_throttling_and_errors_while_polling_lose_nothing(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: Callable[..., BotProcess]
) -> None:
    stamp.backup_seconds = 1
    backup_id = slack.start_backup()
    polls = stamp.count("GET", "operationResults")
    stamp.inject(Fault(status=429, retry_after="1", times=3, path_contains="operationResults"))
    stamp.inject(Fault(status=503, times=3, path_contains="operationResults"))
    stamp.inject(Fault(status=0, body='{"status": "Succ', times=2, path_contains="operationResults"))
    start_worker()
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=45)
    assert backup_id in json.dumps(completions(fake_slack)[0])
    assert stamp.count("GET", "operationResults") >= polls + 8


def test_slack_throttling_on_the_completion_post_loses_nothing(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: Callable[..., BotProcess]
) -> None:
    from devkit.slack_fake import SlackFault

    stamp.backup_seconds = 1
    slack.start_backup()
    fake_slack.inject(SlackFault(method="chat.postMessage", status=429, retry_after=1, times=2))
    fake_slack.inject(SlackFault(method="chat.postMessage", status=503, times=2))
    start_worker()
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=45)
    time.sleep(1)
    assert len(completions(fake_slack)) == 1


def test_channel_closed_to_the_bot_sends_the_outcome_to_the_requester(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: Callable[..., BotProcess]
) -> None:
    from devkit.slack_fake import SlackFault

    stamp.backup_seconds = 1
    backup_id = slack.start_backup()
    fake_slack.inject(SlackFault(method="chat.postMessage", error="not_in_channel", times=1))
    worker = start_worker()
    assert wait_until(lambda: bool(fake_slack.messages("DUOPER")), timeout=30)
    assert backup_id in json.dumps(fake_slack.messages("DUOPER")[0])
    assert "not_in_channel" in worker.log()


def test_emptied_redis_is_reported_on_healthz_and_in_the_log(
    slack: SlackClientSim, web: str, redis_client: redis.Redis, start_worker: Callable[..., BotProcess]
) -> None:
    assert requests.get(f"{web}/healthz", timeout=5).status_code == 200
    port = free_port()
    worker = start_worker(AZS_METRICS_PORT=str(port))
    # Its first housekeeping has read the epoch once the problem gauges it sets are on /metrics.
    assert wait_until(
        lambda: 'azs_problem{component="redis-data"} 0.0' in page_text(f"http://127.0.0.1:{port}/metrics")
    )
    redis_client.flushall()
    assert wait_until(lambda: requests.get(f"{web}/healthz", timeout=5).status_code == 503, timeout=15)
    assert "lost its data" in requests.get(f"{web}/healthz", timeout=5).json()["reason"]
    assert wait_until(lambda: "lost its data" in worker.log(), timeout=10)


def test_slack_rejecting_the_token_is_loud_and_fails_healthz(
    slack: SlackClientSim,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    web: str,
    start_worker: Callable[..., BotProcess],
) -> None:
    from devkit.slack_fake import SlackFault

    stamp.backup_seconds = 1
    slack.start_backup()
    fake_slack.inject(SlackFault(method="chat.postMessage", error="invalid_auth", times=1))
    worker = start_worker()

    def slack_problem() -> str:
        response = requests.get(f"{web}/healthz", timeout=5)
        return str(response.json().get("problems", {}).get("slack", "")) if response.status_code == 503 else ""

    assert wait_until(lambda: "invalid_auth" in slack_problem(), timeout=20)
    assert "invalid_auth" in worker.log()
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=30)  # retried once the token works
    assert wait_until(lambda: slack_problem() == "", timeout=10)
