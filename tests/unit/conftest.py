"""In-process fixtures: a private Redis through the bot's own factory, emptied per test; a job store; a fake poster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis

from bot.state.connection import connect
from bot.state.jobs import JobStore
from bot.state.keys import meta_key
from tests.harness import RedisServer
from tests.unit.fakes import FakePoster


@pytest.fixture
def store_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client made as every process makes one (decoded replies), on an emptied Redis. The data epoch is
    kept, as ``tests/conftest.py``'s ``redis_client`` keeps it, for a shared web process on the same Redis."""
    if redis_server.process is None:
        redis_server.start()
    client = connect(redis_server.url)
    meta = client.hgetall(meta_key())
    client.flushdb()
    if meta:
        client.hset(meta_key(), mapping=cast(Any, meta))
    yield client
    client.close()


@pytest.fixture
def store(store_redis: redis.Redis) -> JobStore:
    """A job store on that emptied Redis."""
    return JobStore(store_redis)


@pytest.fixture
def poster() -> FakePoster:
    return FakePoster()
