"""A finished job's expiry is part of the write that finishes it, never a second step a crash can skip.

Issue 17, finding 11: the fenced Lua update marked a job done and a separate ``EXPIRE`` followed; a worker
killed between the two left a hash with no TTL, kept for ever. Here Redis ``MONITOR`` shows every command the
store sends while a job is retired: the TTL must be set by then, and no expiry may be sent outside the
write itself (inside the Lua script, or inside the ``MULTI``/``EXEC`` of the web side's transaction).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis

from bot.state.connection import connect
from bot.state.job import Job, JobState
from bot.state.jobs import JobStore
from bot.state.keys import job_key, stamp_lock_key
from tests.harness import RedisServer, wait_until

RETENTION = 3600.0
EXPIRY_COMMANDS = ("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT")
END = "azs-test-monitor-end"


@contextmanager
def monitored(url: str) -> Iterator[list[list[str]]]:
    """Every command Redis receives from other connections meanwhile, as word lists (script bodies included)."""
    seen: list[list[str]] = []
    watcher = redis.Redis.from_url(url, decode_responses=True)
    started = threading.Event()

    def listen() -> None:
        with watcher.monitor() as monitor:  # type: ignore[no-untyped-call]
            started.set()
            for event in monitor.listen():
                words = str(event["command"]).split()
                if words[-1:] == [END]:
                    return
                if event.get("client_type") != "lua":  # commands a script runs are part of that script
                    seen.append(words)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        yield seen
    finally:
        redis.Redis.from_url(url).echo(END)
        thread.join(timeout=5)
        watcher.close()


def outside_a_transaction(commands: list[list[str]]) -> list[list[str]]:
    """The commands not queued between MULTI and EXEC."""
    outside, queued = [], False
    for words in commands:
        name = words[0].strip('"').upper()
        if name == "MULTI":
            queued = True
        elif name in ("EXEC", "DISCARD"):
            queued = False
        elif not queued:
            outside.append([name, *words[1:]])
    return outside


@pytest.fixture
def store(redis_server: RedisServer, redis_client: redis.Redis) -> JobStore:
    return JobStore(connect(redis_server.url), retention_seconds=RETENTION)


def reserved(store: JobStore) -> Job:
    job = Job(job_id=Job.new_id(), stamp="expiry-stamp", requester="U1", channel="C1")
    assert store.reserve(job, reconcile_after=0) is None
    return job


def claimed_and_closed(store: JobStore, job: Job) -> None:
    claim = store.claim(job.job_id, ttl=30)
    assert claim is not None and store.close(claim)


def claimed_and_notified(store: JobStore, job: Job) -> None:
    claim = store.claim(job.job_id, ttl=30)
    assert claim is not None and store.finish(claim, at=1.0, result=None, error="x")
    assert store.mark_notified(claim, "1.0")


def refused(store: JobStore, job: Job) -> None:
    store.mark_start_failed(job, "the stamp refused it")


@pytest.mark.parametrize("retire", [claimed_and_closed, claimed_and_notified, refused], ids=lambda f: f.__name__)
def test_the_write_that_retires_a_job_sets_its_expiry(
    store: JobStore, redis_server: RedisServer, retire: Callable[[JobStore, Job], None]
) -> None:
    job = reserved(store)
    with monitored(redis_server.url) as seen:
        retire(store, job)
    ttl = store.redis.ttl(job_key(job.job_id))
    assert 0 < int(ttl) <= RETENTION
    assert wait_until(lambda: bool(seen), timeout=2)
    separate = [words for words in outside_a_transaction(seen) if words[0] in EXPIRY_COMMANDS]
    assert not separate, f"the expiry was a step of its own: {separate}"


def test_a_refused_start_frees_the_stamp_and_expires_in_one_transaction(store: JobStore) -> None:
    job = reserved(store)
    refused(store, job)
    assert store.get(job.job_id) is not None and store.get(job.job_id).state == JobState.START_FAILED  # type: ignore[union-attr]
    assert store.redis.get(stamp_lock_key(job.stamp)) is None


@pytest.mark.parametrize("retention", [math.inf, math.nan, 0.0, -1.0, 1e306 * 86_400, 1e20])
def test_a_retention_redis_cannot_take_is_refused_when_the_store_is_built(
    redis_server: RedisServer, retention: float
) -> None:
    """Not later, inside a transaction that holds the stamp's lock (finding 5: the stamp stayed locked)."""
    with pytest.raises(ValueError, match="retention"):
        JobStore(connect(redis_server.url), retention_seconds=retention)
