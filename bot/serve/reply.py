"""After the ack: run the slow part off Bolt's listener threads, and send replies through ``response_url``."""

from __future__ import annotations

from collections.abc import Callable
from logging import Logger
from typing import Any

from slack_bolt import BoltContext, Respond

from bot.serve.lanes import AfterAckPool
from bot.words.mrkdwn import Message


def reply(respond: Respond, message: Message, logger: Logger, **options: Any) -> None:
    """``respond()`` does not raise on HTTP errors (an expired URL is a 404), so check it here."""
    result = respond(**message.as_kwargs(), **options)
    if getattr(result, "status_code", 200) != 200:
        logger.error("response_url refused the reply: HTTP %s %s", result.status_code, result.body)


def later(context: BoltContext, logger: Logger, what: str, work: Callable[[], object]) -> None:
    """Hand ``work`` to the after-ack pool, so this listener thread is free for the next ack."""

    def run() -> None:
        try:
            work()
        except Exception:
            logger.exception("could not %s", what)

    pool: AfterAckPool = context["work"]
    if not pool.submit(run):
        logger.warning("the after-ack queue is full; not going to %s", what)
