"""The worker process: builds the loop from settings and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType

import redis

from bot.config.settings import Settings
from bot.ops.probes import Heartbeat, serve_probes
from bot.slack.client import SlackPoster, make_web_client
from bot.slack.delivery import Delivery
from bot.stamp.arm import ArmClient
from bot.state.connection import make_redis
from bot.state.health import Health
from bot.state.jobs import JobStore
from bot.worker.follow import Follower
from bot.worker.loop import Loop
from bot.worker.reconcile import Reconciler
from bot.worker.watch import Watcher, WatchStore

log = logging.getLogger(__name__)


def build_worker(settings: Settings, *, clock: Callable[[], float] = time.time) -> Loop:
    """The worker from settings: its Redis client, stamp clients, Slack poster and watcher, on one ``clock``."""
    # One attempt per poll (and no sleep): the decision after a poll reschedules a failure instead.
    clients = {stamp.name: ArmClient(stamp, max_attempts=1) for stamp in settings.stamps}
    store = JobStore(make_redis(settings), retention_seconds=settings.job_retention_days * 86_400)
    poster = SlackPoster(make_web_client(settings), Health(store.redis), retry_seconds=settings.slack_retry_seconds)
    watcher = Watcher(
        WatchStore(store.redis),
        store,
        clients,
        poster,
        interval=settings.watch_interval,
        max_age_hours=settings.max_backup_age_hours,
        clock=clock,
    )
    return assemble_worker(store, clients, poster, settings, watcher=watcher, clock=clock)


def assemble_worker(
    store: JobStore,
    clients: Mapping[str, ArmClient],
    poster: SlackPoster,
    settings: Settings,
    *,
    watcher: Watcher | None = None,
    clock: Callable[[], float] = time.time,
) -> Loop:
    """The worker's parts around given clients (tests and benchmarks instrument them): one delivery protocol,
    the follower, the reconciler and the loop, all on the same ``clock``."""
    delivery = Delivery(
        store,
        poster,
        lease_seconds=settings.lease_seconds,
        clock=clock,
        max_retry_delay=settings.max_retry_delay,
        give_up_after=settings.max_announce_attempts,
    )
    follower = Follower(store, clients, poster, delivery, settings, clock=clock)
    reconciler = Reconciler(store, clients, delivery, follower, clock=clock)
    return Loop(store, follower, reconciler, settings, health=poster.health, watcher=watcher, clock=clock)


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    """Poll until stopped; SIGTERM finishes the current cycle, so no claim is left dangling."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d received; finishing the current cycle", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    worker = build_worker(settings)
    # Live while the poll loop turns: a cycle is bounded by the lease, so twice the lease is a stall.
    heartbeat = worker.heartbeat = Heartbeat(max_age=max(60.0, 2 * settings.lease_seconds))
    if settings.metrics_port:
        serve_probes(settings.host, settings.metrics_port, heartbeat, lambda: redis_problems(worker.store.redis))
    log.info("worker polling every %.1fs", settings.poll_interval)
    worker.run(stop)


def redis_problems(client: redis.Redis) -> dict[str, str]:
    """Readiness: a process that cannot reach Redis can neither take nor record work."""
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"redis": f"Redis does not answer ({type(exc).__name__})"}
    return {}
