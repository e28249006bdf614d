"""Watch, overdue alerts, several stamps, pre-flight, cancel, live progress, threading, App Home."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.commands.backups import preflight_problems
from bot.config.stamps import load_stamp
from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.stamp.arm import ArmClient
from bot.state.keys import stale_alert_key
from bot.words.replies import preflight_text
from devkit.localrun import BotProcess, sign, write_stamps_file
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.conftest import SIGNING_SECRET
from tests.harness import SlackClientSim, completions, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]
StartWorker = Callable[..., BotProcess]


def texts(fake: FakeSlack, channel: str) -> list[str]:
    return [json.dumps(m) for m in fake.messages(channel)]


@pytest.fixture(scope="module")
def beta(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampSimulator]:
    """A second stamp, whose newest good backup is 26 h old with a 12 h scheduler: overdue."""
    simulator = StampSimulator(backup_seconds=1.0, retry_after=0, state_dir=str(tmp_path_factory.mktemp("beta")))
    simulator.start()
    yield simulator
    simulator.stop()


def test_watch_announces_every_backup_that_ends_once_per_channel(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    _, hook = slack.command("backup watch")
    slack.wait_reply(hook, "will hear about every backup")
    _, hook = slack.command("backup watch failures", channel="COPS")
    slack.wait_reply(hook, "failed and partial")
    _, hook = slack.command("backup watch", user="UNOBODY", channel="COTHER")
    slack.wait_reply(hook, "only backup operators")
    time.sleep(0.05)
    failed = stamp.run_scheduled_backup("Failed")
    good = stamp.run_scheduled_backup("Succeeded")
    lists = stamp.count("GET", "/backups?")
    start_worker(AZS_WATCH_INTERVAL="1", AZS_SNAPSHOT_INTERVAL="1")
    assert wait_until(lambda: sum(good in t or failed in t for t in texts(fake_slack, "CBACKUPS")) == 2, timeout=15)
    assert wait_until(lambda: any(failed in t for t in texts(fake_slack, "COPS")), timeout=5)
    time.sleep(3)
    backups_posts = [t for t in texts(fake_slack, "CBACKUPS") if "Scheduled backup" in t]
    assert len(backups_posts) == 2
    assert "Failed roles" in next(t for t in backups_posts if failed in t)
    assert not any(good in t for t in texts(fake_slack, "COPS"))
    assert not fake_slack.messages("COTHER")
    assert stamp.count("GET", "/backups?") - lists <= 7  # about one list per second, not one per channel
    _, hook = slack.command("backup watch off")
    slack.wait_reply(hook, "no longer watches")


def test_overdue_stamp_alerts_watchers_once_until_a_good_backup_lands(
    start_web: StartWeb,
    start_worker: StartWorker,
    beta: StampSimulator,
    fake_slack: FakeSlack,
    redis_client: redis.Redis,
) -> None:
    _, slack = start_web(**beta.env())
    _, hook = slack.command("backup watch failures")
    slack.wait_reply(hook, "failed and partial")
    start_worker(AZS_WATCH_INTERVAL="1", AZS_SNAPSHOT_INTERVAL="1", **beta.env())
    assert wait_until(lambda: any("overdue for a good backup" in t for t in texts(fake_slack, "CBACKUPS")), timeout=15)
    time.sleep(3)
    assert sum("overdue for a good backup" in t for t in texts(fake_slack, "CBACKUPS")) == 1
    beta.run_scheduled_backup("Succeeded")
    assert wait_until(lambda: not redis_client.keys(stale_alert_key("*")), timeout=10)


def test_several_stamps_defaults_per_channel_and_one_lock_per_stamp(
    start_web: StartWeb, stamp: StampSimulator, beta: StampSimulator, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    beta.finish_running()
    stamp.backup_seconds = beta.backup_seconds = 30
    _, slack = start_web(AZS_STAMPS_FILE=write_stamps_file(tmp_path / "stamps.toml", {"alpha": stamp, "beta": beta}))
    _, hook = slack.command("stamps")
    listing = json.dumps(slack.wait_reply(hook, "Stamps"))
    assert "`alpha` (this channel's default)" in listing and "`beta`" in listing
    _, hook = slack.command("backup beta config")
    slack.wait_reply(hook, "Backup configuration of beta")
    _, hook = slack.command("backup gamma list")
    slack.wait_reply(hook, "there is no stamp `gamma`")
    _, hook = slack.command("stamps use beta")
    slack.wait_reply(hook, "now uses *beta*")
    _, hook = slack.command("backup list")
    slack.wait_reply(hook, "Latest backups on beta")
    _, first = slack.click(value="alpha")
    _, second = slack.click(value="beta")
    assert "on *alpha*" in json.dumps(slack.wait_reply(first, "started infrastructure backup"))
    assert "on *beta*" in json.dumps(slack.wait_reply(second, "started infrastructure backup"))
    assert stamp.running_backup_id() and beta.running_backup_id()
    _, hook = slack.command("backup status")
    status = json.dumps(slack.wait_reply(hook, "Running backups"))
    assert "alpha" in status and "beta" in status
    beta.finish_running()


def test_preflight_refuses_unconfigured_location_and_a_backup_started_elsewhere(
    slack: SlackClientSim, stamp: StampSimulator
) -> None:
    stamp.set_configured(False)
    _, hook = slack.command("backup")
    card = json.dumps(slack.wait_reply(hook, "not configured"))
    assert "backup_start" not in card
    _, hook = slack.click()
    slack.wait_reply(hook, "not configured")
    stamp.set_configured(True)
    stamp.backup_seconds = 30
    outside = ArmClient(load_stamp(stamp.env())).start_backup().backup_id
    starts = stamp.count("POST", "createBackup")
    _, hook = slack.click()
    assert outside in json.dumps(slack.wait_reply(hook, "started outside this bot"))
    assert stamp.count("POST", "createBackup") == starts
    _, hook = slack.command("backup cancel")
    reply = json.dumps(slack.wait_reply(hook, "cannot cancel"))
    assert outside in reply


def test_preflight_capacity_below_last_backup_size() -> None:
    location = BackupLocation.from_json(
        {
            "properties": {
                "externalStoreDefault": {
                    "path": r"\\share\backups",
                    "encryptionCertThumbprint": "AB",
                    "availableCapacity": "10 GB",
                }
            }
        }
    )
    big = Backup(backup_id="b", status="Succeeded", size_kb=20 * 1024 * 1024)
    assert any("below the last backup's size" in preflight_text(p) for p in preflight_problems(location, [big]))
    small = Backup(backup_id="b", status="Succeeded", size_kb=1024 * 1024)
    assert preflight_problems(location, [small]) == []


def test_cancel_explains_and_shows_the_running_backup(slack: SlackClientSim, stamp: StampSimulator) -> None:
    stamp.backup_seconds = 30
    slack.start_backup()
    _, hook = slack.command("backup cancel", user="UANYONE")
    reply = json.dumps(slack.wait_reply(hook, "cannot cancel"))
    assert str(stamp.running_backup_id()) in reply and "<@UOPER>" in reply


def test_live_progress_edits_the_announcement_and_threads_can_be_turned_off(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    stamp.backup_seconds = 3.5
    slack.start_backup()
    start_worker(AZS_PROGRESS_INTERVAL="1")
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=20)
    # The announcement shows the result: its last edit follows the outcome's post, so wait for the edit.
    assert wait_until(lambda: "Succeeded" in fake_slack.messages("CBACKUPS")[0]["text"], timeout=10)
    edits = [c.payload for c in fake_slack.calls("chat.update")]
    assert any("running for" in json.dumps(e) for e in edits)
    assert 1 <= len(edits) <= 6  # at most one edit per second here (one per minute by default), plus the last
    _, hook = slack.command("backup threads off")
    slack.wait_reply(hook, "new messages in the channel")
    stamp.backup_seconds = 1
    slack.start_backup()
    assert wait_until(lambda: len(fake_slack.messages("CBACKUPS")) == 4, timeout=20)
    assert not fake_slack.messages("CBACKUPS")[3].get("thread_ts")


def test_app_home_shows_each_stamp(slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": "Ev1",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": "UANYONE", "channel": "D1", "tab": "home"},
        }
    )
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": "application/json"}
    assert slack.post(body, headers).status_code == 200
    assert wait_until(lambda: bool(fake_slack.calls("views.publish")), timeout=10)
    view = json.dumps(fake_slack.calls("views.publish")[0].payload)
    for expected in ("sim-stamp", "Last backup", "Scheduler", "Retention", "Free capacity"):
        assert expected in view
