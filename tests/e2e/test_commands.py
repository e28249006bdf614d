"""Every /azs reply, driven through signed HTTP requests to the running app."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.conftest import SIGNING_SECRET
from tests.harness import SlackClientSim, sign


@pytest.mark.parametrize(
    "text",
    [
        "",
        "help",
        "backup help",
        "frobnicate",
        "backup show",
        "backup show nope",
        "backup list extra",
        "<!channel> `rm -rf`",
    ],
)
def test_help_and_malformed_input_get_usage_in_the_ack(slack: SlackClientSim, text: str) -> None:
    started = time.monotonic()
    response, _ = slack.command(text)
    assert time.monotonic() - started < 3
    assert response.status_code == 200
    body = response.json()
    assert "/azs backup status" in body["text"]
    assert "<!channel>" not in json.dumps(body)


def test_forged_stale_and_unsigned_requests_are_refused(slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    body = urlencode(
        {
            "command": "/azs",
            "text": "backup status",
            "user_id": "UOPER",
            "channel_id": "C1",
            "response_url": fake_slack.response_url("forged"),
        }
    )
    assert slack.post(body, sign("not-the-secret", body)).status_code == 401
    assert slack.post(body, sign(SIGNING_SECRET, body, timestamp=int(time.time()) - 301)).status_code == 401
    tampered = sign(SIGNING_SECRET, body)
    assert slack.post(body.replace("status", "start"), tampered).status_code == 401
    assert slack.post(body, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
    assert slack.post(body, sign(SIGNING_SECRET, body)).status_code == 200
    time.sleep(0.5)
    assert [p.method for p in fake_slack.hook_posts()] == ["forged"]


def test_non_operator_is_refused_and_nothing_starts(slack: SlackClientSim, stamp: StampSimulator) -> None:
    starts = stamp.count("POST", "createBackup")
    _, hook = slack.command("backup", user="UINTRUDER")
    slack.wait_reply(hook, "only backup operators")
    response, hook = slack.click(user="UINTRUDER")
    assert response.status_code == 200
    slack.wait_reply(hook, "only backup operators")
    time.sleep(0.3)
    assert stamp.count("POST", "createBackup") == starts


def test_confirmation_shows_stamp_region_last_backup_and_capacity(slack: SlackClientSim) -> None:
    _, hook = slack.command("backup start")
    card = json.dumps(slack.wait_reply(hook, "backup_start"))
    for expected in ("sim-stamp", "local", "Last backup", "1.00 TB", "Start backup", "primary"):
        assert expected in card


def test_list_is_newest_first_with_kind(slack: SlackClientSim, stamp: StampSimulator) -> None:
    newest = stamp.run_scheduled_backup("Failed")
    _, hook = slack.command("backup list")
    reply = slack.wait_reply(hook, "Latest backups")
    lines = reply["blocks"][0]["text"]["text"].splitlines()
    assert newest in lines[1] and "scheduled" in lines[1] and "Failed" in lines[1]
    assert len(lines) > 3


def test_show_gives_role_statuses_and_config_gives_location(slack: SlackClientSim, stamp: StampSimulator) -> None:
    backup_id = stamp.run_scheduled_backup("PartialSucceeded")
    _, hook = slack.command(f"backup show {backup_id.upper()}")
    detail = json.dumps(slack.wait_reply(hook, backup_id))
    assert "Roles" in detail and "Failed" in detail
    _, hook = slack.command("backup show 00000000-0000-0000-0000-000000000000")
    assert "has no backup" in json.dumps(slack.wait_reply(hook, "has no backup"))
    _, hook = slack.command("backup config")
    config = json.dumps(slack.wait_reply(hook, "Backup configuration"))
    for expected in ("Scheduler", "every 12 h", "7 days", "1.00 TB", "Encryption certificate"):
        assert expected in config


def test_status_lists_running_backups_with_requester(slack: SlackClientSim, stamp: StampSimulator) -> None:
    stamp.backup_seconds = 60
    slack.start_backup()
    _, hook = slack.command("backup status")
    status = json.dumps(slack.wait_reply(hook, "Running backups"))
    assert str(stamp.running_backup_id()) in status and "<@UOPER>" in status


def test_stamp_errors_become_replies_not_silence(slack: SlackClientSim, stamp: StampSimulator) -> None:
    from devkit.simulator import Fault

    stamp.inject(Fault(status=403, times=10, path_contains="backups"))
    _, hook = slack.command("backup list")
    reply = json.dumps(slack.wait_reply(hook, "could not list backups"))
    assert "permission" in reply


def test_every_verb_in_the_command_table_reaches_its_runner(slack: SlackClientSim) -> None:
    """Driven from bot/commands/table.py alone: a new row is tested here with no test of its own for the plumbing."""
    from bot.commands.table import TABLE, Action
    from tests.unit.commands.test_command_table import sample_text

    for verb in (v for v in TABLE if v.under_backup and v.action != Action.HELP):
        _, hook = slack.command(sample_text(verb))
        reply = json.dumps(slack.wait_reply(hook))
        assert "*Usage*" not in reply, f"{verb.action}: answered with the usage"
        assert "went wrong" not in reply and "only backup operators" not in reply, f"{verb.action}: {reply[:200]}"
