"""Button clicks."""

from __future__ import annotations

from slack_bolt import App

from bot.words.replies import START_ACTION_ID
from handlers.actions.start_backup import start_backup


def register(app: App) -> None:
    app.action(START_ACTION_ID)(start_backup)
