"""The read commands answer from the snapshot (issue 19), driven as Slack drives them: signed slash commands at the
real Bolt web process, the real worker's refresher writing the snapshot on a short ``AZS_SNAPSHOT_INTERVAL``, the
HTTPS simulator as the stamp, a real Redis.

With a snapshot in Redis a read is answered in the HTTP response to the command itself (the ack), as ``/azs help``
is; with none yet (or Redis not answering) it is answered after the ack, through the ``response_url``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from bot.state.keys import snapshot_key
from devkit.localrun import BotProcess, RedisServer
from devkit.simulator import Fault, StampSimulator
from tests.harness import FIXTURES, SlackClientSim, wait_until

STAMP = "sim-stamp"
INTERVAL = "1"
"""The worker refreshes the snapshot every second here (the default is a minute)."""
PARTS = ("location", "backups")


def snapshot_text(client: redis.Redis) -> str:
    raw = client.get(snapshot_key(STAMP))
    return raw.decode() if isinstance(raw, bytes) else str(raw or "")


def refreshed(client: redis.Redis, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> None:
    """Wait for the worker's refresher to write a snapshot for which ``predicate`` holds."""

    def holds() -> bool:
        text = snapshot_text(client)
        return bool(text) and predicate(json.loads(text))

    assert wait_until(holds, timeout), f"no such snapshot; last: {snapshot_text(client)[:500]}"


def refresher(start_worker: Callable[..., BotProcess], client: redis.Redis, **env: str) -> BotProcess:
    """A worker refreshing the snapshot every second, once it has written the first one."""
    worker = start_worker(AZS_SNAPSHOT_INTERVAL=INTERVAL, **env)
    refreshed(client, lambda snapshot: bool(snapshot))
    return worker


def reads_of(stamp: StampSimulator) -> int:
    return sum(1 for r in stamp.requests_log if r.kind in ("backupLocation", "backups", "backup", "updateLocation"))


def ask(slack: SlackClientSim, text: str, contains: str = "", timeout: float = 15.0) -> str:
    _, hook = slack.command(text)
    return json.dumps(slack.wait_reply(hook, contains, timeout=timeout))


def in_the_ack(slack: SlackClientSim, text: str) -> str:
    """The reply the command's HTTP response carried (nothing went to its ``response_url``)."""
    response, hook = slack.command(text)
    assert response.status_code == 200 and response.content.strip(), f"{text}: an empty ack"
    assert slack.fake.hook_posts(hook) == []
    return response.text


def test_reads_are_answered_in_the_ack_once_the_worker_wrote_the_snapshot(
    slack: SlackClientSim, stamp: StampSimulator, redis_client: redis.Redis, start_worker: Callable[..., BotProcess]
) -> None:
    response, hook = slack.command("backup list")  # no snapshot yet: the web process surveys once, after the ack
    assert not response.content.strip()
    assert "Read from the stamp as of" in json.dumps(slack.wait_reply(hook, "Latest backups"))
    newest = stamp.run_scheduled_backup("Succeeded")
    refresher(start_worker, redis_client)
    refreshed(redis_client, lambda snapshot: newest in json.dumps(snapshot))
    asked = reads_of(stamp)
    for text, expected in (("backup list", newest), ("backup status", "On sim-stamp"), ("backup config", "")):
        reply = in_the_ack(slack, text)
        assert expected in reply and "as of" in reply and "Stale" not in reply, text
    assert "Last backup" in in_the_ack(slack, "backup status")
    assert newest in in_the_ack(slack, f"backup show {newest}")
    assert newest in in_the_ack(slack, "backup history") and "recovery" in in_the_ack(slack, "backup dr")
    assert reads_of(stamp) <= asked + 8  # only the refresher's reads (a few a second), none of the commands'
    unknown = "0b1e7c4e-1111-4222-8333-944455556666"
    response, hook = slack.command(f"backup show {unknown}")  # neither the snapshot nor the history knows it
    assert not response.content.strip()
    slack.wait_reply(hook, unknown)


def test_a_stamp_that_stops_answering_is_served_from_its_snapshot_marked_stale(
    slack: SlackClientSim, stamp: StampSimulator, redis_client: redis.Redis, start_worker: Callable[..., BotProcess]
) -> None:
    newest = stamp.run_scheduled_backup("Succeeded")
    refresher(start_worker, redis_client)
    refreshed(redis_client, lambda snapshot: newest in json.dumps(snapshot))
    stamp.inject(Fault(status=503, times=10**6))  # the stamp stops answering
    refreshed(redis_client, lambda snapshot: "503" in str(snapshot.get("error")))
    listed = ask(slack, "backup list", "Latest backups")
    assert newest in listed and "Stale" in listed and "HTTP 503" in listed
    stamp.clear_faults()
    cleared = time.time()
    refreshed(redis_client, lambda snapshot: all((snapshot.get(f"{part}_read_at") or 0) > cleared for part in PARTS))
    assert "Stale" not in ask(slack, "backup list", "Latest backups")


def test_history_shows_backups_the_stamp_has_pruned(
    start_web: Callable[..., tuple[BotProcess, SlackClientSim]],
    start_worker: Callable[..., BotProcess],
    redis_client: redis.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    own = StampSimulator(backup_seconds=1.0, retry_after=0, state_dir=str(tmp_path_factory.mktemp("pruned")))
    own.start()  # its own stamp: pruning every backup must not empty the session's shared one
    try:
        _, slack = start_web(**own.env())
        made = [own.run_scheduled_backup(outcome) for outcome in ("Succeeded", "PartialSucceeded", "Failed")]
        refresher(start_worker, redis_client, **own.env())
        refreshed(redis_client, lambda snapshot: all(b in json.dumps(snapshot) for b in made))
        assert own.prune_backups(older_than=0)
        refreshed(redis_client, lambda snapshot: not any(b in json.dumps(snapshot) for b in made))
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
        ("spec_backup_location_get.json", "spec_backups_list.json", "Every recovery-ready backup is more than one"),
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


def test_a_read_against_a_slow_stamp_is_answered_in_the_ack_like_help(
    slack: SlackClientSim, stamp: StampSimulator, redis_client: redis.Redis, start_worker: Callable[..., BotProcess]
) -> None:
    refresher(start_worker, redis_client)
    stamp.inject(Fault(status=0, delay=6.0, times=10**6))  # every stamp call now takes 6 s
    try:
        started = time.monotonic()
        response, _ = slack.command("help")
        assert "Usage" in response.text
        help_took = time.monotonic() - started
        started = time.monotonic()
        assert "backups on sim-stamp" in in_the_ack(slack, "backup list")
        assert time.monotonic() - started < max(1.0, 3 * help_took), "the read waited for more than Redis"
    finally:
        stamp.clear_faults()


def test_with_redis_stopped_a_read_is_acked_in_time_and_told_in_the_bots_words(
    start_web: Callable[..., tuple[BotProcess, SlackClientSim]],
    start_worker: Callable[..., BotProcess],
    redis_server: RedisServer,
    redis_client: redis.Redis,
) -> None:
    _, slack = start_web()  # its own web process: it will believe Redis is down for a while
    refresher(start_worker, redis_client)
    assert "Latest backups" in in_the_ack(slack, "backup list")
    redis_server.stop()
    started = time.monotonic()
    response, hook = slack.command("backup list")
    assert response.status_code == 200 and time.monotonic() - started < 3.0
    assert "Redis" in json.dumps(slack.wait_reply(hook, "Redis"))


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
