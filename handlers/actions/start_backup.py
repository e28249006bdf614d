"""The "Start backup" button: recorded before the ack, then progress in place, then the result."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext

from bot.inbox import WorkItem, item_id_for
from handlers.work import dispatch, record


def start_backup(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext, logger: Logger) -> None:
    user = str((body.get("user") or {}).get("id", ""))
    trigger = str(body.get("trigger_id") or "") or (f"{user}:{action['action_ts']}" if action.get("action_ts") else "")
    item = WorkItem(
        kind="click",
        user=user,
        channel=str((body.get("channel") or {}).get("id") or context.channel_id or ""),
        response_url=str(body.get("response_url") or ""),
        stamp=str(action.get("value") or ""),
        item_id=item_id_for("click", trigger),
    )
    record(context, item)
    ack()
    dispatch(context, item, logger)
