"""The App Home tab: each stamp's backup state, refreshed whenever it is opened."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.commands.app_home import AppHome
from bot.serve.dispatch import Dispatcher


def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    app_home: AppHome = context["app_home"]
    dispatcher: Dispatcher = context["dispatcher"]
    user = str(event.get("user", ""))

    def publish() -> None:
        view = app_home.view(user)
        if view is not None:
            client.views_publish(user_id=user, view=view)

    dispatcher.later("publish the App Home tab", publish)
