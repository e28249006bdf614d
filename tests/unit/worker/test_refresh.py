"""The snapshot refresher against its own HTTPS stamp simulator and a real Redis: one reader per stamp per interval,
the history kept after the stamp prunes, the update windows, a stamp that stops answering, a backup that ends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from bot.app import refresher, update_states
from bot.config.settings import Settings
from bot.config.stamps import load_stamp
from bot.stamp.arm import ArmClient
from bot.worker.refresh import Refresher
from devkit.simulator import Fault, StampSimulator
from tests.harness import RedisServer


@pytest.fixture(scope="module")
def own_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampSimulator]:
    """A stamp of this module's own: these tests prune its backups and move its update state."""
    simulator = StampSimulator(backup_seconds=0.3, retry_after=0, state_dir=str(tmp_path_factory.mktemp("refresh")))
    simulator.start()
    yield simulator
    simulator.stop()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make(
    client: redis.Redis, sim: StampSimulator, server: RedisServer, clock: Clock, interval: float = 60.0
) -> Refresher:
    stamp = load_stamp(sim.env(), name="sim")
    settings = Settings(redis_url=server.url, stamps=(stamp,), snapshot_interval=interval)
    return refresher(client, {"sim": ArmClient(stamp, max_attempts=1, max_backoff=0.1)}, settings, clock)


def test_one_refresher_per_stamp_per_interval(
    store_redis: redis.Redis, own_sim: StampSimulator, redis_server: RedisServer
) -> None:
    clock = Clock()
    first, second = (make(store_redis, own_sim, redis_server, clock) for _ in range(2))
    before = own_sim.count("GET", "backupLocations")
    assert (first.run_due(), second.run_due(), first.run_due()) == (1, 0, 0)
    assert own_sim.count("GET", "backupLocations") - before == 2  # the location and the backup list, once
    view = first.snapshots.read("sim", clock.now + 5)
    assert view is not None and not view.stale and view.age == 5.0
    assert view.snapshot.update is not None and view.snapshot.update.state == "AppliedSuccessfully"
    listed = {b.backup_id for b in view.snapshot.backups}
    page = first.history.page("sim", days=30, now=clock.now)
    assert {e.backup_id for e in page.entries} == listed and page.total == len(listed) >= 3
    assert first.windows.windows("sim", 0.0, clock.now + 1) == []


def test_history_keeps_what_the_stamp_pruned(
    store_redis: redis.Redis, own_sim: StampSimulator, redis_server: RedisServer
) -> None:
    clock = Clock()
    refresh = make(store_redis, own_sim, redis_server, clock)
    seen = {b.backup_id for b in refresh.refresh("sim").backups}
    gone = own_sim.prune_backups(older_than=20 * 3600)
    assert gone and set(gone) <= seen
    clock.now += 60
    listed = {b.backup_id for b in refresh.refresh("sim").backups}
    assert not set(gone) & listed
    for backup_id in gone:
        entry = refresh.history.get("sim", backup_id)
        assert entry is not None and entry.status in ("Succeeded", "PartialSucceeded")


def test_a_stamp_that_stops_answering_keeps_its_snapshot_marked_stale(
    store_redis: redis.Redis, own_sim: StampSimulator, redis_server: RedisServer
) -> None:
    clock = Clock()
    refresh = make(store_redis, own_sim, redis_server, clock, interval=60.0)
    good = refresh.refresh("sim")
    own_sim.inject(Fault(status=503, times=10))
    try:
        clock.now += 60
        failed = refresh.refresh("sim")
    finally:
        own_sim.clear_faults()
    view = refresh.snapshots.read("sim", clock.now + 1)
    assert view is not None and view.stale and view.age == 61.0
    assert view.snapshot.backups == good.backups and view.snapshot.location == good.location
    assert failed.error is not None and "HTTP 503" in failed.error
    clock.now += 60
    refresh.refresh("sim")
    view = refresh.snapshots.read("sim", clock.now + 1)
    assert view is not None and not view.stale


def test_an_update_opens_and_closes_a_window(
    store_redis: redis.Redis, own_sim: StampSimulator, redis_server: RedisServer
) -> None:
    clock = Clock()
    refresh = make(store_redis, own_sim, redis_server, clock)
    refresh.refresh("sim")
    began = clock.now = clock.now + 60
    own_sim.set_update_state("UpdateInProgress")
    try:
        refresh.refresh("sim")
        clock.now += 60
        refresh.refresh("sim")
        assert refresh.windows.current("sim") is not None
    finally:
        own_sim.set_update_state(None)
    clock.now += 60
    refresh.refresh("sim")
    [window] = refresh.windows.windows("sim", 0.0, clock.now)
    assert (window.start, window.end, window.states) == (began, clock.now, ("UpdateInProgress",))


def test_missing_update_permission_opens_no_window_and_is_no_error(
    store_redis: redis.Redis, own_sim: StampSimulator, redis_server: RedisServer
) -> None:
    clock = Clock()
    refresh = make(store_redis, own_sim, redis_server, clock)
    own_sim.deny_update_read()
    try:
        snapshot = refresh.refresh("sim")
    finally:
        own_sim.deny_update_read(False)
    assert snapshot.update_denied and snapshot.error is None and snapshot.update is None
    assert refresh.windows.windows("sim", 0.0, clock.now + 1) == []
    view = refresh.snapshots.read("sim", clock.now)
    assert view is not None and not view.stale


def test_a_backup_that_ends_is_recorded_and_the_stamp_read_again_soon(
    store_redis: redis.Redis, own_sim: StampSimulator, redis_server: RedisServer
) -> None:
    clock = Clock()
    refresh = make(store_redis, own_sim, redis_server, clock)
    assert refresh.run_due() == 1 and refresh.run_due() == 0
    client = refresh.clients["sim"]
    started = client.start_backup()
    own_sim.finish_running()
    ended = client.get_backup(started.backup_id)
    assert ended is not None
    refresh.backup_ended("sim", ended)
    entry = refresh.history.get("sim", started.backup_id)
    assert entry is not None and entry.status == ended.status
    assert refresh.run_due() == 1  # the turn was given up: read again at once, not in a minute


def test_update_states_come_from_the_settings(redis_server: RedisServer) -> None:
    settings = Settings(redis_url=redis_server.url, stamps=(), update_running_states=("Installing",))
    assert update_states(settings).classify("installing").pauses_backups
    assert not update_states(settings).classify("UpdateInProgress").pauses_backups
