"""The monthly report through the shipped worker: a channel with ``report monthly on`` gets last month's report
uploaded exactly once, with a worker killed right after the local Slack accepted the upload.

Time is not stepped: the channel's schedule is written as a channel that turned the report on before last month
began has it, so the 1st of this month (at 08:00 UTC, or of last month before that) has come and last month's
report is owed at once. The report's month is read back from the upload's tag, the same way the worker finds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from bot.model.backup import Backup
from bot.model.schedule import ChannelSchedule
from bot.state.history import HistoryStore
from bot.state.schedules import ScheduleStore
from devkit.localrun import BotProcess
from devkit.slack_fake import FakeSlack, SlackFault
from tests.harness import wait_until

StartWorker = Callable[..., BotProcess]
LEASE = "8"
QUICK = {"AZS_HTTP_TIMEOUT": "1", "AZS_LEASE_SECONDS": LEASE}
CHANNEL = "CMONTHLY"


def owed_month(now: datetime) -> str:
    """The month whose report is owed now: the last one, or the one before it on the 1st before 08:00 UTC."""
    first = now.replace(day=1, hour=8, minute=0, second=0, microsecond=0)
    if first > now:
        first = (first - timedelta(days=1)).replace(day=1)
    return f"{(first - timedelta(days=1)):%Y-%m}"


def shares(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages(CHANNEL) if m.get("upload")]


def test_last_months_report_is_uploaded_once_when_a_worker_is_killed_after_slack_took_it(
    fake_slack: FakeSlack, redis_client: redis.Redis, start_worker: StartWorker
) -> None:
    now = datetime.now(UTC)
    month = owed_month(now)
    good = datetime.strptime(f"{month}-10 02:00", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    backup = Backup("0a000000-0000-4000-8000-00000000feed", "Succeeded", good, 1500.0, stamp_version="1.2108.0.32")
    HistoryStore(redis_client, keep_days=400).record("sim-stamp", [backup], good.timestamp() + 3600)
    since = (now - timedelta(days=70)).timestamp()
    ScheduleStore(redis_client).put(CHANNEL, ChannelSchedule(monthly_report=True, monthly_since=since))
    # The upload is shared in the channel, then Slack's answer is held: the worker is killed meanwhile.
    fake_slack.inject(SlackFault(method="files.completeUploadExternal", delay_after=6.0))
    first = start_worker(**QUICK)
    assert wait_until(lambda: bool(shares(fake_slack)), timeout=30), first.log_tail()
    first.kill()
    # Its lease runs out; a second worker finds the counted attempt, finds the tagged share, and records it.
    second = start_worker(**QUICK)
    assert wait_until(lambda: "an earlier attempt posted it already" in second.log(), timeout=45), second.log_tail()
    assert ScheduleStore(redis_client).posted(CHANNEL, f"report:monthly:{month}") == shares(fake_slack)[0]["ts"]
    # A restart and a replica later, nothing is owed any more for this month.
    start_worker(**QUICK)
    time.sleep(2 * float(LEASE) + 2)  # room for a duplicate: the scheduler looks every 10 s
    [share] = shares(fake_slack)
    assert f"report:monthly:{month}" in share["text"] and "sim-stamp" in share["text"]
    names = [f.name for f in fake_slack.uploaded_files(CHANNEL)]
    assert names == [f"azs-backup-report-{month}-sim-stamp.csv", f"azs-backup-report-{month}-sim-stamp.png"]
    csv = fake_slack.uploaded_files(CHANNEL)[0].content or b""
    assert b"0a000000-0000-4000-8000-00000000feed" in csv
