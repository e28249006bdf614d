"""Test-side helpers on top of :mod:`devkit.localrun`: waiting for replies recorded by the fake Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from bot.words.posts import ANNOUNCE_EVENT
from bot.words.replies import START_ACTION_ID
from devkit.localrun import BotProcess, RedisServer, SlackRequests, event_payload, free_port, sign, wait_until
from devkit.slack_fake import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
"""The source checkout the tests run from (pyproject.toml, the Dockerfile, deploy/)."""

__all__ = [
    "ROOT",
    "BotProcess",
    "RedisServer",
    "SlackClientSim",
    "announced_backup_id",
    "completions",
    "event_payload",
    "free_port",
    "page_text",
    "sign",
    "wait_until",
]


def page_text(url: str) -> str:
    """The body at ``url``, or "" while nothing answers there (a process still starting, or gone)."""
    try:
        return requests.get(url, timeout=2).text
    except requests.RequestException:
        return ""


def announced_backup_id(message: dict[str, Any]) -> str | None:
    """The backup id a start announcement carries in its metadata (None for any other message)."""
    payload = event_payload(message, ANNOUNCE_EVENT)
    return str(payload["backup_id"]) if payload else None


def completions(fake: FakeSlack, channel: str = "CBACKUPS") -> list[dict[str, Any]]:
    """Outcome messages: the replies in an announcement's thread."""
    return [m for m in fake.messages(channel) if m.get("thread_ts")]


class SlackClientSim(SlackRequests):
    """Signed requests from operator ``UOPER`` in ``#CBACKUPS`` unless told otherwise, plus reply lookups."""

    def __init__(self, base_url: str, secret: str, fake: FakeSlack) -> None:
        super().__init__(base_url, secret, fake.response_url)
        self.fake = fake

    def command(
        self, text: str, *, user: str = "UOPER", channel: str = "CBACKUPS", hook: str | None = None
    ) -> tuple[requests.Response, str]:
        return super().command(text, user=user, channel=channel, hook=hook)

    def click(
        self,
        action_id: str = START_ACTION_ID,
        *,
        user: str = "UOPER",
        channel: str = "CBACKUPS",
        value: str = "sim-stamp",
        hook: str | None = None,
    ) -> tuple[requests.Response, str]:
        return super().click(action_id, user=user, channel=channel, value=value, hook=hook)

    def replies(self, hook: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.fake.hook_posts(hook)]

    def wait_reply(self, hook: str, contains: str = "", timeout: float = 10.0) -> dict[str, Any]:
        def found() -> bool:
            return any(contains in json.dumps(p) for p in self.replies(hook))

        assert wait_until(found, timeout), f"no reply containing {contains!r}; got {self.replies(hook)}"
        return next(p for p in self.replies(hook) if contains in json.dumps(p))

    def start_backup(self, **click: Any) -> str:
        """Click Start and wait for the reply that announces it; returns the backup id from its metadata."""
        _, hook = self.click(**click)

        def announced() -> str | None:
            return next((i for i in map(announced_backup_id, self.replies(hook)) if i), None)

        assert wait_until(lambda: announced() is not None, 10), f"no announcement; got {self.replies(hook)}"
        return str(announced())
