"""The digest through the shipped processes: set by a signed command to the web process, delivered by real workers
exactly once per channel per period, with a worker killed right after Slack accepted its post.

Time is not stepped: each channel's digest is set for the current minute (in UTC, ``AZS_TIMEZONE``'s default), which
makes today's period owed at once (a schedule set within the minute of its time delivers that period).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.model.snapshot import StampSnapshot
from bot.state.history import HistoryStore
from bot.state.snapshots import SnapshotStore
from bot.words.digest import DIGEST_EVENT
from devkit.localrun import BotProcess, event_payload
from devkit.slack_fake import FakeSlack, SlackFault
from tests.harness import SlackClientSim, wait_until

StartWorker = Callable[..., BotProcess]
LEASE = "8"
"""The shortest lease the settings allow with a 1 s stamp timeout."""
QUICK = {"AZS_HTTP_TIMEOUT": "1", "AZS_LEASE_SECONDS": LEASE}
CHANNELS = ("CBACKUPS", "CDIGEST2")


def digests(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages(channel) if event_payload(m, DIGEST_EVENT)]


def this_minute() -> str:
    """The current UTC minute, not in its last seconds (the command must land within the same minute)."""
    if datetime.now(UTC).second > 45:
        time.sleep(61 - datetime.now(UTC).second)
    return datetime.now(UTC).strftime("%H:%M")


def seed_stamp(client: redis.Redis) -> None:
    """What the worker's refresher would have kept: a snapshot with a good backup, and the history."""
    now = time.time()
    backup = Backup(
        "0a000000-0000-4000-8000-000000000000", "Succeeded", datetime.fromtimestamp(now - 3600, UTC), 1500.0
    )
    location = BackupLocation("local", r"\\fs\share", None, None, True, 12, 7, "1.00 TB", None, None, "ABC")
    snapshot = StampSnapshot().with_location(location, now).with_backups([backup], now)
    SnapshotStore(client, stale_after=900.0).write("sim-stamp", snapshot)
    HistoryStore(client, keep_days=400).record("sim-stamp", [backup], now)


def test_a_digest_goes_out_once_per_channel_when_a_worker_is_killed_after_slack_took_it(
    slack: SlackClientSim, fake_slack: FakeSlack, redis_client: redis.Redis, start_worker: StartWorker
) -> None:
    seed_stamp(redis_client)
    at = this_minute()
    for channel in CHANNELS:
        _, hook = slack.command(f"backup digest daily {at}", channel=channel)
        slack.wait_reply(hook, "gets the backup digest daily at")
    # The first digest post lands in the channel, then Slack's answer is held: the worker is killed meanwhile.
    held = SlackFault(method="chat.postMessage", delay_after=5.0)
    fake_slack.inject(held)
    first = start_worker(**QUICK)
    assert wait_until(lambda: any(digests(fake_slack, c) for c in CHANNELS), timeout=30)
    first.kill()
    # Its lease runs out; a second worker finds the counted attempt, looks in the channel, and records the post.
    second = start_worker(**QUICK)
    assert wait_until(lambda: all(len(digests(fake_slack, c)) == 1 for c in CHANNELS), timeout=45)
    assert wait_until(lambda: "an earlier attempt posted it already" in second.log(), timeout=45), second.log_tail()
    # A restart and a replica later, nothing is owed any more for today's period.
    start_worker(**QUICK)
    time.sleep(2 * float(LEASE) + 2)  # room for a duplicate: the scheduler looks every 10 s
    assert [len(digests(fake_slack, c)) for c in CHANNELS] == [1, 1]
    [message] = digests(fake_slack, "CBACKUPS")
    assert "sim-stamp" in message["text"] and "Backup digest" in message["text"]
    payload = event_payload(message, DIGEST_EVENT)
    assert payload is not None and payload["period"] == f"digest:daily:{datetime.now(UTC):%Y-%m-%d}"


def test_timezone_and_monthly_report_are_channel_settings_an_operator_sets(
    slack: SlackClientSim, redis_client: redis.Redis
) -> None:
    _, hook = slack.command("backup timezone Europe/Berlin")
    slack.wait_reply(hook, "are in Europe/Berlin now")
    _, hook = slack.command("backup timezone Mars/Olympus")
    slack.wait_reply(hook, "is not a time zone I know")
    _, hook = slack.command("backup report monthly on")
    slack.wait_reply(hook, "on the 1st of each month (Europe/Berlin)")
    _, hook = slack.command("backup digest weekly fri 17:30 problems-only")
    slack.wait_reply(hook, "weekly on fri at 17:30 (Europe/Berlin), only when a stamp is amber or red")
    _, hook = slack.command("backup digest weekly fri 17:30", user="UNOBODY")
    slack.wait_reply(hook, "only backup operators may change this channel")
