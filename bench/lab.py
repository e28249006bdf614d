"""The shared test bench: one redis-server, one fake Slack, a log directory and a simulator state directory."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench.common import BOT_TOKEN, OPERATOR, SIGNING_SECRET, STAMP
from devkit.localrun import RedisServer, bot_environment
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack


@dataclass
class Lab:
    redis_server: RedisServer
    slack: FakeSlack
    log_dir: Path
    sim_state_dir: str  # one CA and client certificate for every simulator, generated once

    @classmethod
    def start(cls) -> Lab:
        server = RedisServer()
        server.start()
        work = Path(tempfile.mkdtemp(prefix="azs-bench-"))
        (work / "logs").mkdir()
        return cls(server, FakeSlack().start(), work / "logs", str(work / "sim"))

    def stop(self) -> None:
        self.slack.stop()
        self.redis_server.stop()

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_server.url)

    def flush_redis(self) -> None:
        client = self.redis()
        client.flushall()
        client.close()

    def bot_env(self, sim: StampSimulator, *, poll_interval: float) -> dict[str, str]:
        """The bot's environment, built as the tests and the demo build it, with the benchmark's names."""
        return bot_environment(
            sim.env(),
            slack_api_url=self.slack.api_url,
            redis_url=self.redis_server.url,
            signing_secret=SIGNING_SECRET,
            bot_token=BOT_TOKEN,
            operators=[OPERATOR],
            stamp_name=STAMP,
            poll_interval=poll_interval,
        )

    def simulator(self, **knobs: Any) -> StampSimulator:
        sim = StampSimulator(state_dir=self.sim_state_dir, **knobs)
        sim.start()
        return sim
