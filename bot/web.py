"""HTTP entry point: Slack at ``POST /slack/events``, liveness at ``GET /healthz``, under gunicorn."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis
from gunicorn.app.base import BaseApplication
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import build_app, make_service
from bot.settings import Settings, load_settings

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def create_wsgi_app(settings: Settings | None = None) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI callable: built in each gunicorn worker, after the fork."""
    settings = settings or load_settings()
    service = make_service(settings)
    slack = SlackRequestHandler(build_app(settings, service))

    def health(start_response: StartResponse) -> Iterable[bytes]:
        try:
            service.store.ping()
            status, body = "200 OK", {"status": "ok"}
        except redis.RedisError as exc:
            status, body = "503 Service Unavailable", {"status": "unavailable",
                                                       "reason": f"redis: {type(exc).__name__}"}
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return health(start_response)
        return slack(environ, start_response)

    return application


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


def serve(settings: Settings, *, workers: int = 2, threads: int = 16) -> None:
    GunicornServer(settings, {
        "bind": f"0.0.0.0:{settings.port}", "workers": workers, "threads": threads, "worker_class": "gthread",
        "timeout": 30, "graceful_timeout": 8, "accesslog": None, "loglevel": "warning",
    }).run()
