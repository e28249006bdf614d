"""HTTP entry point: Slack at ``POST /slack/events`` and the probes (``/livez``, ``/readyz``, and ``/healthz`` for
people) on the public port, served by waitress; ``/metrics`` and the probes again on ``AZS_METRICS_PORT``, and
``/metrics`` never on the public port.

waitress reads each request whole (headers and body, within limits and deadlines) on its event loop
before the request takes a worker thread, so clients that connect and stall hold a socket, never a
thread; the front door (:mod:`bot.serve.front_door`) then checks the signature before Bolt parses anything.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

from bot.config.limits import (
    LOOP_MAX_AGE,
    MAX_BODY_BYTES,
    REQUEST_DEADLINE_SECONDS,
    WEB_CONNECTION_LIMIT,
    WEB_IDLE_SECONDS,
    WEB_THREADS,
)
from bot.config.settings import Settings
from bot.ops.metrics import CONNECTIONS_REFUSED, JOBS_IN_FLIGHT, REQUESTS_NOT_ACTED_ON
from bot.ops.probes import Heartbeat, Probes, serve_probes
from bot.serve.front_door import Refusal, ReplayGuard, check_signature, delivery_ids, parse_body
from bot.serve.lanes import AfterAckPool
from bot.slack.client import AUTH_ERRORS
from bot.state.health import Health
from bot.state.jobs import JobStore

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
SLACK_PATH = "/slack/events"


class SlackWeb:
    """The WSGI callable: the probes, and Slack's requests once they pass the front door.

    ``/livez`` and ``/readyz`` answer 200 whenever a request gets here: the server took it and a thread ran it,
    so the process can answer Slack, Redis or not (a command then gets "Redis is not answering"). ``/healthz``
    is the detail for people (Redis, lost data, Slack's token); no probe uses it. ``/metrics`` is not here: it
    names the stamps, so :func:`serve` serves it on ``AZS_METRICS_PORT`` only (:mod:`bot.ops.probes`).
    """

    def __init__(
        self,
        bolt: App,
        *,
        after_ack: AfterAckPool,
        health: Health,
        store: JobStore,
        replays: ReplayGuard,
        signing_secret: str,
    ) -> None:
        self.slack = SlackRequestHandler(bolt)
        self.after_ack = after_ack
        self.health, self.store = health, store
        self.replays = replays
        self.secret = signing_secret.encode()
        self._not_again_logged: dict[str, float] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        if method in ("GET", "HEAD") and path == "/healthz":
            return self.healthz(start_response)
        if method in ("GET", "HEAD") and path in ("/livez", "/readyz"):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}']
        if method == "POST" and path == SLACK_PATH:
            return self.slack_events(environ, start_response)
        return refuse(start_response, Refusal(404, "not found"))

    def problems(self) -> dict[str, str]:
        """What is wrong now (Redis, Slack's token, lost data), for ``/healthz``; none of it makes the web unready."""
        try:
            return self.health.problems()
        except redis.RedisError as exc:
            return {"redis": f"Redis does not answer ({type(exc).__name__})"}

    def refresh_gauges(self) -> None:
        """Before a scrape: jobs in flight, read from Redis (skipped while it does not answer)."""
        with contextlib.suppress(redis.RedisError):
            JOBS_IN_FLIGHT.set(self.store.count_active())

    def healthz(self, start_response: StartResponse) -> Iterable[bytes]:
        problems = self.problems()
        status = "503 Service Unavailable" if problems else "200 OK"
        body: dict[str, Any] = {"status": "unavailable", "problems": problems} if problems else {"status": "ok"}
        if problems:
            body["reason"] = "; ".join(f"{k}: {v}" for k, v in problems.items())
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def slack_events(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = read_body(environ)
        if body is None:
            return refuse(start_response, Refusal(413, "body too large"))
        headers = {
            "x-slack-request-timestamp": environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
            "x-slack-signature": environ.get("HTTP_X_SLACK_SIGNATURE", ""),
        }
        parsed = check_signature(self.secret, headers, body) or parse_body(body, environ.get("CONTENT_TYPE"))
        if isinstance(parsed, Refusal):
            return refuse(start_response, parsed)
        ids = delivery_ids(parsed)
        seen = self.replays.seen_before(headers["x-slack-signature"], ids)
        if seen is not None:
            return self.not_again(start_response, seen)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return self.dispatch(environ, start_response, ids)

    def dispatch(self, environ: dict[str, Any], start_response: StartResponse, ids: list[str]) -> Iterable[bytes]:
        """Bolt answers the request; when it could not handle it, Slack's retry may (its ids are released)."""
        statuses: list[str] = []

        def noting_status(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            statuses.append(status)
            return start_response(status, headers, *exc_info)

        with self.after_ack.request():  # only signed, whole, new requests count as in flight
            try:
                answer = self.slack(environ, noting_status)
            except Exception as exc:  # Bolt could not read a signed request: say so, without its body
                log.warning("signed request refused: Bolt could not read it (%s)", type(exc).__name__)
                self.replays.forget(ids)
                return refuse(start_response, Refusal(400, "unreadable request"))
        if not statuses or not statuses[0].startswith("2"):
            self.replays.forget(ids)
        return answer

    def not_again(self, start_response: StartResponse, reason: str) -> Iterable[bytes]:
        """200 and nothing else for a request seen before: Slack stops retrying, nothing is done twice."""
        REQUESTS_NOT_ACTED_ON.labels(reason=reason).inc()
        now = time.monotonic()
        if now - self._not_again_logged.get(reason, -60.0) >= 60.0:  # at most a line a minute: replays may flood
            self._not_again_logged[reason] = now
            what = "a signature" if reason == "replay" else "a Slack delivery id (event_id or trigger_id)"
            log.warning("answered a request without acting on it (%s): %s seen before", reason, what)
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Slack-No-Retry", "1")])
        return [b""]


def read_body(environ: dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body the server buffered, or ``None`` past ``limit`` (waitress refuses those first; this is a guard)."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    body: bytes = stream.read(limit + 1)
    return None if len(body) > limit else body


def refuse(start_response: StartResponse, refusal: Refusal) -> Iterable[bytes]:
    """A short JSON answer; the request's body is never echoed or logged."""
    phrases = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 413: "Content Too Large"}
    start_response(f"{refusal.status} {phrases.get(refusal.status, 'Error')}", [("Content-Type", "application/json")])
    return [json.dumps({"error": refusal.reason}).encode()]


def check_slack_token(client: WebClient, health: Health) -> None:
    """Ask Slack once at start; a rejected token is logged loudly and shown on ``/healthz``."""
    try:
        client.auth_test()
        health.clear("slack")
    except SlackApiError as exc:
        error = str(exc.response.get("error", ""))
        if error in AUTH_ERRORS:
            health.report("slack", f"Slack rejects the bot token ({error}); check SLACK_BOT_TOKEN")
        else:
            log.warning("auth.test failed at start: %s", error)
    except OSError as exc:
        log.warning("Slack did not answer auth.test at start: %s", type(exc).__name__)


class DeadlineChannel(HTTPChannel):
    """A connection that remembers when its current, partly received request began."""

    partial_since: float | None = None

    def received(self, data: bytes) -> bool:
        result: bool = super().received(data)
        if self.request is None:
            self.partial_since = None
        elif self.partial_since is None:
            self.partial_since = time.monotonic()
        return result


class DeadlineServer(TcpWSGIServer):
    """waitress, plus a deadline for receiving a whole request (waitress only times out idle connections),
    and at most ``per_address`` connections from one client address.

    Without that share, one client holding ``connection_limit`` stalled sockets kept every other
    client in the listen backlog until the deadlines freed a slot (a signed command waited 9.5 s;
    Slack allows 3). A connection past the share is closed as soon as it is accepted, unread. Behind a
    proxy every client has the proxy's address: the share must then fit all of Slack's traffic.
    Its event loop beats ``heartbeat`` every ``cleanup_interval``: the liveness the metrics port reports.
    """

    channel_class = DeadlineChannel
    request_deadline = REQUEST_DEADLINE_SECONDS
    per_address: int | None = None
    heartbeat: Heartbeat | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._refusals_logged: dict[str, float] = {}
        super().__init__(*args, **kwargs)

    def handle_accept(self) -> None:
        """waitress's accept, with the per-address share checked before a channel is made."""
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:  # the peer left before it was accepted (waitress logs these; in a flood they are noise)
            return
        host = str(addr[0]) if isinstance(addr, tuple) else ""
        if self.per_address is not None and self._held_by(host) >= self.per_address:
            conn.close()
            self._refused(host)
            return
        self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)  # type: ignore[attr-defined]

    def _held_by(self, host: str) -> int:
        channels: dict[int, HTTPChannel] = self.active_channels  # type: ignore[assignment]  # stubs: wrong type
        return sum(1 for channel in list(channels.values()) if channel.addr and channel.addr[0] == host)

    def _refused(self, host: str) -> None:
        """Count each refusal; log an address at most once a minute (a flood must not flood the log)."""
        CONNECTIONS_REFUSED.inc()
        now = time.monotonic()
        if now - self._refusals_logged.get(host, -60.0) >= 60.0:
            if len(self._refusals_logged) > 1000:
                self._refusals_logged.clear()
            self._refusals_logged[host] = now
            log.warning("closing connections from %s: it holds %d, its share of the server", host, self.per_address)

    def maintenance(self, now: int) -> None:  # waitress passes time.time(); its stubs say int
        if self.heartbeat is not None:
            self.heartbeat.beat()
        super().maintenance(now)
        cutoff = time.monotonic() - self.request_deadline
        channels: dict[int, HTTPChannel] = self.active_channels  # type: ignore[assignment]  # stubs: wrong type
        for channel in list(channels.values()):
            since = getattr(channel, "partial_since", None)
            if since is not None and since < cutoff and not channel.requests:
                channel.will_close = True


SERVER_OPTIONS: dict[str, Any] = {
    "threads": WEB_THREADS,
    "connection_limit": WEB_CONNECTION_LIMIT,  # more wait in the listen backlog
    "backlog": 1024,
    "channel_timeout": WEB_IDLE_SECONDS,
    "cleanup_interval": 1,  # how often both deadlines are checked
    "max_request_header_size": 64 * 1024,
    "max_request_body_size": MAX_BODY_BYTES,  # 413 from the Content-Length or the chunks, before reading on
    "inbuf_overflow": 64 * 1024,  # larger bodies are spooled to a temporary file while they arrive
    "asyncore_use_poll": True,  # no select() limit on descriptors
    "expose_tracebacks": False,
    "ident": "azs-bot",
}


def listen_address(host: str, port: int) -> str:
    """waitress's ``listen`` form: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def make_server(settings: Settings, application: WsgiApp, **options: Any) -> DeadlineServer:
    """The bot's server around ``application`` (:class:`SlackWeb`; the benchmark passes a bare app)."""
    listen = listen_address(settings.host, settings.port)
    server = DeadlineServer(application, listen=listen, **{**SERVER_OPTIONS, **options})
    server.heartbeat = Heartbeat(max_age=LOOP_MAX_AGE)
    server.per_address = settings.connections_per_address
    return server


def serve(settings: Settings, application: WsgiApp) -> None:
    """Serve until SIGTERM or SIGINT; then stop taking requests and let those in progress finish (5 s at most).

    The bot's own app (a :class:`SlackWeb`) also gets the probes and ``/metrics`` on ``AZS_METRICS_PORT`` (0: none):
    live and ready while waitress's event loop turns (Redis down included), ``/healthz`` with the detail.
    """
    server = make_server(settings, application)
    if isinstance(application, SlackWeb) and settings.metrics_port and server.heartbeat is not None:
        probes = Probes(server.heartbeat, health=application.problems)
        serve_probes(settings.host, settings.metrics_port, probes, application.refresh_gauges)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    address = listen_address(settings.host, settings.port)
    log.info("serving Slack on %s (POST %s, GET /livez /readyz /healthz)", address, SLACK_PATH)
    try:
        server.run()
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=5)
    sys.stdout.flush()
