"""The "Start backup" button: checked against the user's limit and recorded before the ack, then progress in
place, then the result."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext

from bot.serve.dispatch import admit, dispatch, refused_over_limit
from bot.state.inbox import WorkItem, item_id_for


def start_backup(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext, logger: Logger) -> None:
    user = str((body.get("user") or {}).get("id", ""))
    item = WorkItem(
        kind="click",
        user=user,
        channel=str((body.get("channel") or {}).get("id") or context.channel_id or ""),
        response_url=str(body.get("response_url") or ""),
        stamp=str(action.get("value") or ""),
        item_id=item_id_for("click", click_id(body, action, user)),
    )
    refusal = admit(context, item)
    ack()
    if refusal is not None:  # over the user's per-minute limit: told through the response_url, nothing done
        refused_over_limit(context, item, refusal, logger)
        return
    dispatch(context, item, logger)


def click_id(body: dict[str, Any], action: dict[str, Any], user: str) -> str:
    """Slack's id for this click: its ``trigger_id``, else who clicked when ("" when neither is there)."""
    if body.get("trigger_id"):
        return str(body["trigger_id"])
    return f"{user}:{action['action_ts']}" if action.get("action_ts") else ""
