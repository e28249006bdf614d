"""Posting to Slack with the bot token: the Web API client and the channel-or-DM fallback.

``response_url`` expires (5 uses, 30 minutes), so anything that may come later than that, such
as a completion, goes through ``chat.postMessage``. Throttling and 5xx are retried by slack_sdk's
retry handlers; a channel the bot cannot post to falls back to a direct message to the requester.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.health import Health
from bot.messages import Message
from bot.metrics import SLACK_ERRORS
from bot.settings import Settings

log = logging.getLogger(__name__)

CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "restricted_action"})
MAX_HISTORY_PAGES = 10
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})


def make_web_client(settings: Settings) -> WebClient:
    """One client for the process, pointed at ``SLACK_API_URL`` (a local fake in tests)."""
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=4),
                        ServerErrorRetryHandler(max_retry_count=3)],
    )


class PostFailed(Exception):
    """Slack did not take the message: ``error`` is Slack's error code, or the network failure's name."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return type(exc).__name__


class SlackPoster:
    """Posts to a channel, or to the requester directly when the channel is closed to the bot."""

    def __init__(self, client: WebClient, health: Health | None = None, progress_per_minute: int = 30) -> None:
        self.client = client
        self.health = health
        # chat.update is Tier 3 (50+ per minute per workspace): progress edits get most of it, never all.
        self._progress_budget = progress_per_minute
        self._progress_sent: deque[float] = deque()
        self._progress_lock = threading.Lock()

    def progress_allowed(self) -> bool:
        """Take one progress edit from this minute's budget; ``False`` means skip it (it is cosmetic)."""
        now = time.monotonic()
        with self._progress_lock:
            while self._progress_sent and now - self._progress_sent[0] > 60:
                self._progress_sent.popleft()
            if len(self._progress_sent) >= self._progress_budget:
                return False
            self._progress_sent.append(now)
            return True

    def post(self, channel: str, message: Message, *, user: str | None, thread_ts: str | None = None,
             broadcast: bool = False) -> str:
        """Post and return the message ``ts``; raises :class:`PostFailed` if even the DM fails."""
        try:
            ts = self._post(channel, message, user=user, thread_ts=thread_ts, broadcast=broadcast)
        except (SlackClientError, OSError) as exc:
            error = _reason(exc)
            SLACK_ERRORS.labels(error=error).inc()
            if error in AUTH_ERRORS and self.health is not None:
                self.health.report("slack", f"Slack rejects the bot token ({error}); check SLACK_BOT_TOKEN")
            raise PostFailed(error) from exc
        if self.health is not None:
            self.health.clear("slack")
        return ts

    def _post(self, channel: str, message: Message, *, user: str | None, thread_ts: str | None,
              broadcast: bool) -> str:
        kwargs = message.as_kwargs()
        if thread_ts:
            kwargs.update(thread_ts=thread_ts, reply_broadcast=broadcast)
        try:
            response = self.client.chat_postMessage(channel=channel, **kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error not in CHANNEL_ERRORS or not user:
                raise
            log.warning("cannot post to channel %s (%s); sending the message to %s directly", channel, error, user)
            dm = self.client.conversations_open(users=user)
            response = self.client.chat_postMessage(channel=dm["channel"]["id"], **message.as_kwargs())
        return str(response["ts"])

    def update(self, channel: str, ts: str, message: Message) -> bool:
        """Edit a message the bot posted; a failure is logged, never raised (edits are cosmetic)."""
        try:
            self.client.chat_update(channel=channel, ts=ts, **message.as_kwargs())
            return True
        except (SlackClientError, OSError) as exc:
            SLACK_ERRORS.labels(error=_reason(exc)).inc()
            log.warning("cannot edit message %s in %s: %s", ts, channel, _reason(exc))
            return False

    def find_marked(self, channel: str, event_type: str, key: str, value: str, *, oldest: str | None) -> str | None:
        """The ``ts`` of a message in ``channel`` whose metadata says ``key == value``, if Slack can tell.

        Needs the ``channels:history`` (or ``groups:history``) scope; without it, ``None``.
        """
        cursor = None
        for _page in range(MAX_HISTORY_PAGES):
            try:
                response = self.client.conversations_history(channel=channel, oldest=oldest or "0", limit=200,
                                                             include_all_metadata=True, cursor=cursor)
            except (SlackClientError, OSError) as exc:
                log.warning("cannot read %s's history to check for an earlier post: %s", channel, _reason(exc))
                return None
            for message in response.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == event_type and payload.get(key) == value:
                    return str(message.get("ts"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        log.warning("no marker in the last %d pages of %s's history", MAX_HISTORY_PAGES, channel)
        return None
