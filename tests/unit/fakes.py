"""A fake Slack poster for in-process tests: it records what Slack took and refuses, throttles or freezes on demand.

It keeps :class:`bot.slack.client.SlackPoster`'s contract, so the delivery protocol meets the same rules
as in production: ``guard`` is asked before every attempt (:class:`Fenced` when it says no), a 429 is
waited out only within ``budget`` (else :class:`PostFailed` carrying ``retry_after``), and
:meth:`find_marked` finds only the bot's own posts carrying a marker.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from bot.model.report import ReportFile
from bot.slack.client import Fenced, PostFailed, SlackPoster
from bot.state.health import Health
from bot.words.mrkdwn import Message


@dataclass(frozen=True)
class Posted:
    """One message Slack took."""

    channel: str
    ts: str
    message: Message
    thread_ts: str | None
    broadcast: bool

    @property
    def marker(self) -> tuple[str, str] | None:
        """(event type, job id) from the message's metadata."""
        metadata: dict[str, Any] = self.message.metadata or {}
        if not metadata:
            return None
        return str(metadata["event_type"]), str(metadata["event_payload"].get("job_id"))

    def carries(self, event_type: str, key: str, value: str) -> bool:
        """The message's metadata is ``event_type`` with ``key == value`` in its payload."""
        metadata: dict[str, Any] = self.message.metadata or {}
        return metadata.get("event_type") == event_type and (metadata.get("event_payload") or {}).get(key) == value


@dataclass
class _Fault:
    error: str
    retry_after: float | None = None
    landed: bool = False
    """Slack took the message although the caller hears an error (a 5xx or a dropped answer)."""


class FakePoster:
    """Slack's side of a post, in memory."""

    def __init__(self, retry_seconds: float = 20.0) -> None:
        self.retry_seconds = retry_seconds
        self.health: Health | None = None
        self.posted: list[Posted] = []
        self.edits: list[tuple[str, str, Message]] = []
        self.uploads: list[tuple[str, list[ReportFile], str]] = []
        self.attempts = 0
        self.history_unreadable = False
        self._faults: deque[_Fault] = deque()
        self._freeze_next = False
        self._thawed = threading.Event()
        self.froze = threading.Event()
        """Set once a post is frozen (waiting for :meth:`thaw`)."""
        self._lock = threading.Lock()
        self._next_ts = 1000

    # --- on demand -------------------------------------------------------------------------------------------------

    def fail(self, error: str = "internal_error", *, times: int = 1, landed: bool = False) -> None:
        """The next ``times`` attempts fail (``landed``: Slack took the message anyway, the answer was lost)."""
        self._faults.extend(_Fault(error, landed=landed) for _ in range(times))

    def throttle(self, retry_after: float, *, times: int = 1) -> None:
        """The next ``times`` attempts get a 429 with ``retry_after`` seconds (Slack took nothing)."""
        self._faults.extend(_Fault("ratelimited", retry_after=retry_after) for _ in range(times))

    def freeze(self) -> None:
        """The next attempt stops before its fence check until :meth:`thaw` (a process stopped mid-post)."""
        self._freeze_next = True
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    def as_slack_poster(self) -> SlackPoster:
        """Typed as what it stands in for: it keeps :class:`SlackPoster`'s contract (see the module docstring)."""
        return cast(SlackPoster, self)

    def marked(self, event_type: str) -> list[Posted]:
        return [p for p in self.posted if p.marker is not None and p.marker[0] == event_type]

    # --- SlackPoster's contract ------------------------------------------------------------------------------------

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
        deadline = time.monotonic() + (self.retry_seconds if budget is None else budget)
        while True:
            self._wait_if_frozen()
            if guard is not None and not guard():
                raise Fenced(channel)
            self.attempts += 1
            fault = self._faults.popleft() if self._faults else None
            if fault is None:
                return self._take(channel, message, thread_ts, broadcast)
            if fault.retry_after is not None and time.monotonic() + fault.retry_after <= deadline:
                time.sleep(fault.retry_after)
                continue
            if fault.landed:
                self._take(channel, message, thread_ts, broadcast)
            failed = PostFailed(fault.error)
            failed.retry_after = fault.retry_after
            raise failed

    def find_marked(self, channel: str, event_type: str, key: str, value: str, *, oldest: str | None) -> str | None:
        if self.history_unreadable:
            raise PostFailed("history: internal_error")
        found = [p for p in self.posted if p.channel == channel and p.carries(event_type, key, value)]
        if oldest is not None:
            found = [p for p in found if float(p.ts) >= float(oldest)]
        return found[0].ts if found else None

    def upload_files(self, channel: str, files: Sequence[ReportFile], initial_comment: str, **_: Any) -> list[str]:
        with self._lock:
            self.uploads.append((channel, list(files), initial_comment))
            return [f"F{len(self.uploads)}{n}" for n in range(len(files))]

    def progress_allowed(self) -> bool:
        return True

    def update(self, channel: str, ts: str, message: Message) -> bool:
        self.edits.append((channel, ts, message))
        return True

    def _wait_if_frozen(self) -> None:
        if self._freeze_next:
            self._freeze_next = False
            self.froze.set()
            self._thawed.wait(30)

    def _take(self, channel: str, message: Message, thread_ts: str | None, broadcast: bool) -> str:
        with self._lock:
            self._next_ts += 1
            ts = f"{time.time():.0f}.{self._next_ts:06d}"
            self.posted.append(Posted(channel, ts, message, thread_ts, broadcast))
            return ts
