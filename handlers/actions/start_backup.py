"""The "Start backup" button: recorded before the ack, then progress in place, then the result."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext

from bot.serve.dispatch import dispatch, record
from bot.state.inbox import WorkItem


def start_backup(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext, logger: Logger) -> None:
    item = WorkItem(
        kind="click",
        user=str((body.get("user") or {}).get("id", "")),
        channel=str((body.get("channel") or {}).get("id") or context.channel_id or ""),
        response_url=str(body.get("response_url") or ""),
        stamp=str(action.get("value") or ""),
    )
    record(context, item)
    ack()
    dispatch(context, item, logger)
