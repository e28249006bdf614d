"""Probes by purpose, and ``/metrics``, on ``AZS_METRICS_PORT`` for every process (web, worker, Socket Mode).

- ``/livez``: the process is responsive. Only the heartbeat: the process's main loop calls
  :meth:`Heartbeat.beat` each turn, and a loop that has not turned within ``max_age`` seconds is dead, so an
  orchestrator restarts a stalled process. Never Redis, never Slack: restarting cures neither.
- ``/readyz``: the process can do useful work now (alive, and what its ``ready`` check says). Each process says
  what that means: the web stays ready while Redis is down (it still answers Slack with "Redis is not
  answering"), Socket Mode is ready while a Slack connection is open, the worker while Redis answers.
- ``/healthz``: the detailed status for people and the preflight (Redis, lost data, Slack's token): no probe
  uses it.

``/metrics`` names the stamps, so it is served here only, never on the web's public Slack port (which answers
``/livez`` and ``/readyz`` itself, for platforms that probe the port they route to).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

Problems = Callable[[], dict[str, str]]
"""Component -> what is wrong with it; empty when all is well."""

PROBE_PATHS = ("/livez", "/readyz", "/healthz")


def no_problems() -> dict[str, str]:
    return {}


class Heartbeat:
    """Liveness of one loop: alive while :meth:`beat` was called within ``max_age`` seconds."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self._last

    def alive(self) -> bool:
        return self.age() <= self.max_age


@dataclass(frozen=True)
class Probes:
    """What one process's probes report: its loop's heartbeat, what keeps it from being ready, and the detail."""

    heartbeat: Heartbeat
    ready: Problems = no_problems
    """What keeps the process from doing useful work (``/readyz``); never a dependency it can answer without."""
    health: Problems = no_problems
    """Everything worth telling a person (``/healthz``): Redis, lost data, Slack's token, the readiness too."""

    def answer(self, path: str) -> tuple[int, dict[str, object]] | None:
        """HTTP status and JSON body for a probe path; ``None`` for any other path."""
        if path == "/livez":
            return probe_body(self.heartbeat, no_problems)
        if path == "/readyz":
            return probe_body(self.heartbeat, self.ready)
        if path == "/healthz":
            return probe_body(self.heartbeat, self.health)
        return None


def probe_body(heartbeat: Heartbeat, problems: Problems) -> tuple[int, dict[str, object]]:
    """HTTP status and JSON body of a probe: 503 when the loop stalled or something ``problems`` names is wrong."""
    found: dict[str, str] = {}
    if not heartbeat.alive():
        found["loop"] = f"the main loop has not turned for {heartbeat.age():.0f}s (limit {heartbeat.max_age:.0f}s)"
    try:
        found.update(problems())
    except Exception as exc:  # a check must never take the probe down with it
        found["probe"] = f"check failed ({type(exc).__name__})"
    if not found:
        return 200, {"status": "ok"}
    return 503, {"status": "unavailable", "problems": found, "reason": "; ".join(f"{k}: {v}" for k, v in found.items())}


def serve_probes(
    host: str,
    port: int,
    probes: Probes,
    before_scrape: Callable[[], None] | None = None,
) -> ThreadingHTTPServer | None:
    """Serve the probes and ``/metrics`` on a daemon thread; ``None`` (and a warning) if the port is taken.

    ``before_scrape`` refreshes gauges that are read on demand (the web's jobs in flight) before each scrape.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            answer = probes.answer(path)
            if answer is not None:
                self._send(answer[0], "application/json", json.dumps(answer[1]).encode())
            elif path == "/metrics":
                if before_scrape is not None:
                    before_scrape()
                self._send(200, CONTENT_TYPE_LATEST, generate_latest())
            else:
                self._send(404, "application/json", b'{"status": "not found"}')

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes arrive every few seconds; they are not worth a log line

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        log.warning("probe port %d unavailable (%s); running without probes and /metrics", port, exc)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    log.info("probes and metrics on %s:%d (/livez, /readyz, /healthz, /metrics)", host, server.server_address[1])
    return server
