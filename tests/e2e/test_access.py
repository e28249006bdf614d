"""Who may do what, and the audit trail of what they did."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import redis

from bot.state.keys import audit_key
from devkit.localrun import BotProcess
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack, SlackFault
from tests.harness import SlackClientSim, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]


def test_operator_group_members_may_start_others_may_not(
    start_web: StartWeb, fake_slack: FakeSlack, stamp: StampSimulator
) -> None:
    fake_slack.usergroup_members["SOPS"] = ["UGROUPIE"]
    _, slack = start_web(AZS_OPERATORS="", AZS_OPERATOR_GROUP="SOPS")
    _, hook = slack.command("backup", user="UGROUPIE")
    slack.wait_reply(hook, "backup_start")
    _, hook = slack.command("backup", user="UOPER")
    slack.wait_reply(hook, "only backup operators")
    _, hook = slack.click(user="UGROUPIE")
    slack.wait_reply(hook, "started infrastructure backup")
    assert len(fake_slack.calls("usergroups.users.list")) == 1  # cached


def test_group_lookup_failure_fails_closed(start_web: StartWeb, fake_slack: FakeSlack) -> None:
    fake_slack.inject(SlackFault(method="usergroups.users.list", error="missing_scope", times=5))
    fake_slack.usergroup_members["SOPS"] = ["UGROUPIE"]
    _, slack = start_web(AZS_OPERATORS="", AZS_OPERATOR_GROUP="SOPS")
    _, hook = slack.click(user="UGROUPIE")
    slack.wait_reply(hook, "only backup operators")


def test_nobody_may_start_when_no_operator_is_configured(start_web: StartWeb, stamp: StampSimulator) -> None:
    _, slack = start_web(AZS_OPERATORS="")
    starts = stamp.count("POST", "createBackup")
    _, hook = slack.click()
    assert "No operator is configured yet" in json.dumps(slack.wait_reply(hook, "No operator"))
    assert stamp.count("POST", "createBackup") == starts


def test_channel_allow_list_applies_to_every_command(start_web: StartWeb) -> None:
    _, slack = start_web(AZS_CHANNELS="CBACKUPS")
    _, hook = slack.command("backup list", user="UANYONE")
    slack.wait_reply(hook, "Latest backups")
    for text in ("backup list", "backup"):
        _, hook = slack.command(text, channel="CRANDOM")
        slack.wait_reply(hook, "not enabled in <#CRANDOM>")
    _, hook = slack.click(channel="CRANDOM")
    slack.wait_reply(hook, "not enabled")


def test_audit_trail_records_commands_and_clicks_for_operators_only(
    slack: SlackClientSim, redis_client: redis.Redis
) -> None:
    slack.command("backup list", user="UANYONE")
    _, hook = slack.click(user="UINTRUDER")
    slack.wait_reply(hook, "only backup operators")
    assert wait_until(lambda: redis_client.xlen(audit_key()) >= 2, timeout=5)
    _, hook = slack.command("backup audit", user="UANYONE")
    slack.wait_reply(hook, "only backup operators")
    time.sleep(0.3)
    _, hook = slack.command("backup audit")
    trail = json.dumps(slack.wait_reply(hook, "Audit trail"))
    assert "<@UINTRUDER>" in trail and "start-click" in trail and "refused" in trail
    assert "<@UANYONE>" in trail and "`list`" in trail
