"""The worker process: builds the poller from settings and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from prometheus_client import start_http_server

from bot.app import make_redis
from bot.arm import ArmClient
from bot.health import Health
from bot.jobs import JobStore
from bot.poller import Poller
from bot.settings import Settings
from bot.slack import SlackPoster, make_web_client
from bot.watch import Watcher, WatchStore

log = logging.getLogger(__name__)


def build_poller(settings: Settings) -> Poller:
    # Few attempts per poll: the poller reschedules failures itself instead of sleeping on them.
    clients = {stamp.name: ArmClient(stamp, max_attempts=2, max_backoff=5.0) for stamp in settings.stamps}
    store = JobStore(make_redis(settings))
    poster = SlackPoster(make_web_client(settings), Health(store.redis))
    watcher = Watcher(WatchStore(store.redis), store, clients, poster, interval=settings.watch_interval,
                      max_age_hours=settings.max_backup_age_hours)
    return Poller(store, clients, poster, poll_interval=settings.poll_interval, lease_seconds=settings.lease_seconds,
                  backup_timeout=settings.backup_timeout, progress_interval=settings.progress_interval,
                  watcher=watcher)


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    """Poll until stopped; SIGTERM finishes the current cycle, so no claim is left dangling."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d received; finishing the current cycle", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    if settings.metrics_port:
        try:
            start_http_server(settings.metrics_port, addr="0.0.0.0")
            log.info("metrics on :%d/metrics", settings.metrics_port)
        except OSError as exc:
            log.warning("metrics port %d unavailable (%s); running without /metrics", settings.metrics_port, exc)
    log.info("worker polling every %.1fs", settings.poll_interval)
    build_poller(settings).run(stop)
