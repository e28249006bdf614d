"""Who may do what: operators by user ID or Slack user group, and an optional channel allow-list."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)


class AccessPolicy:
    """Read-only commands are open to everyone in allowed channels; starting a backup is for operators.

    Group membership is read with ``usergroups.users.list`` and cached; if Slack cannot be asked,
    the last known list is used, and with none, nobody from the group is an operator (fail closed).
    """

    def __init__(self, operators: frozenset[str], *, group: str | None = None, channels: frozenset[str] = frozenset(),
                 client: WebClient | None = None, cache_seconds: float = 300.0) -> None:
        self.operators = operators
        self.group = group
        self.channels = channels
        self.client = client
        self.cache_seconds = cache_seconds
        self._members: frozenset[str] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.operators or self.group)

    def channel_allowed(self, channel: str) -> bool:
        return not self.channels or channel in self.channels

    def is_operator(self, user: str) -> bool:
        return user in self.operators or (self.group is not None and user in self._group_members())

    def _group_members(self) -> frozenset[str]:
        with self._lock:
            fresh = self._members is not None and time.monotonic() - self._fetched_at < self.cache_seconds
            if fresh or self.client is None or self.group is None:
                return self._members or frozenset()
            try:
                response = self.client.usergroups_users_list(usergroup=self.group)
                self._members = frozenset(str(u) for u in response.get("users") or [])
                self._fetched_at = time.monotonic()
            except (SlackClientError, OSError) as exc:
                reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
                log.error("cannot read operator group %s: %s; using the last known members", self.group, reason)
            return self._members or frozenset()
