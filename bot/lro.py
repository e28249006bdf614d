"""How to read one poll of a running backup: small strategies, pure functions of a response.

Like azure-core's LRO pollers, a strategy is picked from ``createBackup``'s headers
(``Azure-AsyncOperation`` first, then ``Location``) and is stored by name with the job, so any
worker can resume it. When an operation URL stops answering (404), the job falls back to reading
the backup by id. No strategy sleeps or does I/O; the poller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.arm import ArmResponse
from bot.models import Backup

_ARM_SUCCEEDED = frozenset({"succeeded"})
_ARM_FAILED = frozenset({"failed", "canceled", "cancelled"})


@dataclass(frozen=True)
class PollResult:
    """What one poll says. ``done`` without a backup means "read the final backup next"."""

    done: bool
    backup: Backup | None = None
    error: str | None = None


RUNNING = PollResult(done=False)


class PollingStrategy(Protocol):
    name: str

    def interpret(self, response: ArmResponse) -> PollResult: ...


def _arm_error(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return ": ".join(str(error[k]) for k in ("code", "message") if error.get(k)) or None
    return None


class AsyncOperationPolling:
    """``Azure-AsyncOperation`` URL: 200 with ``status`` Accepted/Running, then Succeeded or Failed."""

    name = "async"

    def interpret(self, response: ArmResponse) -> PollResult:
        body = response.body if isinstance(response.body, dict) else {}
        status = str(body.get("status") or "").lower()
        if response.status == 202 or not status:
            return RUNNING
        if status in _ARM_SUCCEEDED:
            return PollResult(done=True, backup=Backup.from_json(body))
        if status in _ARM_FAILED:
            return PollResult(done=True, backup=Backup.from_json(body), error=_arm_error(body) or status)
        return RUNNING


class LocationPolling:
    """``Location`` URL: 202 while running, then 200 with the Backup resource.

    A 200 without a Backup (an empty body on build 2002, the literal ``null`` on 2108, both recorded
    for Restore) still ends the operation: the poller then reads the backup by id.
    """

    name = "location"

    def interpret(self, response: ArmResponse) -> PollResult:
        if response.status != 200:
            return RUNNING
        backup = Backup.from_json(response.body)
        if backup is None:
            return PollResult(done=True)
        return PollResult(done=True, backup=backup) if backup.is_terminal else RUNNING


class BackupResourcePolling:
    """Fallback: GET the backup by id; done once ``backupInfo.status`` is terminal."""

    name = "backup"

    def interpret(self, response: ArmResponse) -> PollResult:
        backup = Backup.from_json(response.body)
        if backup is not None and backup.is_terminal:
            return PollResult(done=True, backup=backup)
        return RUNNING


STRATEGIES: dict[str, PollingStrategy] = {
    s.name: s for s in (AsyncOperationPolling(), LocationPolling(), BackupResourcePolling())
}


def choose_strategy(async_url: str | None, location_url: str | None) -> tuple[str, str | None]:
    """The strategy name and the URL it polls, in azure-core's order of preference."""
    if async_url:
        return AsyncOperationPolling.name, async_url
    if location_url:
        return LocationPolling.name, location_url
    return BackupResourcePolling.name, None
