"""Probes by purpose (issue 21): a Redis outage of a minute neither takes the web out of service nor restarts
anything, and Slack users get the bot's own "Redis is not answering" all along.

The web, the worker and their Redis are this test's own (the shared Redis is never stopped here).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.words.replies import redis_down
from devkit.localrun import BotProcess, RedisServer, free_port, launch_web
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.conftest import SIGNING_SECRET
from tests.harness import SlackClientSim, completions, wait_until

OUTAGE_SECONDS = 62.0
"""Over a minute: Kubernetes took the old probes' pods out after ~20 s and restarted them after ~3 minutes."""
REDIS_DOWN_WORDS = "is not answering"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(persistent=True)  # comes back with its data, as production's Redis would
    server.start()
    yield server
    server.stop()


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0


def test_a_minute_without_redis_keeps_the_web_serving_and_restarts_nothing(
    own_redis: RedisServer,
    bot_env: dict[str, str],
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    assert REDIS_DOWN_WORDS in json.dumps(redis_down().blocks)  # the bot's own words, checked below
    env = {**bot_env, "REDIS_URL": own_redis.url, "AZS_USER_COMMANDS_PER_MINUTE": "60"}
    web_metrics, worker_metrics = free_port(), free_port()
    web, base = launch_web({**env, "AZS_METRICS_PORT": str(web_metrics)}, tmp_path, healthy=True)
    worker = BotProcess("worker", {**env, "AZS_METRICS_PORT": str(worker_metrics)}, tmp_path)
    processes: list[BotProcess] = [web, worker]
    try:
        pids = [p.process.pid for p in processes]
        slack = SlackClientSim(base, SIGNING_SECRET, fake_slack)
        worker_probe = f"http://127.0.0.1:{worker_metrics}"
        live = [f"{base}/livez", f"http://127.0.0.1:{web_metrics}/livez", f"{worker_probe}/livez"]
        ready = [f"{base}/readyz", f"http://127.0.0.1:{web_metrics}/readyz"]
        assert wait_until(lambda: all(_status(u) == 200 for u in [*live, *ready, f"{worker_probe}/readyz"]), 20)

        own_redis.stop()
        went_down = time.monotonic()
        failures: list[str] = []

        def probes_hold() -> bool:
            """Every probe an orchestrator acts on, checked again and again; each failure noted, never skipped."""
            failures.extend(f"{u}: {s}" for u in [*live, *ready] if (s := _status(u)) != 200)
            failures.extend(f"pid {p.process.pid} exited" for p in processes if p.process.poll() is not None)
            return False

        answers = 0
        while time.monotonic() - went_down < OUTAGE_SECONDS:
            started = time.monotonic()
            response, hook = slack.command("backup status")
            assert response.status_code == 200 and time.monotonic() - started < 3.0, "Slack's 3 s ack"
            assert REDIS_DOWN_WORDS in json.dumps(slack.wait_reply(hook, REDIS_DOWN_WORDS, timeout=10))
            answers += 1
            wait_until(probes_hold, timeout=min(8.0, max(0.0, OUTAGE_SECONDS - (time.monotonic() - went_down))))
        assert not failures, failures[:10]
        assert answers >= 6
        # Readiness of the worker may follow Redis (it cannot take work), its liveness never does.
        assert _status(f"{worker_probe}/readyz") == 503 and _status(f"{worker_probe}/livez") == 200
        assert _status(f"{base}/healthz") == 503, "the detail still says what is wrong"

        own_redis.start()
        assert wait_until(lambda: _status(f"{worker_probe}/readyz") == 200, timeout=20)
        backup_id = slack.start_backup()  # commands work again, and the worker follows the backup to its end
        assert wait_until(lambda: any(backup_id in json.dumps(m) for m in completions(fake_slack)), timeout=30)
        assert [p.process.pid for p in processes] == pids and all(p.process.poll() is None for p in processes)
        assert web.log().count("serving Slack on") == 1 and worker.log().count("worker polling every") == 1
    finally:
        for process in processes:
            process.kill()
