"""Fixtures: a private Redis, the stamp simulator over TLS, a fake Slack API, the web app, workers."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from bot.state.keys import meta_key
from devkit.localrun import bot_environment, launch_web
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import BotProcess, RedisServer, SlackClientSim

OPERATOR = "UOPER"
SIGNING_SECRET = "test-signing-" + secrets.token_hex(8)
BOT_TOKEN = "xoxb-test-" + secrets.token_hex(8)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    if redis_server.process is None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    meta = client.hgetall(meta_key())  # keep the data epoch, or the shared web would rightly see "data lost"
    client.flushall()
    if meta:
        client.hset(meta_key(), mapping=cast(Any, meta))
    yield client
    if redis_server.process is None:  # a test stopped it: bring it back for the next one
        redis_server.start()
    client.close()


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampSimulator]:
    simulator = StampSimulator(
        identity="adfs",
        backup_seconds=1.0,
        retry_after=0,
        reported_duration="PT21M15.0081024S",
        state_dir=str(tmp_path_factory.mktemp("sim")),
    )
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def stamp(sim: StampSimulator) -> Iterator[StampSimulator]:
    """The shared simulator, reset to a quiet stamp with no running backup."""
    sim.clear_faults()
    sim.finish_running()
    sim.outcome, sim.lro_style, sim.backup_seconds, sim.retry_after = "Succeeded", "async", 1.0, 0
    sim.reported_duration = "PT21M15.0081024S"
    sim.set_configured(True)
    yield sim
    sim.clear_faults()
    sim.finish_running()


@pytest.fixture(scope="session")
def slack_api() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_slack(slack_api: FakeSlack) -> FakeSlack:
    slack_api.clear()
    return slack_api


@pytest.fixture(scope="session")
def bot_env(sim: StampSimulator, slack_api: FakeSlack, redis_server: RedisServer) -> dict[str, str]:
    return bot_environment(
        sim.env(),
        slack_api_url=slack_api.api_url,
        redis_url=redis_server.url,
        signing_secret=SIGNING_SECRET,
        bot_token=BOT_TOKEN,
        operators=[OPERATOR, "UOTHEROP"],
        stamp_name="sim-stamp",
        poll_interval=0.2,
    )


@pytest.fixture(scope="session")
def web_process(bot_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, str]]:
    """The shared web process; tests that kill a web process start their own with ``start_web``."""
    process, base = launch_web(bot_env, tmp_path_factory.mktemp("logs"))
    yield process, base
    process.stop()


@pytest.fixture(scope="session")
def web(web_process: tuple[BotProcess, str]) -> str:
    return web_process[1]


@pytest.fixture
def start_web(
    bot_env: dict[str, str], tmp_path: Path, fake_slack: FakeSlack, redis_client: redis.Redis, stamp: StampSimulator
) -> Iterator[Callable[..., tuple[BotProcess, SlackClientSim]]]:
    started: list[BotProcess] = []

    def start(**env: str) -> tuple[BotProcess, SlackClientSim]:
        process, base = launch_web({**bot_env, **env}, tmp_path)
        started.append(process)
        return process, SlackClientSim(base, SIGNING_SECRET, fake_slack)

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def slack(web: str, fake_slack: FakeSlack, redis_client: redis.Redis, stamp: StampSimulator) -> SlackClientSim:
    return SlackClientSim(web, SIGNING_SECRET, fake_slack)


@pytest.fixture
def start_worker(bot_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    started: list[BotProcess] = []

    def start(**env: str) -> BotProcess:
        process = BotProcess("worker", {**bot_env, **env}, tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
