"""The "Start backup" button: re-check the clicker, then start and report in place."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext, Respond

from bot import messages
from bot.backups import BackupService
from handlers.reply import reply


def start_backup(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext, logger: Logger) -> None:
    ack()
    try:
        service: BackupService = context["service"]
        user = str((body.get("user") or {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id") or context.channel_id or "")
        if not service.can_start(user):
            reply(respond, messages.not_an_operator(user, bool(service.operators)), logger, replace_original=False)
            return
        reply(respond, messages.starting(service.stamp), logger, replace_original=True)
        result = service.guarded("start a backup", lambda: service.start(user, channel))
        reply(respond, result, logger, replace_original=True)
    except Exception:
        logger.exception("could not handle the start button")
