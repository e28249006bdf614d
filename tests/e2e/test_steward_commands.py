"""The read commands answer from the snapshot (issue 19), driven as Slack drives them: signed slash commands at the
real Bolt web process, the HTTPS simulator as the stamp, a real Redis.

Until the worker's refresher writes the snapshot on its cadence, the tests refresh it the way the worker does: the
product's own ``survey`` and ``SnapshotStore``/``HistoryStore`` (the web process surveys once itself, before any
snapshot exists).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from bot.config.stamps import load_stamp
from bot.stamp.arm import ArmClient
from bot.stamp.survey import survey
from bot.state.history import HistoryStore
from bot.state.snapshots import SnapshotStore
from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from tests.harness import FIXTURES, SlackClientSim, wait_until

STAMP = "sim-stamp"


def refresh(stamp: StampSimulator, client: redis.Redis) -> None:
    """One refresh as the worker makes it: survey over the last snapshot, write it, record the backups seen."""
    snapshots = SnapshotStore(client, stale_after=180.0)
    view = snapshots.read(STAMP, time.time())
    now = time.time()
    snapshot = survey(ArmClient(load_stamp(stamp.env()), max_attempts=1), view.snapshot if view else None, now)
    snapshots.write(STAMP, snapshot)
    HistoryStore(client, keep_days=400).record(STAMP, snapshot.backups, now)


def reads_of(stamp: StampSimulator) -> int:
    return sum(1 for r in stamp.requests_log if r.kind in ("backupLocation", "backups", "backup", "updateLocation"))


def ask(slack: SlackClientSim, text: str, contains: str = "", timeout: float = 15.0) -> str:
    _, hook = slack.command(text)
    return json.dumps(slack.wait_reply(hook, contains, timeout=timeout))


def test_list_and_status_answer_from_the_snapshot_with_its_age(slack: SlackClientSim, stamp: StampSimulator) -> None:
    first = ask(slack, "backup list", "Latest backups")  # no snapshot yet: the web process surveys once
    assert "Read from the stamp as of" in first
    asked = reads_of(stamp)
    for text, expected in (("backup list", "Latest backups"), ("backup status", "No backup"), ("backup config", "")):
        reply = ask(slack, text, expected)
        assert "as of" in reply and "Stale" not in reply, text
    status = ask(slack, "backup status", "On sim-stamp")
    assert "Last backup" in status and "AppliedSuccessfully" in status
    assert reads_of(stamp) == asked  # none of them asked the stamp


def test_a_stamp_that_stops_answering_is_served_from_its_snapshot_marked_stale(
    slack: SlackClientSim, stamp: StampSimulator, redis_client: redis.Redis
) -> None:
    newest = stamp.run_scheduled_backup("Succeeded")
    refresh(stamp, redis_client)
    stamp.inject(Fault(status=503, times=100))  # the stamp stops answering
    refresh(stamp, redis_client)
    listed = ask(slack, "backup list", "Latest backups")
    assert newest in listed and "Stale" in listed and "HTTP 503" in listed
    stamp.clear_faults()
    refresh(stamp, redis_client)
    assert "Stale" not in ask(slack, "backup list", "Latest backups")


def test_history_shows_backups_the_stamp_has_pruned(
    start_web: Callable[..., tuple[BotProcess, SlackClientSim]],
    redis_client: redis.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    own = StampSimulator(backup_seconds=1.0, retry_after=0, state_dir=str(tmp_path_factory.mktemp("pruned")))
    own.start()  # its own stamp: pruning every backup must not empty the session's shared one
    try:
        _, slack = start_web(**own.env())
        made = [own.run_scheduled_backup(outcome) for outcome in ("Succeeded", "PartialSucceeded", "Failed")]
        refresh(own, redis_client)
        assert own.prune_backups(older_than=0)
        refresh(own, redis_client)
        listed = ask(slack, "backup list", "")
        assert not any(backup_id in listed for backup_id in made)  # the stamp no longer has them
        history = ask(slack, "backup history", "Backup history of sim-stamp")
        assert all(backup_id in history for backup_id in made)
        assert ":warning: partial" in history and ":x: failed" in history
        shown = ask(slack, f"backup show {made[1]}", made[1])
        assert "bot's history" in shown
    finally:
        own.stop()


def recorded(name: str) -> Any:
    document = json.loads((FIXTURES / name).read_text())
    return document["responses"]["200"]["body"] if "responses" in document else document


@pytest.mark.parametrize(
    ("location", "listing", "expected"),
    [
        ("backup_location_2002.json", "backups_list_2002.json", "none says it is ready for cloud recovery"),
        ("backup_location_2108_blob.json", "backups_list_2108_partial.json", "can be recovered from backup"),
        # 1809 on the simulator's 2108: the published releases 1811 ... 2102 came between, so not supported
        ("spec_backup_location_get.json", "spec_backups_list.json", "releases came between: 1811, 1901"),
    ],
)
def test_the_dr_card_for_each_recorded_backup_list(
    slack: SlackClientSim, stamp: StampSimulator, location: str, listing: str, expected: str
) -> None:
    for path, name in (("/backups?", listing), ("backupLocations/local?", location)):
        stamp.inject(Fault(status=0, method="GET", path_contains=path, times=5, body=json.dumps(recorded(name))))
    card = ask(slack, "backup dr", "recovery")
    assert expected in card, card[:1500]
    assert "more than one version older" in card


def test_a_read_against_a_slow_stamp_does_not_wait_for_it(slack: SlackClientSim, stamp: StampSimulator) -> None:
    ask(slack, "backup list", "backups on sim-stamp")  # the snapshot exists
    stamp.inject(Fault(status=0, delay=6.0, times=10))  # every stamp call now takes 6 s
    asked = reads_of(stamp)
    started = time.monotonic()
    response, _ = slack.command("help")
    assert "Usage" in response.text
    help_took = time.monotonic() - started
    started = time.monotonic()
    ask(slack, "backup list", "backups on sim-stamp", timeout=5.9)
    assert time.monotonic() - started < 6.0, "the read waited for the stamp"
    assert reads_of(stamp) == asked  # the stamp was not asked at all
    assert help_took < 6.0
    stamp.clear_faults()


def test_the_start_card_during_an_update_says_why_there_is_no_button(
    slack: SlackClientSim, stamp: StampSimulator
) -> None:
    stamp.set_update_state("UpdateInProgress")
    try:
        card = ask(slack, "backup", "update")
        assert "backup_start" not in card and "An update is running" in card and "UpdateInProgress" in card
    finally:
        stamp.set_update_state(None)


def test_a_start_refused_during_an_update_says_so_in_plain_words(slack: SlackClientSim, stamp: StampSimulator) -> None:
    stamp.deny_update_read()  # the bot cannot see the update, so only the stamp's refusal tells
    stamp.set_update_state("UpdateInProgress")
    try:
        _, hook = slack.click()
        reply = json.dumps(slack.wait_reply(hook, "did not start", timeout=15))
        assert "an update (or a hardware replacement) is running" in reply and "Nothing was started" in reply
        assert wait_until(lambda: stamp.running_backup_id() is None, timeout=2)
    finally:
        stamp.set_update_state(None)
        stamp.deny_update_read(False)
