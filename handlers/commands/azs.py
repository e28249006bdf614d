"""``/azs ...``: acknowledge within Slack's 3 s, then answer through ``response_url``."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext, Respond

from bot import messages
from bot.commands import Action, parse
from bot.router import Router
from handlers.reply import reply


def azs_command(ack: Ack, command: dict[str, Any], respond: Respond, context: BoltContext, logger: Logger) -> None:
    """Help is answered in the ack itself (no I/O); everything else after it."""
    parsed = parse(command.get("text"))
    if parsed.action == Action.HELP:
        ack(**messages.help_message(parsed.problem).as_kwargs())
        return
    ack()
    try:
        router: Router = context["router"]
        answer = router.command(parsed, str(command.get("user_id", "")), str(command.get("channel_id", "")))
        reply(respond, answer, logger, response_type="ephemeral")
    except Exception:
        logger.exception("could not answer /azs %s", parsed.action.value)
