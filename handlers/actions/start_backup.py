"""The "Start backup" button: show progress in place, then the result."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext, Respond

from bot import messages
from bot.router import Router
from handlers.reply import later, reply


def start_backup(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, context: BoltContext,
                 logger: Logger) -> None:
    ack()
    router: Router = context["router"]
    user = str((body.get("user") or {}).get("id", ""))
    channel = str((body.get("channel") or {}).get("id") or context.channel_id or "")
    stamp = str(action.get("value") or "")

    def start() -> None:
        reply(respond, messages.starting(stamp or router.first.stamp), logger, replace_original=True)
        reply(respond, router.start_clicked(stamp, user, channel), logger, replace_original=True)

    later(context, logger, "handle the start button", start)
