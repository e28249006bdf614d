"""The read commands answer from the snapshot and the history (bot/commands/reads.py): a real Redis, the TLS
simulator as the stamp, a clock the test steps. Each test counts the stamp's requests, so "answered from the
snapshot" means the stamp was not asked."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.app import update_states
from bot.commands.parse import parse
from bot.commands.reads import StampReads
from bot.commands.request import Request
from bot.config.settings import Settings
from bot.config.stamps import load_stamp
from bot.model.backup import Backup, backups_from_list
from bot.model.location import BackupLocation
from bot.model.recovery import readiness
from bot.model.snapshot import StampSnapshot
from bot.stamp.arm import ArmClient
from bot.state.history import HistoryStore
from bot.state.snapshots import SnapshotStore
from bot.words import recovery
from bot.words.mrkdwn import Message
from bot.words.steward import HISTORY_PAGE_SIZE
from devkit.simulator import Fault, StampSimulator
from tests.harness import FIXTURES

STALE_AFTER = 180.0


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Reads:
    reads: StampReads
    clock: Clock
    sim: StampSimulator

    def ask(self, text: str) -> Message:
        command = parse(f"backup {text}")
        assert command.problem is None, text
        runner = {
            "list": self.reads.list,
            "config": self.reads.config,
            "show": self.reads.show,
            "history": self.reads.history_page,
            "dr": self.reads.dr,
        }[text.split()[0]]
        return runner(Request(command, "UOPER", "C1"))

    def stamp_reads(self) -> int:
        return sum(
            1 for r in self.sim.requests_log if r.kind in ("backupLocation", "backups", "backup", "updateLocation")
        )


def shown(message: Message) -> str:
    return json.dumps(message.blocks) + message.text


@pytest.fixture
def reads(stamp: StampSimulator, store_redis: redis.Redis) -> Iterator[Reads]:
    clock = Clock(time.time())
    arm = ArmClient(load_stamp(stamp.env()), max_attempts=1, max_backoff=0.1)
    assert arm.region == "local"  # the scope is discovered before the test counts requests
    snapshots = SnapshotStore(store_redis, stale_after=STALE_AFTER)
    history = HistoryStore(store_redis, keep_days=400)
    states = update_states(Settings(redis_url="redis://x", stamps=()))
    yield Reads(StampReads("sim", arm, snapshots, history, states, 400, clock=clock), clock, stamp)


def test_with_no_snapshot_the_first_read_surveys_once_and_the_rest_answer_from_it(reads: Reads) -> None:
    before = reads.stamp_reads()
    listed = reads.ask("list")
    assert "Latest backups on sim" in listed.text and "as of 0s ago" in shown(listed)
    assert reads.stamp_reads() - before == 3  # location, backups, update: one survey, written
    assert reads.reads.snapshots.read("sim", reads.clock.now) is not None
    reads.clock.now += 120
    for text in ("list", "config", "dr"):
        assert "as of 2m ago" in shown(reads.ask(text)), text
    assert reads.stamp_reads() - before == 3  # none of them asked the stamp
    assert "Stale" not in shown(reads.ask("list"))


def test_an_old_snapshot_is_marked_stale_with_its_age_and_the_last_error(reads: Reads) -> None:
    reads.ask("list")
    reads.clock.now += STALE_AFTER + 60
    aged = shown(reads.ask("list"))
    assert "Stale" in aged and "as of 4m ago" in aged and "not been read again" in aged
    view = reads.reads.snapshots.read("sim", reads.clock.now)
    assert view is not None
    failed = view.snapshot.with_error("backups", "the stamp did not answer <!channel>", reads.clock.now, None)
    reads.reads.snapshots.write("sim", failed)
    said = shown(reads.ask("config"))
    assert "Stale" in said and "did not answer &lt;!channel&gt;" in said and "backups" in said
    assert "Backup configuration of sim" in said  # the last good answer is still given


def test_a_part_never_read_says_why_as_a_failed_read_would(reads: Reads) -> None:
    reads.sim.inject(Fault(status=403, times=3, path_contains="/backups?"))
    reply = reads.ask("list")
    assert not reply.ok and "could not list backups on sim" in reply.text and "403" in reply.text


def test_show_answers_from_the_snapshot_then_the_history_then_the_stamp(reads: Reads) -> None:
    listed = reads.sim.run_scheduled_backup("PartialSucceeded")
    reads.ask("list")
    before = reads.stamp_reads()
    detail = shown(reads.ask(f"show {listed}"))
    assert listed in detail and "Roles" in detail and reads.stamp_reads() == before
    reads.reads.history.record("sim", reads.reads.view().snapshot.backups, reads.clock.now)
    reads.reads.snapshots.write("sim", StampSnapshot().with_backups([], reads.clock.now))
    kept = shown(reads.ask(f"show {listed}"))
    assert listed in kept and "bot's history" in kept and reads.stamp_reads() == before
    unknown = reads.ask("show 00000000-0000-0000-0000-000000000000")
    assert "has no backup" in unknown.text and reads.stamp_reads() == before + 1  # only an unknown id asks


def test_history_keeps_pruned_backups_and_pages_newest_first(reads: Reads) -> None:
    made = [reads.sim.run_scheduled_backup(outcome) for outcome in ("Succeeded", "PartialSucceeded")]
    reads.ask("list")  # the first read records what it saw
    newest = max(b.created for b in reads.reads.view().snapshot.backups if b.created)
    skipped = Backup(str(uuid.uuid4()), "Skipped", created=newest + timedelta(hours=12), is_automatic=True)
    reads.reads.history.record("sim", [skipped], reads.clock.now)  # a slot skipped during an update
    made.append(skipped.backup_id)
    # the stamp has pruned them: its next list is empty (the simulator is shared, so its backups stay)
    reads.clock.now += 10
    reads.reads.snapshots.write("sim", StampSnapshot().with_backups(backups_from_list({"value": []}), reads.clock.now))
    page = shown(reads.ask("history"))
    assert all(backup_id in page for backup_id in made)
    assert f":fast_forward: skipped `{made[2]}`" in page and f":warning: partial `{made[1]}`" in page
    assert ":x:" not in page  # neither the skipped nor the partial one reads as failed
    created = {e.backup_id: e.created for e in reads.reads.history.page("sim", days=30, now=reads.clock.now).entries}
    shown_order = sorted(created, key=page.index)
    assert shown_order == sorted(created, key=lambda i: created[i] or 0, reverse=True)  # newest first
    assert shown_order[0] == made[2]


def test_history_pages_within_slacks_limits_and_says_how_to_get_the_next(reads: Reads) -> None:
    for _ in range(HISTORY_PAGE_SIZE + 5):
        reads.sim.run_scheduled_backup("Succeeded")
    reads.reads.history.record("sim", reads.reads.arm.list_backups(), reads.clock.now)
    total = reads.reads.history.page("sim", days=30, now=reads.clock.now).total
    first = reads.ask("history")
    assert len(first.blocks) <= 50 and all(len(json.dumps(b)) < 3500 for b in first.blocks)
    assert f"1-{HISTORY_PAGE_SIZE} of {total}" in shown(first) and "history 30 page 2" in shown(first)
    last_page = (total - 1) // HISTORY_PAGE_SIZE + 1
    final = shown(reads.ask(f"history 30 page {last_page}"))
    assert f"of {total}" in final and f"page {last_page + 1}" not in final
    capped = shown(reads.ask("history 999"))
    assert "last 400 days" in capped and "You asked for 999 days" in capped


@pytest.mark.parametrize(
    ("location", "listing"),
    [
        ("backup_location_2002.json", "backups_list_2002.json"),
        ("backup_location_2108_blob.json", "backups_list_2108_partial.json"),
        ("spec_backup_location_get.json", "spec_backups_list.json"),
    ],
)
def test_the_dr_card_says_what_readiness_decides_for_each_recorded_list(
    reads: Reads, location: str, listing: str
) -> None:
    def body(name: str) -> object:
        document = json.loads((FIXTURES / name).read_text())
        return document["responses"]["200"]["body"] if "responses" in document else document

    place, backups = BackupLocation.from_json(body(location)), backups_from_list(body(listing))
    snapshot = StampSnapshot().with_location(place, reads.clock.now).with_backups(backups, reads.clock.now)
    reads.reads.snapshots.write("sim", snapshot)
    card = shown(reads.ask("dr"))
    decided = readiness(place, backups, None, datetime.fromtimestamp(reads.clock.now, UTC))
    if decided.ready:
        assert decided.backup is not None and f"can be recovered from backup `{decided.backup.backup_id}`" in card
    else:
        assert "no backup usable for cloud recovery" in card or "may not be usable" in card
    for gap in decided.gaps:
        assert json.dumps(recovery.gap_text(gap))[1:-1] in card, gap
    assert "more than one version older" in card  # the rule is spelt out
