"""How to follow one backup operation: small strategies, pure functions of plain data.

As azure-core's long-running-operation pollers do, a strategy owns the operation end to end: what to
GET next (:meth:`~PollingStrategy.next_get`), how to read the answer (:meth:`~PollingStrategy.interpret`),
where the final state is read once the operation is over (:meth:`~PollingStrategy.final_reads`), and which
strategy takes over when its URL fails (:attr:`~PollingStrategy.fallback`, on the failures
:meth:`~PollingStrategy.falls_back_on` names). :func:`select` picks the first strategy, in azure-core's
order, that can follow a job: ``Azure-AsyncOperation``, then ``Location``, then the backup by id. The same
function chooses at the start (from what ``createBackup`` named) and on every resume (from the job).

No strategy sleeps, does I/O or knows the HTTP client. A :data:`Target` names what to GET: an operation
URL a stamp named (the stamp client rebuilds it on the configured endpoint, never sends it as it is) or the
backup by id; the follower (:mod:`bot.worker.follow`) makes the request and hands back status, headers and body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

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
class Operation:
    """GET the operation a stamp named at ``url`` (rebuilt by the stamp client's ``follow_url``)."""

    url: str
    answers: ClassVar[frozenset[int]] = OPERATION_ANSWERS


@dataclass(frozen=True)
class BackupById:
    """GET the backup resource by id (built by the stamp client's ``backup_url``); 404 means "not known yet"."""

    backup_id: str
    answers: ClassVar[frozenset[int]] = frozenset({200, 404})


Target = Operation | BackupById
"""What a strategy asks the follower to GET; ``answers`` are the statuses that are an answer, not an error."""


@dataclass(frozen=True)
class PollResult:
    """What one poll says. ``done`` without a backup means "read the final backup next"."""

    done: bool
    backup: Backup | None = None
    error: str | None = None


RUNNING = PollResult(done=False)


class FollowedJob(Protocol):
    """What a strategy needs to know about a job (a :class:`bot.state.job.Job` is one)."""

    @property
    def poll_url(self) -> str: ...
    @property
    def location_url(self) -> str: ...
    @property
    def backup_id(self) -> str: ...


OnEndpoint = Callable[[str], bool]
"""Whether an operation URL may be followed: on the configured endpoint, shaped like a backup operation
(the stamp client's ``owns``)."""


class PollingStrategy(Protocol):
    name: str
    fallback: str | None
    """The strategy that takes over for good when this one's URL fails; ``None`` for the last resort."""
    obeys_retry_after: bool
    """Whether the answers' ``Retry-After`` paces the next poll (an operation's does; a resource read's does not)."""

    def can_poll(self, job: FollowedJob) -> bool: ...

    def next_get(self, job: FollowedJob) -> Target: ...

    def interpret(self, status: int, headers: Mapping[str, str], body: Any) -> PollResult: ...

    def final_reads(self, job: FollowedJob, result: PollResult, on_endpoint: OnEndpoint) -> tuple[Target, ...]: ...

    def falls_back_on(self, status: int | None, code: str | None) -> bool: ...


def _arm_error(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return ": ".join(str(error[k]) for k in ("code", "message") if error.get(k)) or None
    return None


class _OperationUrl:
    """A strategy that polls the operation URL ``createBackup`` named; it falls back when the URL is gone,
    redirected, or refused by the stamp client (not on the configured endpoint, or not shaped like an operation).

    The job keeps that URL in ``poll_url`` (``Azure-AsyncOperation`` if named, else ``Location``) and
    ``createBackup``'s ``Location`` in ``location_url``: which of the two it polls tells the strategies apart.
    """

    name = ""
    fallback: str | None = "backup"
    obeys_retry_after = True

    def can_poll(self, job: FollowedJob) -> bool:
        return bool(job.poll_url) and self._polls(job)

    def _polls(self, job: FollowedJob) -> bool:
        raise NotImplementedError

    def next_get(self, job: FollowedJob) -> Target:
        return Operation(job.poll_url)

    def falls_back_on(self, status: int | None, code: str | None) -> bool:
        """The operation URL is gone (404), refused (the stamp may name itself by an IP, alias or port the token
        never goes to), or redirected."""
        return status == 404 or code in _NOT_FOLLOWED

    def final_reads(self, job: FollowedJob, result: PollResult, on_endpoint: OnEndpoint) -> tuple[Target, ...]:
        """``Location`` when it is not the URL polled (ARM's final-state-via for an async POST) and the stamp
        client may follow it (a final read gets no fallback turn), then the operation's own answer if it names
        the roles, else the backup by id. The first backup found is final."""
        reads: list[Target] = []
        if job.location_url and job.location_url != job.poll_url and on_endpoint(job.location_url):
            reads.append(Operation(job.location_url))
        if not (result.backup and result.backup.roles):
            reads.append(BackupById(job.backup_id))
        return tuple(reads)


class AsyncOperationPolling(_OperationUrl):
    """``Azure-AsyncOperation`` URL: 200 with ``status`` Accepted/Running, then Succeeded or Failed."""

    name = "async"

    def _polls(self, job: FollowedJob) -> bool:
        return job.poll_url != job.location_url

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
    for Restore) still ends the operation: the final state is then read by id.
    """

    name = "location"

    def _polls(self, job: FollowedJob) -> bool:
        return job.poll_url == job.location_url

    def interpret(self, status: int, headers: Mapping[str, str], body: Any) -> PollResult:
        if status != 200:
            return RUNNING
        backup = Backup.from_json(body)
        if backup is None:
            return PollResult(done=True)
        return PollResult(done=True, backup=backup) if backup.is_terminal else RUNNING


class BackupResourcePolling:
    """Last resort: GET the backup by id; done once ``backupInfo.status`` is terminal, and that answer is final.

    A 404 is an answer here: the stamp does not know the backup yet.
    """

    name = "backup"
    fallback: str | None = None
    obeys_retry_after = False

    def can_poll(self, job: FollowedJob) -> bool:
        return bool(job.backup_id)

    def next_get(self, job: FollowedJob) -> Target:
        return BackupById(job.backup_id)

    def interpret(self, status: int, headers: Mapping[str, str], body: Any) -> PollResult:
        backup = Backup.from_json(body) if status == 200 else None
        if backup is not None and backup.is_terminal:
            return PollResult(done=True, backup=backup)
        return RUNNING

    def final_reads(self, job: FollowedJob, result: PollResult, on_endpoint: OnEndpoint) -> tuple[Target, ...]:
        return ()

    def falls_back_on(self, status: int | None, code: str | None) -> bool:
        return False


ORDER: tuple[PollingStrategy, ...] = (AsyncOperationPolling(), LocationPolling(), BackupResourcePolling())
STRATEGIES: dict[str, PollingStrategy] = {s.name: s for s in ORDER}
BY_ID = BackupResourcePolling.name


def select(job: FollowedJob) -> PollingStrategy:
    """The first strategy, in azure-core's order, that can follow ``job`` from where it is: at the start
    (what ``createBackup`` named) and on every resume (what the job kept since a fallback).

    Whether the stamp client may follow the URL is not asked here: it refuses one that is not on the
    configured endpoint (``ForeignHost``, before anything is sent), and the strategy falls back on that.
    """
    return next((s for s in ORDER if s.can_poll(job)), STRATEGIES[BY_ID])


def final_backup(target: Target, status: int, body: Any) -> Backup | None:
    """What a final read found: at an operation URL, a finished Backup resource (a 202 or a running one is
    nothing yet); by id, the backup in whatever state it is (a running one is then followed on)."""
    if isinstance(target, BackupById):
        return Backup.from_json(body) if status == 200 else None
    return STRATEGIES[LocationPolling.name].interpret(status, {}, body).backup
