"""How to follow one backup operation: small strategies, pure functions of plain data.

Like azure-core's LRO pollers, strategies sit in an ordered list and the first whose ``can_poll``
accepts the job follows it: ``Azure-AsyncOperation`` first, then ``Location``, then reading the
backup by id. The name is stored with the job, so any worker can resume it. A strategy owns its
fallback: an operation URL that is gone (404), refused (another host, or not shaped like a backup
operation) or answered with a redirect falls back to the backup by id.
No strategy sleeps, does I/O or knows the HTTP client: it reads a status, headers and a body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.model.backup import Backup

_ARM_SUCCEEDED = frozenset({"succeeded"})
_ARM_FAILED = frozenset({"failed", "canceled", "cancelled"})
OPERATION_ANSWERS = frozenset({200, 201, 202})
"""Statuses an operation URL answers with while it exists."""
FOREIGN_HOST = "ForeignHost"
"""The stamp client's error code for an operation URL it will not send the token to."""
REDIRECTED = "Redirected"
"""The stamp client's error code for a redirect (never followed)."""
_NOT_FOLLOWED = frozenset({FOREIGN_HOST, REDIRECTED})


@dataclass(frozen=True)
class PollResult:
    """What one poll says. ``done`` without a backup means "read the final backup next"."""

    done: bool
    backup: Backup | None = None
    error: str | None = None


RUNNING = PollResult(done=False)


class FollowedJob(Protocol):
    """What a strategy needs to know about a job (a :class:`bot.state.jobs.Job` is one)."""

    @property
    def strategy(self) -> str: ...
    @property
    def poll_url(self) -> str: ...
    @property
    def backup_id(self) -> str: ...


class PollingStrategy(Protocol):
    name: str
    answers: frozenset[int]
    """Statuses that are an answer to interpret rather than an error."""
    fallback: str | None
    """The strategy that takes over when this one's URL is gone or foreign; ``None`` for the last resort."""

    def can_poll(self, job: FollowedJob, on_endpoint: Callable[[str], bool]) -> bool: ...

    def interpret(self, status: int, headers: Mapping[str, str], body: Any) -> PollResult: ...


def _arm_error(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return ": ".join(str(error[k]) for k in ("code", "message") if error.get(k)) or None
    return None


class _OperationUrl:
    """A strategy that polls the URL ``createBackup`` named, only while it is on the stamp's endpoint."""

    name = ""
    answers = OPERATION_ANSWERS
    fallback: str | None = "backup"

    def can_poll(self, job: FollowedJob, on_endpoint: Callable[[str], bool]) -> bool:
        # The stamp may name itself differently (IP, alias, port): the token never goes there.
        return job.strategy == self.name and bool(job.poll_url) and on_endpoint(job.poll_url)


class AsyncOperationPolling(_OperationUrl):
    """``Azure-AsyncOperation`` URL: 200 with ``status`` Accepted/Running, then Succeeded or Failed."""

    name = "async"

    def interpret(self, status: int, headers: Mapping[str, str], body: Any) -> PollResult:
        body = body if isinstance(body, dict) else {}
        state = str(body.get("status") or "").lower()
        if status == 202 or not state:
            return RUNNING
        if state in _ARM_SUCCEEDED:
            return PollResult(done=True, backup=Backup.from_json(body))
        if state in _ARM_FAILED:
            return PollResult(done=True, backup=Backup.from_json(body), error=_arm_error(body) or state)
        return RUNNING


class LocationPolling(_OperationUrl):
    """``Location`` URL: 202 while running, then 200 with the Backup resource.

    A 200 without a Backup (an empty body on build 2002, the literal ``null`` on 2108, both recorded
    for Restore) still ends the operation: the poller then reads the backup by id.
    """

    name = "location"

    def interpret(self, status: int, headers: Mapping[str, str], body: Any) -> PollResult:
        if status != 200:
            return RUNNING
        backup = Backup.from_json(body)
        if backup is None:
            return PollResult(done=True)
        return PollResult(done=True, backup=backup) if backup.is_terminal else RUNNING


class BackupResourcePolling:
    """Last resort: GET the backup by id; done once ``backupInfo.status`` is terminal.

    A 404 is an answer here: the stamp does not know the backup yet.
    """

    name = "backup"
    answers = frozenset({200, 404})
    fallback: str | None = None

    def can_poll(self, job: FollowedJob, on_endpoint: Callable[[str], bool]) -> bool:
        return bool(job.backup_id)

    def interpret(self, status: int, headers: Mapping[str, str], body: Any) -> PollResult:
        backup = Backup.from_json(body) if status == 200 else None
        if backup is not None and backup.is_terminal:
            return PollResult(done=True, backup=backup)
        return RUNNING


ORDER: tuple[PollingStrategy, ...] = (AsyncOperationPolling(), LocationPolling(), BackupResourcePolling())
STRATEGIES: dict[str, PollingStrategy] = {s.name: s for s in ORDER}
BY_ID = BackupResourcePolling.name


def select(job: FollowedJob, on_endpoint: Callable[[str], bool]) -> PollingStrategy:
    """The first strategy, in azure-core's order, that can follow ``job`` from where it is."""
    return next((s for s in ORDER if s.can_poll(job, on_endpoint)), STRATEGIES[BY_ID])


def falls_back(strategy_name: str, status: int | None, code: str | None) -> bool:
    """The operation URL is gone (404), refused, or redirected: the strategy's fallback takes over."""
    strategy = STRATEGIES.get(strategy_name)
    return strategy is not None and strategy.fallback is not None and (status == 404 or code in _NOT_FOLLOWED)


def choose_strategy(async_url: str | None, location_url: str | None) -> tuple[str, str | None]:
    """The strategy name and the URL it polls, for a job ``createBackup`` just answered."""
    if async_url:
        return AsyncOperationPolling.name, async_url
    if location_url:
        return LocationPolling.name, location_url
    return BackupResourcePolling.name, None
