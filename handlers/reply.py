"""Send a rendered message through ``response_url`` and say so in the log when Slack refuses it."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Respond

from bot.messages import Message


def reply(respond: Respond, message: Message, logger: Logger, **options: Any) -> None:
    """``respond()`` does not raise on HTTP errors (an expired URL is a 404), so check it here."""
    result = respond(**message.as_kwargs(), **options)
    if getattr(result, "status_code", 200) != 200:
        logger.error("response_url refused the reply: HTTP %s %s", result.status_code, result.body)
