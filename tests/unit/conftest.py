"""In-process fixtures: a real Redis (the session's ``redis_server``), emptied per test, and a fake poster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from bot.state.connection import connect
from bot.state.jobs import JobStore
from bot.state.keys import meta_key
from tests.harness import RedisServer
from tests.unit.fakes import FakePoster


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[JobStore]:
    """A job store on an empty Redis (the data epoch is kept: a shared web process would rightly see "data lost")."""
    if redis_server.process is None:
        redis_server.start()
    store = JobStore(connect(redis_server.url))
    meta = cast(dict[Any, Any], store.redis.hgetall(meta_key()))
    store.redis.flushdb()
    if meta:
        store.redis.hset(meta_key(), mapping=meta)
    yield store
    store.redis.close()


@pytest.fixture
def poster() -> FakePoster:
    return FakePoster()
