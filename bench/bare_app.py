"""The ack-only baseline: a bare Bolt app served by ``bot.serve.web.serve`` itself, so the server runs with exactly the
options the bot's web process uses (threads, connection limit, deadlines, body cap), whatever they are today.
It has no front door of its own: Bolt checks the signature, as a plain Bolt app does.

Run as ``python -m bench.bare_app`` with the bot's environment (``PORT``, ``SLACK_SIGNING_SECRET``, ...).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.config.settings import load_settings
from bot.ops.logs import configure_logging
from bot.serve import web

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def build_bare_app(signing_secret: str, token: str, slack_api_url: str) -> App:
    """Bolt takes the token from the client when one is given, so the client carries it (no call is made)."""
    app = App(
        signing_secret=signing_secret,
        client=WebClient(token=token, base_url=slack_api_url),
        token_verification_enabled=False,
    )

    @app.command("/azs")
    def ack_only(ack: Ack) -> None:
        ack()

    return app


def bare_wsgi(signing_secret: str, token: str, slack_api_url: str) -> WsgiApp:
    """Bolt's WSGI handler, plus the ``/readyz`` the benchmark waits for (answered before Bolt sees it)."""
    slack = SlackRequestHandler(build_bare_app(signing_secret, token, slack_api_url))

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in ("/readyz", "/healthz"):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return slack(environ, start_response)

    return application


def main() -> int:
    settings = load_settings()
    configure_logging(settings.secrets())
    web.serve(settings, bare_wsgi(settings.slack_signing_secret, settings.slack_bot_token, settings.slack_api_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
