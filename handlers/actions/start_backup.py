"""The "Start backup" button: checked against the user's limit and recorded before the ack, then progress in
place, then the result."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext

from bot.commands.request import Command
from bot.commands.table import Action
from bot.serve.dispatch import Dispatcher
from bot.state.inbox import item_id_for


def start_backup(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
    dispatcher: Dispatcher = context["dispatcher"]
    user = str((body.get("user") or {}).get("id", ""))
    click = Command(Action.START_CLICK, stamp=str(action.get("value") or "") or None)
    item = click.work_item(
        "click",
        user=user,
        channel=str((body.get("channel") or {}).get("id") or context.channel_id or ""),
        response_url=str(body.get("response_url") or ""),
        item_id=item_id_for("click", click_id(body, action, user)),
    )
    refusal = dispatcher.admit(item)
    ack()
    if refusal is not None:  # over the user's per-minute limit: told through the response_url, nothing done
        dispatcher.refuse(item, refusal)
        return
    dispatcher.dispatch(item)


def click_id(body: dict[str, Any], action: dict[str, Any], user: str) -> str:
    """Slack's id for this click: its ``trigger_id``, else who clicked when ("" when neither is there)."""
    if body.get("trigger_id"):
        return str(body["trigger_id"])
    return f"{user}:{action['action_ts']}" if action.get("action_ts") else ""
