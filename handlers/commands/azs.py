"""``/azs ...``: acknowledge within Slack's 3 s, then answer through ``response_url``."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext, Respond

from bot import messages
from bot.commands import Action, parse
from bot.router import Router
from handlers.reply import later, reply


def azs_command(ack: Ack, command: dict[str, Any], respond: Respond, context: BoltContext, logger: Logger) -> None:
    """Help is answered in the ack itself (no I/O); everything else after it, off the listener thread."""
    parsed = parse(command.get("text"))
    if parsed.action == Action.HELP:
        ack(**messages.help_message(parsed.problem).as_kwargs())
        return
    ack()
    router: Router = context["router"]
    user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
    later(context, logger, f"answer /azs {parsed.action.value}",
          lambda: reply(respond, router.command(parsed, user, channel), logger, response_type="ephemeral"))
