"""The poll cycle's shape: a slow job does not hold up the others, and the modules point one way."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from slack_sdk import WebClient

from bot.app import assemble_worker
from bot.config.settings import Settings
from bot.config.stamps import StampSettings
from bot.slack.client import SlackPoster
from bot.state.connection import connect
from bot.state.job import Job
from bot.state.jobs import JobStore
from tests.harness import RedisServer


def test_a_slow_job_does_not_stretch_the_cycle_nor_run_twice(redis_server: RedisServer) -> None:
    """``run_once`` hands due jobs to the pool and returns; a job still in flight is not handed over again."""
    store = JobStore(connect(redis_server.url))
    store.redis.flushdb()
    stamp = StampSettings(name="s", arm_endpoint="https://stamp.invalid", client_id="c", client_secret="x")
    poster = SlackPoster(WebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"))
    loop = assemble_worker(store, {}, poster, Settings(redis_url=redis_server.url, stamps=(stamp,)))
    slow, fast = (Job(job_id=Job.new_id(), stamp=f"s{i}", requester="U1", channel="C1") for i in range(2))
    for job in (slow, fast):
        assert store.reserve(job, reconcile_after=0.0) is None
    release, handled = threading.Event(), []

    def process(job_id: str) -> None:  # stands in for a stamp that takes its time answering
        handled.append(job_id)
        if job_id == slow.job_id:
            release.wait(10)

    loop.process = process  # type: ignore[method-assign]
    began = time.monotonic()
    assert loop.run_once(time.time() + 1) == 2
    assert loop.run_once(time.time() + 1) == 2  # both still due: the slow one is in flight, not resubmitted
    assert time.monotonic() - began < 1.0
    deadline = time.monotonic() + 5
    while fast.job_id not in handled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(handled) == sorted([slow.job_id, fast.job_id])  # the fast one ran while the slow one waits
    release.set()
    loop.drain(timeout=5)
    loop.run_once(time.time() + 1)
    loop.drain(timeout=5)
    assert handled.count(slow.job_id) == 2  # landed, so the next cycle takes it again
    loop.close()
    store.redis.close()


def test_the_worker_does_not_load_the_web_app_and_strategies_know_no_http() -> None:
    """Arrows one way: the worker process without Bolt and the listeners; the strategies without the stamp client."""
    probe = (
        "import sys, bot.worker.loop, bot.worker.follow, bot.worker.reconcile; "
        "w = {'bot.app', 'slack_bolt', 'handlers'} & set(sys.modules); "
        "import importlib; [sys.modules.pop(m) for m in list(sys.modules) if m.startswith(('bot', 'requests'))]; "
        "import bot.stamp.lro; h = {'bot.stamp.arm', 'requests', 'bot.stamp.auth'} & set(sys.modules); "
        "print(sorted(w), sorted(h))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[] []"
