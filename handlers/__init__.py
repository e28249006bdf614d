"""Slack listeners: one small module per command or action; each folder has a ``register(app)``."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, events


def register(app: App) -> None:
    commands.register(app)
    actions.register(app)
    events.register(app)
