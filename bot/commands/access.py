"""Who may do what: operators by user ID or Slack user group, an optional channel allow-list, and how often."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.commands.table import Verb
from bot.config.limits import (
    GROUP_CACHE_SECONDS,
    GROUP_COLD_START_WAIT_SECONDS,
    GROUP_FIRST_RETRY_SECONDS,
    GROUP_MAX_RETRY_SECONDS,
    PER_USER_MEMORY,
    USER_LIMIT_WINDOW_SECONDS,
)
from bot.state import keys
from bot.state.inbox import Counter
from bot.words import replies
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)


class AccessPolicy:
    """Read-only commands are open to everyone in allowed channels; starting a backup is for operators.

    Group membership is read with ``usergroups.users.list`` and cached for ``cache_seconds``. When Slack
    cannot be asked, the last known list is used until it is ``max_age`` seconds old, then nobody from the
    group is an operator (fail closed: a member removed from the group must not stay an operator for
    ever). Failed lookups back off (5 s doubling to 5 min), so checks in between make no Slack call; one
    thread refreshes while the others answer from what is known, so no check waits on another's.
    """

    def __init__(
        self,
        operators: frozenset[str],
        *,
        group: str | None = None,
        channels: frozenset[str] = frozenset(),
        client: WebClient | None = None,
        cache_seconds: float = GROUP_CACHE_SECONDS,
        max_age: float = 900.0,
    ) -> None:
        self.operators = operators
        self.group = group
        self.channels = channels
        self.client = client
        self.cache_seconds = min(cache_seconds, max_age)
        self.max_age = max_age
        self._members: frozenset[str] | None = None
        self._fetched_at = 0.0
        self._retry_at = 0.0
        self._failures = 0
        self._refreshing = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.operators or self.group)

    def channel_allowed(self, channel: str) -> bool:
        return not self.channels or channel in self.channels

    def is_operator(self, user: str) -> bool:
        return user in self.operators or (self.group is not None and user in self._group_members())

    def may_read_home(self, user: str) -> bool:
        """App Home has no channel to check: with an allow-list only operators see stamp details."""
        return not self.channels or self.is_operator(user)

    def refusal(self, verb: Verb, user: str, channel: str) -> Message | None:
        """``None`` when ``user`` may run ``verb`` in ``channel``, else the refusal (worded from the verb's row)."""
        if not self.channel_allowed(channel):
            return replies.channel_not_allowed(channel)
        if verb.operator_only and not self.is_operator(user):
            return replies.not_an_operator(user, self.configured, verb.refusal)
        return None

    def _group_members(self) -> frozenset[str]:
        now = time.monotonic()
        if self._members is not None and now - self._fetched_at < self.cache_seconds:
            return self._members
        if self.client is not None and now >= self._retry_at and self._refreshing.acquire(blocking=False):
            try:
                self._refresh()
            finally:
                self._refreshing.release()
        elif self._members is None and self._refreshing.acquire(timeout=GROUP_COLD_START_WAIT_SECONDS):
            self._refreshing.release()  # nothing known yet: wait for the first lookup rather than refuse
        members, age = self._members, time.monotonic() - self._fetched_at
        return members if members is not None and age < self.max_age else frozenset()

    def _refresh(self) -> None:
        assert self.client is not None and self.group is not None
        try:
            response = self.client.usergroups_users_list(usergroup=self.group)
        except (SlackClientError, OSError) as exc:
            self._failures += 1
            delay = min(GROUP_MAX_RETRY_SECONDS, GROUP_FIRST_RETRY_SECONDS * 2 ** (self._failures - 1))
            self._retry_at = time.monotonic() + delay
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            known = self._members is not None and time.monotonic() - self._fetched_at < self.max_age
            log.error(
                "cannot read operator group %s: %s; %s; next try in %.0fs",
                self.group,
                reason,
                "using the last known members" if known else "nobody from the group is an operator",
                delay,
            )
            return
        self._members = frozenset(str(u) for u in response.get("users") or [])
        self._fetched_at = time.monotonic()
        self._failures, self._retry_at = 0, 0.0


class PerUserLimit:
    """At most one event per user per ``seconds`` in this process (App Home opens fire on every visit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, user: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._last) > PER_USER_MEMORY:  # bounded memory: forget everyone whose window has passed
                self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}
            if now - self._last.get(user, -self.seconds) < self.seconds:
                return False
            self._last[user] = now
            return True


class UserCommandLimit:
    """At most ``per_minute`` commands and clicks per user in any minute (a sliding window).

    The count is shared in Redis: one counter per user and clock minute, incremented in the round trip
    that records the request in the inbox (:meth:`bot.state.inbox.Inbox.admit`), so every web and Socket Mode
    process adds to it and a refused request is never recorded. The estimate for the last 60 s is this
    minute's count plus last minute's, weighted by how much of it still falls within them, so the limit
    holds across the turn of a minute. Refused requests count too: a flood stays refused. Operator work
    (the Start card and click) is counted apart from the rest, so a user's reads can never use up their
    start. While Redis does not answer, each process counts on its own (:meth:`allow_here`).
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._local: dict[tuple[str, bool], dict[int, int]] = {}
        """(User, operator work) -> minute -> count, for when Redis cannot count."""
        self._lock = threading.Lock()

    def counter(self, user: str, *, operator: bool = False, now: float | None = None) -> Counter:
        """The shared counters of ``user``'s operator work, or of the rest; each expires two minutes after."""
        minute, weight = _window(time.time() if now is None else now)
        budget = "operator" if operator else "commands"
        return Counter(
            keys.user_limit_key(user, budget, minute),
            keys.user_limit_key(user, budget, minute - 1),
            weight,
            self.per_minute,
        )

    def allow_here(self, user: str, *, operator: bool = False) -> bool:
        """Count ``user``'s request in this process only; ``False`` past the limit."""
        minute, weight = _window(time.time())
        with self._lock:
            if len(self._local) > PER_USER_MEMORY:  # bounded memory: forget everyone idle for two minutes
                self._local = {k: v for k, v in self._local.items() if max(v) >= minute - 1}
            counts = self._local.setdefault((user, operator), {})
            counts[minute] = counts.get(minute, 0) + 1
            for old in [m for m in counts if m < minute - 1]:
                del counts[old]
            estimate = counts[minute] + counts.get(minute - 1, 0) * weight
        return estimate <= self.per_minute


def _window(now: float) -> tuple[int, float]:
    """The clock minute of ``now``, and the weight of the previous minute's count in the sliding minute."""
    minute, into = divmod(now, USER_LIMIT_WINDOW_SECONDS)
    return int(minute), 1.0 - into / USER_LIMIT_WINDOW_SECONDS
