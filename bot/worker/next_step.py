"""What a running job does next, decided from the job, what one poll gave, and the time.

A pure function (no I/O, no clock, no randomness: the jitter is an argument), so every rule of
the poll loop reads as one row of a table in ``tests/test_next_step.py``: ``Retry-After`` capped,
backoff on failures, the one overdue report, giving up after repeated refusals, and a strategy's
fallback to following the backup by id.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.model.backup import Backup
from bot.stamp import lro
from bot.state.jobs import Job


@dataclass(frozen=True)
class Policy:
    """The limits the decision applies, all from :class:`bot.config.settings.Settings`."""

    poll_interval: float
    max_retry_after: float
    backup_timeout: float
    max_permanent_failures: int
    max_retry_delay: float


@dataclass(frozen=True)
class Polled:
    """A poll that answered: what the strategy read, the ``Retry-After`` it came with, the final backup."""

    result: lro.PollResult
    retry_after: float | None = None
    final: Backup | None = None


@dataclass(frozen=True)
class Failed:
    """A poll that did not answer usefully: plain data from the stamp client's error."""

    message: str
    status: int | None = None
    code: str | None = None
    retryable: bool = True
    retry_after: float | None = None


@dataclass(frozen=True)
class Reschedule:
    """Poll again at ``due_at``; ``by_id`` switches to reading the backup by id."""

    due_at: float
    poll_failures: int
    overdue: bool = False
    by_id: bool = False


@dataclass(frozen=True)
class Finish:
    """The job has an outcome to report now."""

    at: float
    backup: Backup | None
    error: str


Step = Reschedule | Finish

NO_RECORD = "the operation ended, but the stamp returned no record of the backup; check it with `/azs backup show`."


def backoff(failures: int, base: float, ceiling: float, jitter: float) -> float:
    """Exponential delay for the ``failures``-th consecutive failure; ``jitter`` in [0, 1) spreads it."""
    return min(ceiling, base * 2.0 ** min(failures, 10)) * (0.75 + jitter / 2)


def decide(job: Job, outcome: Polled | Failed, now: float, policy: Policy, jitter: float = 0.5) -> Step:
    """The next step for a running ``job`` after one poll."""
    if isinstance(outcome, Failed):
        return _after_failure(job, outcome, now, policy, jitter)
    return _after_answer(job, outcome, now, policy)


def _after_answer(job: Job, polled: Polled, now: float, policy: Policy) -> Step:
    result, final = polled.result, polled.final
    if result.done and not _still_runs(polled):
        backup = final.started_by_bot(now - (job.started_at or job.requested_at)) if final else None
        return Finish(at=now, backup=backup, error=result.error or ("" if backup else NO_RECORD))
    delay = max(policy.poll_interval, min(polled.retry_after or 0.0, policy.max_retry_after))
    return Reschedule(
        due_at=now + delay, poll_failures=0, overdue=is_overdue(job, now, policy), by_id=_still_runs(polled)
    )


def _still_runs(polled: Polled) -> bool:
    """The operation is over but the backup says it runs: believe the backup, follow it by id from now on."""
    final = polled.final
    return polled.result.done and final is not None and not final.is_terminal and not polled.result.error


def _after_failure(job: Job, failed: Failed, now: float, policy: Policy, jitter: float) -> Step:
    if lro.falls_back(job.strategy, failed.status, failed.code):
        return Reschedule(due_at=now, poll_failures=job.poll_failures, by_id=True)
    failures = job.poll_failures + 1
    if not failed.retryable and failures >= policy.max_permanent_failures:
        return Finish(at=now, backup=None, error=f"I stopped following it after {failures} refusals: {failed.message}")
    # The stamp client does not retry inside a poll: the first retry comes one poll interval later.
    waited = backoff(failures - 1, policy.poll_interval, policy.max_retry_delay, jitter)
    delay = max(min(failed.retry_after or 0.0, policy.max_retry_after), waited)
    return Reschedule(due_at=now + delay, poll_failures=failures)


def is_overdue(job: Job, now: float, policy: Policy) -> bool:
    """Running longer than ``backup_timeout`` and not yet reported as such (reported once per job)."""
    return not job.overdue_reported and now - (job.started_at or job.requested_at) > policy.backup_timeout
