"""``/azs ...``: parsed once here, acknowledged within Slack's 3 s; help and the snapshot reads are answered in the
ack, the rest through ``response_url``."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext

from bot.commands.parse import parse
from bot.serve.dispatch import Dispatcher
from bot.state.inbox import item_id_for


def azs_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    """Help is answered in the ack itself (no I/O); everything else is checked against the user's limit and
    recorded; a snapshot read is then answered in the ack when Redis alone can answer it, the rest acked and done in
    its lane. Over the limit, the ack itself says so."""
    dispatcher: Dispatcher = context["dispatcher"]
    user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
    parsed = parse(command.get("text"))
    now = dispatcher.answer_in_ack(parsed, user, channel)
    if now is not None:
        ack(**now.as_kwargs())
        return
    item = parsed.work_item(
        "command",
        user=user,
        channel=channel,
        response_url=str(command.get("response_url", "")),
        item_id=item_id_for("command", str(command.get("trigger_id") or "")),
        text=str(command.get("text") or ""),
    )
    refusal = dispatcher.admit(item)
    if refusal is not None:
        ack(**refusal.as_kwargs())
        dispatcher.refuse(item, refusal)
        return
    answered = dispatcher.answer_from_snapshot(item)
    if answered is not None:
        ack(**answered.as_kwargs())
        return
    ack()
    dispatcher.dispatch(item)
