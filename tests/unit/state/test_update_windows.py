"""The update windows in a real Redis: opened by a pausing state, closed by a clean one, safe for two workers."""

from __future__ import annotations

import threading

import pytest
import redis

from bot.model.update_window import UpdateWindow
from bot.state import keys
from bot.state.update_windows import DAY, UpdateWindowStore


def test_an_update_opens_a_window_and_a_clean_state_closes_it(store_redis: redis.Redis) -> None:
    store = UpdateWindowStore(store_redis, keep_days=30)
    assert store.note("east", False, "AppliedSuccessfully", 100.0) is None
    assert store.windows("east", 0.0, 1e12) == []
    assert store.note("east", True, "PreparingUpdate", 200.0) == UpdateWindow(200.0, None, ("PreparingUpdate",))
    store.note("east", True, "UpdateInProgress", 300.0)
    store.note("east", True, "UpdateInProgress", 400.0)
    assert store.current("east") == UpdateWindow(200.0, None, ("PreparingUpdate", "UpdateInProgress"))
    assert store.windows("east", 0.0, 500.0) == [UpdateWindow(200.0, None, ("PreparingUpdate", "UpdateInProgress"))]
    closed = store.note("east", False, "AppliedSuccessfully", 500.0)
    assert closed == UpdateWindow(200.0, 500.0, ("PreparingUpdate", "UpdateInProgress"))
    assert store.current("east") is None
    assert store.note("east", False, "AppliedSuccessfully", 600.0) is None
    assert store.windows("east", 0.0, 1000.0) == [closed]
    assert store.windows("west", 0.0, 1000.0) == []


def test_windows_within_a_period(store_redis: redis.Redis) -> None:
    store = UpdateWindowStore(store_redis, keep_days=30)
    for start, end in ((100.0, 200.0), (1000.0, 1500.0), (3000.0, None)):
        store.note("east", True, "UpdateInProgress", start)
        if end is not None:
            store.note("east", False, "AppliedSuccessfully", end)
    assert [w.start for w in store.windows("east", 0.0, 5000.0)] == [100.0, 1000.0, 3000.0]
    assert [w.start for w in store.windows("east", 150.0, 1200.0)] == [100.0, 1000.0]  # partly within counts
    assert [w.start for w in store.windows("east", 1600.0, 2900.0)] == []
    assert [(w.start, w.end) for w in store.windows("east", 1400.0, 9000.0)] == [(1000.0, 1500.0), (3000.0, None)]


def test_an_older_reading_noted_late_does_not_reopen_a_closed_window(store_redis: redis.Redis) -> None:
    """Two workers: one read the stamp during the update, the other read it clean afterwards and noted first."""
    store = UpdateWindowStore(store_redis, keep_days=30)
    store.note("east", True, "UpdateInProgress", 100.0)
    store.note("east", False, "AppliedSuccessfully", 300.0)
    assert store.note("east", True, "UpdateInProgress", 250.0) is None
    assert store.current("east") is None
    assert store.windows("east", 0.0, 1000.0) == [UpdateWindow(100.0, 300.0, ("UpdateInProgress",))]


def test_two_workers_noting_the_same_readings_make_one_window(store_redis: redis.Redis) -> None:
    store = UpdateWindowStore(store_redis, keep_days=30)
    readings = [
        (True, "PreparingUpdate", 100.0),
        (True, "UpdateInProgress", 200.0),
        (False, "AppliedSuccessfully", 300.0),
    ]
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        for paused, state, at in readings:
            store.note("east", paused, state, at)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.windows("east", 0.0, 1000.0) == [UpdateWindow(100.0, 300.0, ("PreparingUpdate", "UpdateInProgress"))]


def test_windows_are_kept_for_the_history_days(store_redis: redis.Redis) -> None:
    store = UpdateWindowStore(store_redis, keep_days=10)
    store.note("east", True, "UpdateInProgress", 0.0)
    store.note("east", False, "AppliedSuccessfully", 1 * DAY)
    store.note("east", True, "UpdateInProgress", 5 * DAY)
    store.note("east", False, "AppliedSuccessfully", 6 * DAY)
    assert len(store.windows("east", 0.0, 20 * DAY)) == 2
    store.note("east", False, "AppliedSuccessfully", 12 * DAY)  # the first ended more than 10 days before
    assert [w.start for w in store.windows("east", 0.0, 20 * DAY)] == [5 * DAY]
    ttl = int(store_redis.ttl(keys.update_windows_key("east")))
    assert 10 * DAY - 5 <= ttl <= 10 * DAY + 1


@pytest.mark.parametrize(
    "window, since, until, overlaps",
    [
        (UpdateWindow(10.0, 20.0), 0.0, 9.0, False),
        (UpdateWindow(10.0, 20.0), 0.0, 10.0, True),
        (UpdateWindow(10.0, 20.0), 20.0, 30.0, True),
        (UpdateWindow(10.0, 20.0), 21.0, 30.0, False),
        (UpdateWindow(10.0, None), 1e9, 2e9, True),
    ],
)
def test_overlap(window: UpdateWindow, since: float, until: float, overlaps: bool) -> None:
    assert window.overlaps(since, until) is overlaps
    assert UpdateWindow.from_json(window.to_json()) == window
