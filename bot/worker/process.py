"""The worker process: builds the poller from settings and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import redis

from bot.config.settings import Settings
from bot.ops.probes import Heartbeat, serve_probes
from bot.slack.client import SlackPoster, make_web_client
from bot.stamp.arm import ArmClient
from bot.state.connection import make_redis
from bot.state.health import Health
from bot.state.jobs import JobStore
from bot.worker.poller import Poller
from bot.worker.watch import Watcher, WatchStore

log = logging.getLogger(__name__)


def build_poller(settings: Settings) -> Poller:
    # One attempt per poll (and no sleep): the poller's decision reschedules a failure instead.
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
    )
    return Poller(store, clients, poster, settings, watcher=watcher)


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    """Poll until stopped; SIGTERM finishes the current cycle, so no claim is left dangling."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d received; finishing the current cycle", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    poller = build_poller(settings)
    # Live while the poll loop turns: a cycle is bounded by the lease, so twice the lease is a stall.
    heartbeat = poller.heartbeat = Heartbeat(max_age=max(60.0, 2 * settings.lease_seconds))
    if settings.metrics_port:
        serve_probes(settings.host, settings.metrics_port, heartbeat, lambda: redis_problems(poller.store.redis))
    log.info("worker polling every %.1fs", settings.poll_interval)
    poller.run(stop)


def redis_problems(client: redis.Redis) -> dict[str, str]:
    """Readiness: a process that cannot reach Redis can neither take nor record work."""
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"redis": f"Redis does not answer ({type(exc).__name__})"}
    return {}
