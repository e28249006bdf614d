"""One Socket Mode client for ``bench.socket_modes``: a bare ack-only Bolt app behind the adapter named on argv.

``python -m bench.socket_client ADAPTER PING_INTERVAL SLACK_API_URL``, where ADAPTER is one of Bolt's
Socket Mode adapters (``builtin``, ``websocket_client``, ``aiohttp``, ``websockets``) or ``azs-bot`` (this
project's :class:`bot.serve.socket_mode.SocketModeRunner`, two connections, no Redis). The app answers ``/azs`` in
the ack, so what is measured is the transport, not the bot's work.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

APP_TOKEN = "xapp-bench-A0001-fake"
ADAPTERS = ("builtin", "websocket_client", "aiohttp", "websockets", "azs-bot")


def bare_app(api_url: str) -> App:
    app = App(
        client=WebClient(token="xoxb-bench-fake", base_url=api_url),
        token_verification_enabled=False,
        request_verification_enabled=False,
    )

    @app.command("/azs")
    def answer(ack: Ack, command: dict[str, Any]) -> None:
        ack(text=f"got {command.get('text', '')}")

    return app


def run(adapter: str, ping_interval: float, api_url: str) -> None:
    app = bare_app(api_url)
    if adapter == "builtin":
        from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler as Builtin

        Builtin(app, APP_TOKEN, ping_interval=ping_interval).start()  # type: ignore[no-untyped-call]
    elif adapter == "websocket_client":
        from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler as WebsocketClient

        WebsocketClient(app, APP_TOKEN, ping_interval=ping_interval).start()  # type: ignore[no-untyped-call]
    elif adapter in ("aiohttp", "websockets"):
        asyncio.run(_run_async(adapter, app, ping_interval, api_url))
    else:
        from bot.serve.socket_mode import SocketModeRunner

        SocketModeRunner(app, APP_TOKEN, connections=2, ping_interval=ping_interval).run(threading.Event())


async def _run_async(adapter: str, app: App, ping_interval: float, api_url: str) -> None:
    web_client = AsyncWebClient(base_url=api_url)  # their clients await apps.connections.open
    if adapter == "aiohttp":
        from slack_bolt.adapter.socket_mode.aiohttp import SocketModeHandler as Aiohttp

        await Aiohttp(app, APP_TOKEN, web_client=web_client, ping_interval=ping_interval).start_async()  # type: ignore[no-untyped-call]
    else:
        from slack_bolt.adapter.socket_mode.websockets import SocketModeHandler as Websockets

        await Websockets(app, APP_TOKEN, web_client=web_client, ping_interval=ping_interval).start_async()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(sys.argv[1], float(sys.argv[2]), sys.argv[3])
