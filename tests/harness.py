"""Test-side helpers on top of :mod:`devkit.localrun`: waiting for replies recorded by the fake Slack."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from bot.words.posts import ANNOUNCE_EVENT
from bot.words.replies import START_ACTION_ID
from devkit.localrun import BotProcess, RedisServer, SlackRequests, event_payload, free_port, sign, wait_until
from devkit.slack_fake import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
"""The source checkout the tests run from (pyproject.toml, the Dockerfile, deploy/)."""
FIXTURES = ROOT / "tests" / "fixtures"
"""Recorded bodies and sessions (see tests/fixtures/README.md)."""

__all__ = [
    "FIXTURES",
    "ROOT",
    "BotProcess",
    "RedisServer",
    "SlackClientSim",
    "announced_backup_id",
    "completions",
    "event_payload",
    "free_port",
    "frozen",
    "page_text",
    "sign",
    "wait_until",
]


@contextmanager
def frozen(process: BotProcess, *, hold: float = 0.0, settle: float = 3.0) -> Iterator[None]:
    """The freeze-and-replace scenario: ``process`` is stopped (SIGSTOP) for the body, which starts its
    replacement and waits until that one has done the work; ``hold`` seconds pass first, so the frozen one's
    lease or hold on the work has run out before the body begins. On leaving, the process is woken (SIGCONT)
    and given ``settle`` seconds in which a second post or a second start would show up; the caller asserts
    there is none. Waking it is not skipped when the body fails, so no stopped process outlives the test.
    """
    process.signal(signal.SIGSTOP)
    try:
        time.sleep(hold)  # the frozen process's lease runs out: only time can do that
        yield
    finally:
        process.signal(signal.SIGCONT)
    time.sleep(settle)  # room for a second copy to appear, had the wakened process been let through


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
        self.acked: dict[str, dict[str, Any]] = {}
        """Replies that came in a command's ack (help, the snapshot reads), by the command's hook."""

    def command(
        self, text: str, *, user: str = "UOPER", channel: str = "CBACKUPS", hook: str | None = None
    ) -> tuple[requests.Response, str]:
        response, used = super().command(text, user=user, channel=channel, hook=hook)
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
            self.acked[used] = response.json()
        return response, used

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
        """The command's replies: the one its ack carried, if any, then those posted to its ``response_url``."""
        acked = [self.acked[hook]] if hook in self.acked else []
        return acked + [r.payload for r in self.fake.hook_posts(hook)]

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
