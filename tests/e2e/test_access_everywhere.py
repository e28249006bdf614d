"""Findings 4 and 5 of issue 11: App Home and unknown stamps respect access rules; the operator group ages out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import redis
from slack_sdk import WebClient

from bot.commands.access import AccessPolicy
from bot.state.audit import AuditLog
from devkit.localrun import BotProcess, sign
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack, SlackFault
from tests.conftest import SIGNING_SECRET
from tests.harness import SlackClientSim, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]


def open_home(slack: SlackClientSim, user: str) -> None:
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"},
        }
    )
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": "application/json"}
    assert slack.post(body, headers).status_code == 200


def published_for(fake: FakeSlack, user: str) -> list[str]:
    return [json.dumps(c.payload) for c in fake.calls("views.publish") if c.payload.get("user_id") == user]


def test_app_home_with_an_allow_list_shows_stamps_to_operators_only_cached_and_rate_limited(
    start_web: StartWeb, fake_slack: FakeSlack, stamp: StampSimulator, redis_client: redis.Redis
) -> None:
    _, slack = start_web(AZS_CHANNELS="CBACKUPS")
    reads = stamp.count("GET", "")
    open_home(slack, "UANYONE")
    assert wait_until(lambda: bool(published_for(fake_slack, "UANYONE")), timeout=10)
    [view] = published_for(fake_slack, "UANYONE")
    assert "sim-stamp" not in view and "Free capacity" not in view and "operators only" in view
    assert stamp.count("GET", "") == reads  # nothing was read from the stamp for them
    assert wait_until(
        lambda: any(e.action == "home" and e.user == "UANYONE" for e in AuditLog(redis_client).latest()), timeout=5
    )

    open_home(slack, "UOPER")
    assert wait_until(lambda: bool(published_for(fake_slack, "UOPER")), timeout=10)
    assert "Free capacity" in published_for(fake_slack, "UOPER")[0]
    after_first = stamp.count("GET", "")
    open_home(slack, "UOPER")  # again at once: rate-limited, Slack keeps showing the last view
    open_home(slack, "UOTHEROP")  # another operator within the minute: the cached sections
    assert wait_until(lambda: bool(published_for(fake_slack, "UOTHEROP")), timeout=10)
    time.sleep(0.5)
    assert len(published_for(fake_slack, "UOPER")) == 1
    assert stamp.count("GET", "") == after_first


def test_unknown_stamp_from_a_blocked_channel_names_no_stamp_and_is_audited(
    start_web: StartWeb, redis_client: redis.Redis
) -> None:
    _, slack = start_web(AZS_CHANNELS="CBACKUPS")
    _, hook = slack.command("backup nosuch list", user="UANYONE", channel="CRANDOM")
    reply = json.dumps(slack.wait_reply(hook, "not enabled"))
    assert "sim-stamp" not in reply
    assert wait_until(
        lambda: any(
            e.stamp == "nosuch" and e.channel == "CRANDOM" and "refused" in e.outcome
            for e in AuditLog(redis_client).latest()
        ),
        timeout=5,
    )


def test_operator_group_fails_closed_past_its_max_age_and_backs_off(start_web: StartWeb, fake_slack: FakeSlack) -> None:
    fake_slack.usergroup_members["SOPS"] = ["UGROUPIE"]
    _, slack = start_web(AZS_OPERATORS="", AZS_OPERATOR_GROUP="SOPS", AZS_OPERATOR_GROUP_MAX_AGE="2")
    _, hook = slack.command("backup audit", user="UGROUPIE")
    slack.wait_reply(hook, "udit trail")
    fake_slack.inject(SlackFault(method="usergroups.users.list", error="missing_scope", times=100))
    time.sleep(2.5)  # the members read before Slack started failing are now too old to trust
    lookups = len(fake_slack.calls("usergroups.users.list"))
    for _ in range(4):
        _, hook = slack.command("backup audit", user="UGROUPIE")
        slack.wait_reply(hook, "only backup operators")
    assert len(fake_slack.calls("usergroups.users.list")) - lookups <= 1  # backing off: no call per check


def test_a_slow_group_lookup_does_not_hold_up_other_checks(fake_slack: FakeSlack) -> None:
    """One thread refreshes the member list; the others answer from what is known, without waiting."""
    fake_slack.usergroup_members["SOPS"] = ["UGROUPIE"]
    client = WebClient(token="xoxb-test-access", base_url=fake_slack.api_url)
    policy = AccessPolicy(frozenset(), group="SOPS", client=client, cache_seconds=0.2, max_age=60.0)
    assert policy.is_operator("UGROUPIE")
    time.sleep(0.3)  # the list is due for a refresh, and Slack has become slow
    fake_slack.inject(SlackFault(method="usergroups.users.list", delay=2.0))
    refresher = threading.Thread(target=policy.is_operator, args=("UGROUPIE",))
    refresher.start()
    time.sleep(0.2)  # the refresher is now waiting for Slack
    began = time.monotonic()
    assert all(policy.is_operator("UGROUPIE") for _ in range(5))
    assert time.monotonic() - began < 0.5
    refresher.join(timeout=5)
    assert len(fake_slack.calls("usergroups.users.list")) == 2  # the first read and the one refresh
