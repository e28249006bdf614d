"""Run a long-lived loop (the Socket Mode runner, the worker) until SIGTERM or SIGINT, with its probes served."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from bot.config.settings import Settings
from bot.ops.probes import Probes, serve_probes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Process:
    """A long-lived loop as the composition root built it (:mod:`bot.app`), with what its probes report."""

    run: Callable[[threading.Event], None]
    """Runs until the event is set, then finishes what it holds and returns."""
    probes: Probes
    """Its loop's heartbeat (``/livez``), what keeps it from being ready (``/readyz``) and the detail (``/healthz``)."""
    started: str
    """Logged once it runs."""
    before_scrape: Callable[[], None] | None = None
    """Refreshes gauges read on demand, before each scrape of ``/metrics``."""


def run_until_stopped(settings: Settings, process: Process, stop: threading.Event | None = None) -> None:
    """``process.run(stop)``, with ``stop`` set by SIGTERM or SIGINT, and the probes and ``/metrics`` on
    ``AZS_METRICS_PORT`` (0: none)."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d received; finishing what is in progress", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    if settings.metrics_port:
        serve_probes(settings.host, settings.metrics_port, process.probes, process.before_scrape)
    log.info("%s", process.started)
    process.run(stop)
