"""Posting to Slack with the bot token: the Web API client and the channel-or-DM fallback.

``response_url`` expires (5 uses, 30 minutes), so anything that may come later than that, such
as a completion, goes through ``chat.postMessage``. A channel the bot cannot post to falls back to
a direct message to the requester.

Posts retry only what Slack promises it did not take (429), within a time budget, and ask a guard
before every attempt: a worker posts only while it still holds the job. slack_sdk's own rate-limit
handler sleeps ``Retry-After`` as often as it is told, which kept one post going past a worker's
lease; a 5xx or a dropped connection may hide an accepted post, so those end the attempt and the
caller decides (the poller reads the channel history before trying again).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.config.settings import Settings
from bot.model.report import ReportFile
from bot.ops.metrics import SLACK_ERRORS
from bot.state.health import Health
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)

CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "restricted_action"})
MAX_HISTORY_PAGES = 10
HISTORY_UNREADABLE = frozenset({"missing_scope", "not_in_channel", "channel_not_found", "not_allowed_token_type"})
"""History errors that will not go away by waiting: the check is skipped (docs/guarantees.md says so)."""
PERMANENT_ERRORS = CHANNEL_ERRORS | HISTORY_UNREADABLE
"""Refusals that waiting will not change: a scheduled delivery that gets one is settled as failed."""
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
DEFAULT_RETRY_SECONDS = 20.0
"""How long one post may spend waiting out 429s; the poller keeps it well under the lease."""


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, but never sleeping past ``budget`` seconds in all for one call."""

    def __init__(self, max_retry_count: int = 3, budget: float = 5.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.budget = budget

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        spent = float(state.custom_values.get("slept", 0.0)) if state.custom_values else 0.0
        return spent + _retry_after(response.headers) <= self.budget

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = _retry_after(response.headers if response is not None else {})
        state.custom_values = {
            **(state.custom_values or {}),
            "slept": float((state.custom_values or {}).get("slept", 0.0)) + wait,
        }
        state.next_attempt_requested = True
        time.sleep(wait)
        state.increment_current_attempt()


def _retry_after(headers: dict[str, list[str]] | dict[str, str] | object) -> float:
    """Slack's ``Retry-After`` in seconds (an integer), 1 s when missing or unreadable."""
    values = headers if isinstance(headers, dict) else {}
    for name, value in values.items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(str(raw)))
            except ValueError:
                break
    return 1.0


def make_web_client(settings: Settings) -> WebClient:
    """One client for the process, pointed at ``SLACK_API_URL`` (a local fake in tests).

    Its 429 retries are bounded (a throttled call may not hold a work thread for long); posts
    that must not be doubled go through :class:`SlackPoster`, which retries by itself.
    """
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            BoundedRateLimitRetryHandler(),
            ServerErrorRetryHandler(max_retry_count=3),
        ],
    )


class Fenced(Exception):
    """The guard said no before an attempt: this process no longer holds the job, so it posts nothing."""


class PostFailed(Exception):
    """Slack did not take the message: ``error`` is Slack's error code, or the network failure's name."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after: float | None = None
        """Set when Slack said 429: it took nothing, and this many seconds make a retry welcome."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return type(exc).__name__


class SlackPoster:
    """Posts to a channel, or to the requester directly when the channel is closed to the bot."""

    def __init__(
        self,
        client: WebClient,
        health: Health | None = None,
        progress_per_minute: int = 30,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        self.client = client
        self.health = health
        self.retry_seconds = retry_seconds
        self._own: dict[str, str] | None = None
        self._own_lock = threading.Lock()
        # Posts bypass the client's retry handlers: this class decides what may be sent again.
        self._posting = WebClient(
            token=client.token, base_url=client.base_url, timeout=client.timeout, retry_handlers=[]
        )
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

    def post(
        self,
        channel: str,
        message: Message,
        *,
        user: str | None,
        thread_ts: str | None = None,
        broadcast: bool = False,
        guard: Callable[[], bool] | None = None,
        budget: float | None = None,
    ) -> str:
        """Post and return the message ``ts``; raises :class:`PostFailed` if even the DM fails.

        ``guard`` runs before every attempt (:class:`Fenced` if it says no); 429s are waited out
        for at most ``budget`` seconds in all (default ``retry_seconds``).
        """
        deadline = time.monotonic() + (self.retry_seconds if budget is None else budget)
        while True:
            if guard is not None and not guard():
                raise Fenced(channel)
            try:
                ts = self._attempt(channel, message, user=user, thread_ts=thread_ts, broadcast=broadcast)
            except PostFailed as exc:
                wait = getattr(exc, "retry_after", None)
                if wait is None or time.monotonic() + wait > deadline:
                    raise
                log.warning("Slack throttles chat.postMessage; trying again in %.1fs", wait)
                time.sleep(wait)
                continue
            return ts

    def _attempt(
        self, channel: str, message: Message, *, user: str | None, thread_ts: str | None, broadcast: bool
    ) -> str:
        """One try; a 429 comes back as :class:`PostFailed` carrying ``retry_after``."""
        try:
            ts = self._post(channel, message, user=user, thread_ts=thread_ts, broadcast=broadcast)
        except (SlackClientError, OSError) as exc:
            raise self._failure(exc) from exc
        if self.health is not None:
            self.health.clear("slack")
        return ts

    def _post(self, channel: str, message: Message, *, user: str | None, thread_ts: str | None, broadcast: bool) -> str:
        kwargs = message.as_kwargs()
        if thread_ts:
            kwargs.update(thread_ts=thread_ts, reply_broadcast=broadcast)
        try:
            response = self._posting.chat_postMessage(channel=channel, **kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error not in CHANNEL_ERRORS or not user:
                raise
            log.warning("cannot post to channel %s (%s); sending the message to %s directly", channel, error, user)
            dm = self._posting.conversations_open(users=user)
            response = self._posting.chat_postMessage(channel=dm["channel"]["id"], **message.as_kwargs())
        return str(response["ts"])

    def upload_files(
        self,
        channel: str,
        files: Sequence[ReportFile],
        initial_comment: str,
        *,
        guard: Callable[[], bool] | None = None,
        budget: float | None = None,
    ) -> list[str]:
        """Share ``files`` in ``channel`` as one message with ``initial_comment``; returns Slack's file ids.

        Slack's current flow (``files_upload_v2``: files.getUploadURLExternal per file, the bytes POSTed to the
        URL it returns, then files.completeUploadExternal); the legacy files.upload is closed to new apps and
        needs no scope this bot asks for. Needs ``files:write``. 429s are waited out within ``budget`` like
        :meth:`post` (Slack took nothing); anything else raises :class:`PostFailed` with Slack's error.
        """
        deadline = time.monotonic() + (self.retry_seconds if budget is None else budget)
        uploads = [{"filename": f.name, "content": f.content, "title": f.title} for f in files]
        while True:
            if guard is not None and not guard():
                raise Fenced(channel)
            try:
                return self._upload(channel, uploads, initial_comment)
            except PostFailed as exc:
                if exc.retry_after is None or time.monotonic() + exc.retry_after > deadline:
                    raise
                log.warning("Slack throttles the file upload; trying again in %.1fs", exc.retry_after)
                time.sleep(exc.retry_after)

    def _upload(self, channel: str, uploads: list[dict[str, Any]], initial_comment: str) -> list[str]:
        """One try of the whole flow; a 429 at any step comes back as :class:`PostFailed` with ``retry_after``."""
        try:
            response = self._posting.files_upload_v2(
                file_uploads=uploads, channel=channel, initial_comment=initial_comment
            )
        except (SlackClientError, OSError) as exc:
            raise self._failure(exc) from exc
        if self.health is not None:
            self.health.clear("slack")
        return [str(f.get("id")) for f in response.get("files") or []]

    def _failure(self, exc: Exception) -> PostFailed:
        """Count and word a failed call; a 429 carries when to try again, a rejected token marks the health."""
        error = _reason(exc)
        SLACK_ERRORS.labels(error=error).inc()
        if error in AUTH_ERRORS and self.health is not None:
            self.health.report("slack", f"Slack rejects the bot token ({error}); check SLACK_BOT_TOKEN")
        failed = PostFailed(error)
        if isinstance(exc, SlackApiError) and exc.response.status_code == 429:
            failed.retry_after = _retry_after(dict(exc.response.headers or {})) + random.random() / 4
        return failed

    def update(self, channel: str, ts: str, message: Message) -> bool:
        """Edit a message the bot posted; a failure is logged, never raised (edits are cosmetic)."""
        try:
            self.client.chat_update(channel=channel, ts=ts, **message.as_kwargs())
            return True
        except (SlackClientError, OSError) as exc:
            SLACK_ERRORS.labels(error=_reason(exc)).inc()
            log.warning("cannot edit message %s in %s: %s", ts, channel, _reason(exc))
            return False

    def own_ids(self) -> dict[str, str]:
        """This bot's ``bot_id`` (and ``app_id`` if Slack names it) from ``auth.test``, asked once per process.

        Slack stamps every message an app posts with both; any app can post any metadata, so only these
        ids tell the bot's own posts from copies. :class:`PostFailed` while Slack cannot say.
        """
        with self._own_lock:
            if self._own is None:
                try:
                    answer = self.client.auth_test()
                except (SlackClientError, OSError) as exc:
                    raise PostFailed(f"auth.test: {_reason(exc)}") from exc
                own = {k: str(answer.get(k)) for k in ("bot_id", "app_id") if answer.get(k)}
                if "bot_id" not in own:
                    raise PostFailed("auth.test: the token is not a bot token (no bot_id)")
                self._own = own
            return self._own

    def find_marked(self, channel: str, event_type: str, key: str, value: str, *, oldest: str | None) -> str | None:
        """The ``ts`` of a message this bot posted in ``channel`` whose metadata says ``key == value``.

        Needs the ``channels:history`` (or ``groups:history``) scope; without it, ``None``. Raises
        :class:`PostFailed` when Slack cannot answer now (throttled, 5xx, network): posting blind then
        could double a message, so the caller tries again later. Another app's message with the same
        metadata is not this bot's post: it neither stands for an outcome nor becomes the announcement.
        """
        own = self.own_ids()
        return self._find(channel, oldest, lambda page: _marked_ts(page, own, (event_type, key, value)))

    def find_upload(self, channel: str, tag: str, *, oldest: str | None) -> str | None:
        """The ``ts`` of a file share this bot made in ``channel`` whose comment carries ``tag`` as a word.

        An upload (files.completeUploadExternal) takes no metadata: its ``initial_comment`` becomes the share's
        text, so a tag written there is how a retry finds an upload whose answer was lost. Errors as
        :meth:`find_marked`.
        """
        own = self.own_ids()
        return self._find(channel, oldest, lambda page: _tagged_upload_ts(page, own, tag))

    def _find(
        self, channel: str, oldest: str | None, match: Callable[[list[dict[str, Any]]], str | None]
    ) -> str | None:
        """The first ``ts`` ``match`` finds in the channel's history pages, newest first."""
        try:
            first = self.client.conversations_history(
                channel=channel, oldest=oldest or "0", limit=200, include_all_metadata=True
            )
            for number, page in enumerate(first, start=1):  # slack_sdk follows next_cursor, page by page
                found = match(page.get("messages") or [])
                if found is not None:
                    return found
                if number >= MAX_HISTORY_PAGES:
                    log.warning("no marker in the last %d pages of %s's history", MAX_HISTORY_PAGES, channel)
                    return None
        except (SlackClientError, OSError) as exc:
            reason = _reason(exc)
            if reason not in HISTORY_UNREADABLE:
                raise PostFailed(f"history: {reason}") from exc
            log.warning("cannot read %s's history to check for an earlier post: %s", channel, reason)
        return None


def _is_own(message: dict[str, Any], own: dict[str, str]) -> bool:
    return all(message.get(name) == expected for name, expected in own.items())


def _marked_ts(messages: list[dict[str, Any]], own: dict[str, str], marker: tuple[str, str, str]) -> str | None:
    """The first message posted by this bot (every id in ``own`` matches) that carries ``marker``."""
    event_type, key, value = marker
    for message in messages:
        if not _is_own(message, own):
            continue
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == event_type and payload.get(key) == value:
            return str(message.get("ts"))
    return None


_WORD = re.compile(r"[A-Za-z0-9:_-]+")


def _tagged_upload_ts(messages: list[dict[str, Any]], own: dict[str, str], tag: str) -> str | None:
    """The first file share by this bot whose text has ``tag`` as a whole word (``report:monthly:2026-11``)."""
    for message in messages:
        if _is_own(message, own) and message.get("files") and tag in _WORD.findall(str(message.get("text") or "")):
            return str(message.get("ts"))
    return None
