"""The App Home tab: each stamp's backup state, refreshed whenever it is opened."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.router import Router


def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger) -> None:
    if event.get("tab", "home") != "home":
        return
    try:
        router: Router = context["router"]
        client.views_publish(user_id=str(event.get("user", "")), view=router.home())
    except Exception:
        logger.exception("could not publish the App Home tab")
