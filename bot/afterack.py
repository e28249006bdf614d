"""Where a listener's slow part runs once Slack has its ack: a small pool that yields to acks.

Acks have 3 s; the answers after them go through ``response_url``, which has 30 minutes. So the
work waits (at most ``max_wait``) while the web process is still acking requests, and runs on few
threads, leaving the CPU to the acks (bench/: p99 ack was 7-11x a bare Bolt app when the work ran
on Bolt's listener threads).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


class AfterAckPool:
    def __init__(self, threads: int = 1, max_wait: float = 2.0) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="after-ack")
        self._max_wait = max_wait
        self._in_flight = 0
        self._idle = threading.Condition()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Wrap the handling of one incoming request (the web entry point does)."""
        with self._idle:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.notify_all()

    def submit(self, work: Callable[[], object]) -> None:
        self._executor.submit(self._run, work)

    def _run(self, work: Callable[[], object]) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=self._max_wait)
        work()
