"""HTTP entry point: Slack at ``POST /slack/events``, liveness at ``GET /healthz``, under gunicorn."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis
from gunicorn.app.base import BaseApplication
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.afterack import AfterAckPool
from bot.app import build_app, make_router
from bot.health import Health
from bot.metrics import JOBS_IN_FLIGHT
from bot.settings import Settings, load_settings
from bot.slack import AUTH_ERRORS

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def create_wsgi_app(settings: Settings | None = None) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI callable: built in each gunicorn worker, after the fork."""
    settings = settings or load_settings()
    router = make_router(settings)
    service = router.first
    health = service.poster.health or Health(service.store.redis)
    check_slack_token(service.poster.client, health)
    after_ack = AfterAckPool(settings.work_threads)
    slack = SlackRequestHandler(build_app(settings, router, after_ack))

    def healthz(start_response: StartResponse) -> Iterable[bytes]:
        try:
            problems = health.problems()
        except redis.RedisError as exc:
            problems = {"redis": f"Redis does not answer ({type(exc).__name__})"}
        status = "503 Service Unavailable" if problems else "200 OK"
        body: dict[str, Any] = {"status": "unavailable", "problems": problems} if problems else {"status": "ok"}
        if problems:
            body["reason"] = "; ".join(f"{k}: {v}" for k, v in problems.items())
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def metrics(start_response: StartResponse) -> Iterable[bytes]:
        with contextlib.suppress(redis.RedisError):
            JOBS_IN_FLIGHT.set(service.store.count_active())
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [generate_latest()]

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            if environ.get("PATH_INFO") == "/healthz":
                return healthz(start_response)
            if environ.get("PATH_INFO") == "/metrics":
                return metrics(start_response)
        with after_ack.request():
            return slack(environ, start_response)

    return application


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


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with threads, so a slow listener never holds up another request's ack."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
        return create_wsgi_app(self.settings)


def serve(settings: Settings, *, workers: int = 1, threads: int = 32) -> None:
    """One process with many threads: listeners wait on I/O, and metrics and caches stay in one place."""
    GunicornServer(settings, {
        "bind": f"{settings.host}:{settings.port}", "workers": workers, "threads": threads, "worker_class": "gthread",
        "timeout": 30, "graceful_timeout": 8, "accesslog": None, "loglevel": "warning",
    }).run()
