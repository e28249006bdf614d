"""Replays and Slack's retries are answered without acting again (issue 17, finding 6).

A signed request stays valid for Slack's five-minute window: whoever captured its bytes could send them
again. The web refuses a signature it has seen (answering 200, so Slack would not retry, and doing
nothing), and a delivery whose Slack id (``event_id``, ``trigger_id``) it has handled, which is what a
retry of Slack's own (``X-Slack-Retry-Num``, new timestamp and so a new signature) looks like. Each test
proves a negative by waiting for a later request in the same lane: work the replay would have queued
runs before it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from urllib.parse import urlencode

import redis

from bot.ops import outage
from bot.serve.front_door import ReplayGuard, delivery_ids
from bot.state.connection import connect
from bot.state.inbox import item_id_for
from bot.state.job import Job
from bot.state.jobs import JobStore
from bot.words.replies import START_ACTION_ID
from devkit.localrun import click_payload, command_form
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.conftest import SIGNING_SECRET
from tests.harness import BotProcess, RedisServer, SlackClientSim, completions, free_port, sign, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]
StartWorker = Callable[..., BotProcess]


def signed_command(slack: SlackClientSim, text: str, user: str = "UOPER") -> tuple[str, dict[str, str], str]:
    """The exact body and headers Slack would send for ``/azs <text>``, and the reply's hook."""
    hook = f"cmd{time.monotonic_ns()}"
    body = urlencode(command_form(text, user=user, channel="CBACKUPS", response_url=slack.response_url(hook)))
    return body, sign(SIGNING_SECRET, body), hook


def signed_click(slack: SlackClientSim) -> tuple[str, dict[str, str], str]:
    hook = f"click{time.monotonic_ns()}"
    payload = click_payload(
        START_ACTION_ID, user="UOPER", channel="CBACKUPS", value="sim-stamp", response_url=slack.response_url(hook)
    )
    body = urlencode({"payload": json.dumps(payload)})
    return body, sign(SIGNING_SECRET, body), hook


def home_event(user: str, event_id: str) -> str:
    return json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"},
        }
    )


def json_headers(body: str, timestamp: int | None = None, retry: int = 0) -> dict[str, str]:
    headers = {**sign(SIGNING_SECRET, body, timestamp), "Content-Type": "application/json"}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return headers


def published_for(fake: FakeSlack, user: str) -> int:
    return sum(1 for c in fake.calls("views.publish") if c.payload.get("user_id") == user)


def settle(slack: SlackClientSim, text: str = "backup status") -> None:
    """A fresh command in the same lane, answered: anything queued before it has run."""
    _, hook = slack.command(text)
    slack.wait_reply(hook, timeout=15)


def test_the_same_signed_bytes_twice_get_one_reply(slack: SlackClientSim) -> None:
    body, headers, hook = signed_command(slack, "backup status")
    assert slack.post(body, headers).status_code == 200
    slack.wait_reply(hook)
    replayed = slack.post(body, headers)
    assert replayed.status_code == 200 and replayed.text == ""  # acknowledged, so Slack would not retry
    settle(slack)
    assert len(slack.replies(hook)) == 1


def test_a_captured_start_click_replayed_starts_nothing(
    slack: SlackClientSim,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    start_worker: StartWorker,
    redis_client: redis.Redis,
) -> None:
    """Replayed after the first backup ended (the stamp is free again), the click used to start a second one."""
    start_worker()
    creates = stamp.count("POST", "createBackup")
    body, headers, hook = signed_click(slack)
    assert slack.post(body, headers).status_code == 200
    slack.wait_reply(hook, "started infrastructure backup")
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=20)
    replies = len(slack.replies(hook))
    assert slack.post(body, headers).status_code == 200
    settle(slack, "backup")  # the Start card: the operator's lane, where the click runs
    assert stamp.count("POST", "createBackup") == creates + 1
    assert len(redis_client.keys("azs:job:*")) == 1
    assert len(slack.replies(hook)) == replies


def test_slack_retry_of_a_handled_event_is_acknowledged_not_handled_again(
    start_web: StartWeb, fake_slack: FakeSlack, stamp: StampSimulator
) -> None:
    """The retry goes to another web process (a per-process memory would not know it) with a new signature."""
    _, first = start_web()
    _, second = start_web()
    body = home_event("UHOMER", f"Ev{time.monotonic_ns()}")
    assert first.post(body, json_headers(body)).status_code == 200
    assert wait_until(lambda: published_for(fake_slack, "UHOMER") == 1, timeout=10)
    retry = second.post(body, json_headers(body, int(time.time()) + 1, retry=1))
    assert retry.status_code == 200
    later = home_event("ULATER", f"Ev{time.monotonic_ns()}")
    assert second.post(later, json_headers(later)).status_code == 200
    assert wait_until(lambda: published_for(fake_slack, "ULATER") == 1, timeout=10)
    assert published_for(fake_slack, "UHOMER") == 1


def test_a_command_sent_again_with_a_new_signature_is_not_answered_twice(slack: SlackClientSim) -> None:
    """Same ``trigger_id``, fresh timestamp: what a retry looks like; Slack makes one trigger per command."""
    body, headers, hook = signed_command(slack, "backup status")
    assert slack.post(body, headers).status_code == 200
    slack.wait_reply(hook)
    again = {**sign(SIGNING_SECRET, body, int(time.time()) + 1), "X-Slack-Retry-Num": "1"}
    assert slack.post(body, again).status_code == 200
    settle(slack)
    assert len(slack.replies(hook)) == 1


def test_two_web_processes_share_the_refusal(start_web: StartWeb) -> None:
    _, first = start_web()
    _, second = start_web()
    body, headers, hook = signed_command(first, "backup status")
    assert first.post(body, headers).status_code == 200
    first.wait_reply(hook)
    assert second.post(body, headers).status_code == 200
    settle(second)
    assert len(first.replies(hook)) == 1


def test_with_redis_down_a_command_still_says_so_and_its_replay_is_still_refused(
    start_web: StartWeb, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """The replay reaches the same process: its own memory refuses it while Redis cannot be asked."""
    _, slack = start_web()
    settle(slack)
    redis_server.stop()
    try:
        body, headers, hook = signed_command(slack, "backup status")
        assert slack.post(body, headers).status_code == 200
        slack.wait_reply(hook, "is not answering")
        assert slack.post(body, headers).status_code == 200
        _, later = slack.command("backup status")
        slack.wait_reply(later, "is not answering")
        assert len(slack.replies(hook)) == 1
    finally:
        redis_server.start()


def test_delivery_ids_are_slacks_own_and_only_well_formed_ones() -> None:
    assert delivery_ids({"event_id": "Ev1", "type": "event_callback"}) == ["event_id:Ev1"]
    assert delivery_ids({"command": "/azs", "trigger_id": "1.2.ab"}) == ["trigger_id:1.2.ab"]
    click = {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_ts": "17.5"}]}
    assert delivery_ids(click) == ["action:U1:17.5"]
    assert delivery_ids({**click, "trigger_id": "9.9.9"}) == ["trigger_id:9.9.9"]
    for odd in ({"trigger_id": ["x"]}, {"event_id": ""}, {"actions": "x"}, {"actions": [1]}, {"trigger_id": "x" * 300}):
        assert delivery_ids(odd) == []


def test_replay_guard_is_shared_releases_failed_deliveries_and_remembers_while_redis_is_down(
    redis_client: redis.Redis,
) -> None:
    outage.REDIS.ok()
    first, second = ReplayGuard(redis_client), ReplayGuard(redis_client)  # two web processes
    assert first.seen_before("v0=aa", ["trigger_id:1"]) is None
    assert first.seen_before("v0=aa", ["trigger_id:1"]) == "replay"
    assert second.seen_before("v0=aa", ["trigger_id:1"]) == "replay"
    assert second.seen_before("v0=bb", ["trigger_id:1"]) == "retry"  # Slack's retry: new signature, same id
    first.forget(["trigger_id:1"])  # the first attempt failed: its retry is acted on
    assert ReplayGuard(redis_client).seen_before("v0=cc", ["trigger_id:1"]) is None
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    cut_off = ReplayGuard(unreachable)
    try:
        assert cut_off.seen_before("v0=dd", ["trigger_id:2"]) is None  # fails open across processes
        assert outage.REDIS.down
        assert cut_off.seen_before("v0=dd", ["trigger_id:2"]) == "replay"  # but not in this one
        assert cut_off.seen_before("v0=ee", ["trigger_id:2"]) == "retry"
    finally:
        outage.REDIS.ok()


def test_copies_of_one_click_name_the_same_job(redis_client: redis.Redis) -> None:
    """A copy that got past the door while Redis was down there finds the job the first one reserved."""
    first, copy = item_id_for("click", "1.2.3"), item_id_for("click", "1.2.3")
    assert first == copy != item_id_for("click", "1.2.4") and len(first) == 32
    assert item_id_for("click", "") != item_id_for("click", "")  # no Slack id: nothing to match on
    store = JobStore(connect(f"redis://127.0.0.1:{redis_client.connection_pool.connection_kwargs['port']}/0"))
    assert store.reserve(Job(job_id=first, stamp="s", requester="U", channel="C"), reconcile_after=60) is None
    holder = store.reserve(Job(job_id=copy, stamp="s", requester="U", channel="C"), reconcile_after=60)
    assert holder is not None and holder.job_id == first
