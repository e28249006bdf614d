"""Keeping a claim's lease alive while a slow call runs, and asking Redis before each attempt of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis


class LeaseKeeper:
    """Renews a claim every third of its lease on a thread; its :meth:`guard` asks Redis before a post.

    The guard renews the lease and answers ``True`` only if that took less than half the lease, so an
    attempt that follows it starts with at least half a lease left. A frozen process renews nothing:
    its lease runs out, another worker takes the job, and the guard says no when it wakes.

    ``renew`` extends the lease to ``ttl`` from now and says whether the claim is still the newest
    (:meth:`bot.state.jobs.JobStore.renew`).
    """

    def __init__(self, renew: Callable[[], bool], ttl: float) -> None:
        self.renew, self.ttl = renew, ttl
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.ttl)

    def guard(self) -> bool:
        if self.lost.is_set():
            return False
        began = time.monotonic()
        try:
            held = self.renew()
        except redis.RedisError:
            held = False
        if not held:
            self.lost.set()
        return held and time.monotonic() - began < self.ttl / 2

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self.renew():
                    self.lost.set()
                    return
            except redis.RedisError:
                continue  # the guard decides before the next attempt; the lease may still run out
