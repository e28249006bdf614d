"""The durable backup history against a real Redis (and, once, the stamp simulator through the real client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from bot.config.stamps import load_stamp
from bot.model.backup import Backup, backups_from_list
from bot.model.history import ON_DEMAND, SCHEDULED
from bot.stamp.arm import ArmClient
from bot.state import keys
from bot.state.history import DAY, HistoryStore
from devkit.simulator import StampSimulator
from tests.harness import FIXTURES

LIST_2108 = backups_from_list(json.loads((FIXTURES / "backups_list_2108_partial.json").read_text()))
READ_2108 = datetime(2021, 10, 31, 13, 20, tzinfo=UTC).timestamp()
ID = "3f2b8c1d-0a4e-4b6f-9c2d-7e1a5b3c9d08"


def store_for(client: redis.Redis, days: float = 400) -> HistoryStore:
    return HistoryStore(client, keep_days=days)


def test_every_backup_is_recorded_once(store_redis: redis.Redis) -> None:
    store = store_for(store_redis)
    assert store.record("east", LIST_2108, READ_2108) == 8
    before = store_redis.hgetall(keys.backup_history_entries_key("east"))
    assert store.record("east", LIST_2108, READ_2108 + 600) == 0  # seen again: nothing written
    assert store_redis.hgetall(keys.backup_history_entries_key("east")) == before
    page = store.page("east", days=30, now=READ_2108)
    assert page.total == 8 and len(page.entries) == 8 and page.next_offset is None


def test_newest_first_with_paging(store_redis: redis.Redis) -> None:
    store = store_for(store_redis)
    store.record("east", LIST_2108, READ_2108)
    created = sorted((b.created for b in LIST_2108 if b.created), reverse=True)
    first = store.page("east", days=30, now=READ_2108, limit=3)
    second = store.page("east", days=30, now=READ_2108, offset=3, limit=3)
    last = store.page("east", days=30, now=READ_2108, offset=6, limit=3)
    shown = [e.created_at for p in (first, second, last) for e in p.entries]
    assert [round(c.timestamp(), 3) for c in created] == [c.timestamp() for c in shown if c]
    assert (first.next_offset, second.next_offset, last.next_offset, last.total) == (3, 6, None, 8)


def test_days_limit_what_is_read(store_redis: redis.Redis) -> None:
    store = store_for(store_redis)
    store.record("east", LIST_2108, READ_2108)
    # 13:20 minus 6 hours: the backups of 10-31 from 11:21 on (five of them).
    recent = store.page("east", days=0.25, now=READ_2108)
    assert recent.total == 5 and {
        e.encryption_cert_thumbprint[:8] for e in recent.entries if e.encryption_cert_thumbprint
    } == {
        "D9269CB9",
        "2376D9CF",
    }


def test_a_running_backup_is_completed_by_a_later_observation(store_redis: redis.Redis) -> None:
    store = store_for(store_redis)
    created = datetime(2022, 6, 1, 10, tzinfo=UTC)
    running = Backup(ID, "Running", created=created, is_automatic=False, stamp_version="1.2206.0.12")
    assert store.record("east", [running], created.timestamp() + 60) == 1
    done = Backup(
        ID,
        "Succeeded",
        created=created,
        time_taken_seconds=1275.0,
        is_automatic=False,
        is_cloud_recovery_ready=True,
        completely_uploaded=True,
        encryption_cert_thumbprint="2376D9CFC85BBDEBAB29FFC1EDE614C3C9991AAD",
    )
    assert store.record("east", [done], created.timestamp() + 1800) == 1
    assert store.record("east", [running], created.timestamp() + 1900) == 0  # a stale list read late
    entry = store.get("east", ID.upper())
    assert entry is not None
    assert (entry.status, entry.duration_seconds, entry.kind, entry.stamp_version) == (
        "Succeeded",
        1275.0,
        ON_DEMAND,
        "1.2206.0.12",
    )
    assert entry.first_seen == created.timestamp() + 60


def test_kept_after_the_stamp_pruned_it_and_pruned_after_the_retention(store_redis: redis.Redis) -> None:
    store = store_for(store_redis, days=30)
    store.record("east", LIST_2108, READ_2108)
    store.record("east", LIST_2108[:1], READ_2108 + 14 * DAY)  # the stamp deleted all but one
    assert store.page("east", days=30, now=READ_2108 + 14 * DAY).total == 8
    later = READ_2108 + 31 * DAY  # more than 30 days after the newest
    store.record("east", [], later)
    assert store.page("east", days=400, now=later).total == 0
    assert store_redis.hlen(keys.backup_history_entries_key("east")) == 0


def test_too_old_to_keep_is_not_recorded_and_keys_expire(store_redis: redis.Redis) -> None:
    store = store_for(store_redis, days=14)
    assert store.record("east", LIST_2108, READ_2108 + 20 * DAY) == 0
    store.record("east", LIST_2108, READ_2108)
    ttl = store_redis.ttl(keys.backup_history_index_key("east"))
    assert 13 * DAY < int(ttl) <= 14 * DAY + 1


def test_stamps_are_apart_and_ids_must_be_guids(store_redis: redis.Redis) -> None:
    store = store_for(store_redis)
    odd = Backup("not-a-guid", "Succeeded", created=datetime(2021, 10, 31, tzinfo=UTC))
    store.record("east", [*LIST_2108, odd], READ_2108)
    assert store.page("west", days=30, now=READ_2108).total == 0
    assert store.page("east", days=30, now=READ_2108).total == 8


def test_a_backup_without_a_time_is_placed_when_first_seen(store_redis: redis.Redis) -> None:
    store = store_for(store_redis)
    store.record("east", [Backup(ID, "Running", is_automatic=True)], READ_2108)
    page = store.page("east", days=1, now=READ_2108 + 10)
    assert [(e.backup_id, e.kind, e.created) for e in page.entries] == [(ID, SCHEDULED, None)]


@pytest.mark.parametrize(("days", "offset", "limit"), [(0, 0, 10), (1, -1, 10), (1, 0, 0)])
def test_page_arguments_are_checked(store_redis: redis.Redis, days: float, offset: int, limit: int) -> None:
    with pytest.raises(ValueError):
        store_for(store_redis).page("east", days=days, now=READ_2108, offset=offset, limit=limit)


@pytest.fixture
def own_stamp(tmp_path: Path) -> Iterator[StampSimulator]:
    """A stamp of this test's own: pruning the session's shared one would empty the lists other tests read."""
    simulator = StampSimulator(backup_seconds=0.3, retry_after=0, state_dir=str(tmp_path / "sim"))
    simulator.start()
    yield simulator
    simulator.stop()


def test_what_the_simulated_stamp_pruned_is_still_in_the_history(
    store_redis: redis.Redis, own_stamp: StampSimulator
) -> None:
    """Through the real client: the stamp's retention deletes its backups; the history still shows them."""
    stamp = own_stamp
    client = ArmClient(load_stamp(stamp.env()), max_attempts=2, max_backoff=0.1)
    store = store_for(store_redis)
    listed = client.list_backups()
    now = datetime.now(UTC).timestamp()
    store.record("sim", listed, now)
    pruned = stamp.prune_backups(older_than=3600)
    assert pruned and not {b.backup_id for b in client.list_backups()} & set(pruned)
    store.record("sim", client.list_backups(), now + 1)
    kept = {e.backup_id for e in store.page("sim", days=30, now=now + 1, limit=100).entries}
    assert set(pruned) <= kept and {b.backup_id for b in listed} <= kept
    entry = store.get("sim", pruned[0])
    assert entry is not None and entry.stamp_version and entry.encryption_cert_thumbprint


def test_older_than_the_history_keeps_is_not_in_a_page(store_redis: redis.Redis) -> None:
    store = store_for(store_redis, days=14)
    store.record("east", LIST_2108, READ_2108)
    assert store.page("east", days=14, now=READ_2108 + 12 * DAY).total == 8  # the oldest: 13.4 days
    assert (
        store.page("east", days=14, now=(datetime.fromtimestamp(READ_2108, UTC) + timedelta(days=20)).timestamp()).total
        == 0
    )


def test_newest_succeeded_skips_later_failures_and_partials(store_redis: redis.Redis) -> None:
    store = store_for(store_redis)
    assert store.newest_succeeded("east") is None
    store.record("east", LIST_2108, READ_2108)
    good = [e for e in store.page("east", days=30, now=READ_2108, limit=50).entries if e.status == "Succeeded"]
    newest = store.newest_succeeded("east")
    assert newest is not None and newest == max(good, key=lambda e: e.created or 0.0)
    assert store.newest_succeeded("west") is None
