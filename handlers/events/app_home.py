"""The App Home tab: each stamp's backup state, refreshed whenever it is opened."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.commands.router import Router
from bot.serve.reply import later


def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger) -> None:
    if event.get("tab", "home") != "home":
        return
    router: Router = context["router"]
    user = str(event.get("user", ""))

    def publish() -> None:
        view = router.home(user)
        if view is not None:
            client.views_publish(user_id=user, view=view)

    later(context, logger, "publish the App Home tab", publish)
