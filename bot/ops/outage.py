"""Logging a dependency's outage as two lines (gone, back after N s) instead of a traceback per retry."""

from __future__ import annotations

import logging
import threading
import time


class OutageLog:
    """Tracks whether ``what`` (e.g. Redis) answers; logs only the changes. Safe to share between threads."""

    def __init__(self, what: str, logger: logging.Logger) -> None:
        self.what = what
        self.logger = logger
        self._since: float | None = None
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        self.logger.error(
            "%s unavailable (%s: %s); retrying quietly until it answers", self.what, type(exc).__name__, exc
        )

    def ok(self) -> None:
        with self._lock:
            if self._since is None:
                return
            down_for, self._since = time.monotonic() - self._since, None
        self.logger.warning("%s is back after %.1fs", self.what, down_for)


REDIS = OutageLog("redis", logging.getLogger("bot.redis"))
"""The process's one view of Redis: the poll loop, the after-ack recovery loop and commands report to it."""
