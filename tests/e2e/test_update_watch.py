"""The update-aware watch and the snapshot through the real worker process, against a stamp simulator of each
test's own whose update states are the recorded ones (``update-admin``: 2018's ``AppliedSuccessfully``, 2022's
``UpdateFailed``) and whose newest good backup is 26 h old with a 12 h scheduler: overdue, were it not for the update.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.config.settings import Settings
from bot.state.connection import connect
from bot.state.history import HistoryStore
from bot.state.snapshots import SnapshotStore
from bot.state.watches import WatchStore
from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import RedisServer, wait_until

StartWorker = Callable[..., BotProcess]
STAMP = "sim-stamp"  # the name tests/conftest.py's bot environment gives the stamp
FAST = {"AZS_WATCH_INTERVAL": "1", "AZS_SNAPSHOT_INTERVAL": "1"}
NEW_VERSION = "1.2108.2.65"


@pytest.fixture
def own(tmp_path: Path) -> Iterator[StampSimulator]:
    simulator = StampSimulator(backup_seconds=1.0, retry_after=0, state_dir=str(tmp_path / "sim"))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def plain(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """The bot's own kind of client (decoded replies) on the emptied Redis."""
    client = connect(redis_server.url)
    yield client
    client.close()


def said(fake: FakeSlack, channel: str, words: str) -> int:
    return sum(words in json.dumps(m) for m in fake.messages(channel))


def said_once(fake: FakeSlack, channel: str, words: str) -> Callable[[], bool]:
    return lambda: said(fake, channel, words) == 1


def watch(client: redis.Redis, *channels: str) -> None:
    for channel in channels:
        WatchStore(client).subscribe(STAMP, channel, "all")


@pytest.mark.parametrize("recorded", ["UpdateInProgress", "UpdateFailed"])
def test_an_update_is_told_not_alarmed_then_a_backup_on_the_new_version_is_asked_for(
    own: StampSimulator, start_worker: StartWorker, fake_slack: FakeSlack, plain: redis.Redis, recorded: str
) -> None:
    own.start_update(NEW_VERSION, seconds=None)
    if recorded == "UpdateFailed":
        own.fail_update("health")  # as recorded in 2022: the location says UpdateFailed
    assert own.update_state() == recorded
    watch(plain, "CBACKUPS", "COPS")
    start_worker(**FAST, **own.env())
    for channel in ("CBACKUPS", "COPS"):
        assert wait_until(said_once(fake_slack, channel, "skipped by design while the update runs"), 20)
    time.sleep(3)  # several watch turns and refreshes
    for channel in ("CBACKUPS", "COPS"):
        assert said(fake_slack, channel, "skipped by design while the update runs") == 1
        assert said(fake_slack, channel, "overdue for a good backup") == 0
    if recorded == "UpdateFailed":
        own.resume_update(seconds=0.5)
    else:
        own.finish_update()
    assert wait_until(lambda: own.update_state() == "AppliedSuccessfully", 10)
    for channel in ("CBACKUPS", "COPS"):
        assert wait_until(said_once(fake_slack, channel, "is over"), 20)
        assert wait_until(said_once(fake_slack, channel, "has no successful backup made on it"), 20)
    time.sleep(3)
    notice = next(m for m in fake_slack.messages("COPS") if "has no successful backup made on it" in json.dumps(m))
    [button] = [e for b in notice["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == ("backup_start", STAMP)
    for channel in ("CBACKUPS", "COPS"):
        assert said(fake_slack, channel, "is over") == 1
        assert said(fake_slack, channel, "has no successful backup made on it") == 1
        assert said(fake_slack, channel, "overdue for a good backup") == 0  # the scheduler's time runs from the end


def test_a_missing_update_permission_is_said_once_per_channel(
    own: StampSimulator, start_worker: StartWorker, fake_slack: FakeSlack, plain: redis.Redis
) -> None:
    own.deny_update_read()
    watch(plain, "CBACKUPS")
    start_worker(**FAST, **own.env())
    assert wait_until(lambda: said(fake_slack, "CBACKUPS", "cannot read the update state") == 1, 20)
    time.sleep(3)
    assert said(fake_slack, "CBACKUPS", "cannot read the update state") == 1
    assert "Microsoft.Update.Admin/updateLocations/read" in json.dumps(fake_slack.messages("CBACKUPS"))


def test_the_history_keeps_what_the_stamp_pruned(
    own: StampSimulator, start_worker: StartWorker, plain: redis.Redis
) -> None:
    history = HistoryStore(plain, keep_days=Settings.history_days)
    start_worker(**FAST, **own.env())
    assert wait_until(lambda: history.page(STAMP, days=30, now=time.time()).total >= 3, 20)
    gone = own.prune_backups(older_than=20 * 3600)
    assert gone
    lists = own.count("GET", "/backups?")
    assert wait_until(lambda: own.count("GET", "/backups?") >= lists + 2, 10)  # read again since
    for backup_id in gone:
        entry = history.get(STAMP, backup_id)
        assert entry is not None and entry.status in ("Succeeded", "PartialSucceeded")


def test_a_stamp_that_stops_answering_keeps_its_snapshot_marked_stale(
    own: StampSimulator, start_worker: StartWorker, plain: redis.Redis
) -> None:
    snapshots = SnapshotStore(plain, stale_after=3.0)
    start_worker(**FAST, **own.env())

    def fresh() -> bool:
        view = snapshots.read(STAMP, time.time())
        return view is not None and not view.stale and len(view.snapshot.backups) >= 3

    assert wait_until(fresh, 20)
    before = snapshots.read(STAMP, time.time())
    assert before is not None
    own.inject(Fault(status=503, times=100_000))
    try:

        def stale() -> bool:
            view = snapshots.read(STAMP, time.time())
            old = view is not None and view.age is not None and view.age > 3.0
            return old and view is not None and view.stale and view.snapshot.error is not None

        assert wait_until(stale, 20)
        view = snapshots.read(STAMP, time.time())
        assert view is not None and view.age is not None and view.age > 3.0
        assert view.snapshot.backups == before.snapshot.backups and view.snapshot.location is not None
        assert "HTTP 503" in (view.snapshot.error or "")
    finally:
        own.clear_faults()
    assert wait_until(fresh, 20)
