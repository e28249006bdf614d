"""``/azs ...``: acknowledge within Slack's 3 s, then answer through ``response_url``."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext

from bot.commands import table
from bot.commands.parse import Action, parse
from bot.serve.dispatch import admit, dispatch, refused_over_limit
from bot.state.inbox import WorkItem, item_id_for
from bot.words import replies


def azs_command(ack: Ack, command: dict[str, Any], context: BoltContext, logger: Logger) -> None:
    """Help is answered in the ack itself (no I/O); everything else is checked against the user's limit,
    recorded, acked, then done in its lane. Over the limit, the ack itself says so."""
    parsed = parse(command.get("text"))
    if parsed.action == Action.HELP:
        ack(**replies.help_message(table.usage(), parsed.problem).as_kwargs())
        return
    item = WorkItem(
        kind="command",
        user=str(command.get("user_id", "")),
        channel=str(command.get("channel_id", "")),
        response_url=str(command.get("response_url", "")),
        text=str(command.get("text") or ""),
        item_id=item_id_for("command", str(command.get("trigger_id") or "")),
    )
    refusal = admit(context, item)
    if refusal is not None:
        ack(**refusal.as_kwargs())
        refused_over_limit(context, item, refusal, logger)
        return
    ack()
    dispatch(context, item, logger)
