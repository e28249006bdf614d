"""Slash commands."""

from __future__ import annotations

from slack_bolt import App

from handlers.commands.azs import azs_command


def register(app: App) -> None:
    app.command("/azs")(azs_command)
