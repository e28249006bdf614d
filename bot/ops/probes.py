"""``/healthz`` and ``/metrics`` on ``AZS_METRICS_PORT``, for every process (web, worker, Socket Mode).

``/metrics`` names the stamps, so it is served here only, never on the web's public Slack port (which
keeps its own ``/healthz`` for platforms that probe the port they route to). Liveness is a heartbeat:
the process's main loop calls :meth:`Heartbeat.beat` each turn, and a loop that has not turned within
``max_age`` seconds is reported dead, so an orchestrator restarts a stalled process. Readiness is
whatever the process says is wrong right now (Redis not answering, no Slack link).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

Problems = Callable[[], dict[str, str]]
"""Component -> what is wrong with it; empty when the process is ready."""


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


def probe_body(heartbeat: Heartbeat, problems: Problems) -> tuple[int, dict[str, object]]:
    """HTTP status and JSON body of ``/healthz``: 503 when the loop stalled or something is wrong."""
    found: dict[str, str] = {}
    if not heartbeat.alive():
        found["loop"] = f"the main loop has not turned for {heartbeat.age():.0f}s (limit {heartbeat.max_age:.0f}s)"
    try:
        found.update(problems())
    except Exception as exc:  # a readiness check must never take the probe down with it
        found["probe"] = f"readiness check failed ({type(exc).__name__})"
    if not found:
        return 200, {"status": "ok"}
    return 503, {"status": "unavailable", "problems": found, "reason": "; ".join(f"{k}: {v}" for k, v in found.items())}


def serve_probes(
    host: str,
    port: int,
    heartbeat: Heartbeat,
    problems: Problems,
    before_scrape: Callable[[], None] | None = None,
) -> ThreadingHTTPServer | None:
    """Serve ``/healthz`` and ``/metrics`` on a daemon thread; ``None`` (and a warning) if the port is taken.

    ``before_scrape`` refreshes gauges that are read on demand (the web's jobs in flight) before each scrape.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == "/healthz":
                status, body = probe_body(heartbeat, problems)
                self._send(status, "application/json", json.dumps(body).encode())
            elif self.path.split("?", 1)[0] == "/metrics":
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
        log.warning("probe port %d unavailable (%s); running without /healthz and /metrics", port, exc)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    log.info("health and metrics on %s:%d (/healthz, /metrics)", host, server.server_address[1])
    return server
