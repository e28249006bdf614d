"""Problems worth a 503 on ``/healthz``, shared through Redis so every process reports them.

Two are found by watching, not by a failed request: Redis that lost its data (its epoch changed
or vanished), and Slack rejecting the bot token. Each is kept as an expiring key, so it clears
itself once nobody has seen it for a while.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid

import redis

from bot.config.limits import HEALTH_PROBLEM_TTL_SECONDS
from bot.state import keys

log = logging.getLogger(__name__)

COMPONENTS = ("redis-data", "slack")


class Health:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._epoch: str | None = None

    def check_epoch(self) -> None:
        """Notice an emptied Redis: the epoch this process saw is gone or different."""
        current = self.redis.hget(keys.meta_key(), "epoch")
        if current is None:
            self.redis.hsetnx(keys.meta_key(), "epoch", uuid.uuid4().hex)
            self.redis.hsetnx(keys.meta_key(), "created_at", str(time.time()))
            current = self.redis.hget(keys.meta_key(), "epoch")
        epoch = str(current)
        if self._epoch is not None and epoch != self._epoch:
            self.report(
                "redis-data",
                "Redis lost its data (emptied, or restarted without persistence); backups in flight may go unreported",
            )
        self._epoch = epoch

    def report(self, component: str, problem: str) -> None:
        log.error("health: %s: %s", component, problem)
        try:
            self.redis.set(keys.health_key(component), problem, ex=HEALTH_PROBLEM_TTL_SECONDS)
        except redis.RedisError:
            log.error("could not record the problem in Redis")

    def clear(self, component: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(keys.health_key(component))

    def problems(self) -> dict[str, str]:
        """Component -> problem; raises ``RedisError`` when Redis itself does not answer."""
        self.redis.ping()
        self.check_epoch()
        values = self.redis.mget([keys.health_key(c) for c in COMPONENTS])
        return {c: str(v) for c, v in zip(COMPONENTS, values, strict=True) if v is not None}
