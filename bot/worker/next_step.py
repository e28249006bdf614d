"""When a running job is polled next, decided from the job, what one poll gave, and the time.

A pure function (no I/O, no clock, no randomness: the jitter is an argument), so every timing rule
reads as one row of a table in ``tests/test_next_step.py``: ``Retry-After`` capped, backoff on
failures, the one overdue notice, giving up after repeated refusals, and when a strategy's fallback
takes over. Which strategy that is, and what it requests, is the strategy's own business
(:mod:`bot.stamp.lro`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config.settings import Settings
from bot.model.backoff import backoff
from bot.model.backup import Backup
from bot.stamp.errors import StampError
from bot.stamp.lro import PollResult
from bot.state.job import Job


@dataclass(frozen=True)
class Policy:
    """The limits the decision applies, all from :class:`bot.config.settings.Settings`."""

    poll_interval: float
    max_retry_after: float
    backup_timeout: float
    max_permanent_failures: int
    max_retry_delay: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            poll_interval=settings.poll_interval,
            max_retry_after=settings.max_retry_after,
            backup_timeout=settings.backup_timeout,
            max_permanent_failures=settings.max_permanent_failures,
            max_retry_delay=settings.max_retry_delay,
        )


@dataclass(frozen=True)
class Polled:
    """A poll that answered: what the strategy read, the ``Retry-After`` it came with, the final backup."""

    result: PollResult
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
    falls_back: bool = False
    """The strategy that polled falls back on this failure (its URL is gone, refused or redirected)."""

    @classmethod
    def of(cls, exc: StampError, *, falls_back: bool = False) -> Failed:
        """The stamp client's error as plain data."""
        return cls(
            str(exc),
            status=exc.status,
            code=exc.code,
            retryable=exc.retryable,
            retry_after=exc.retry_after,
            falls_back=falls_back,
        )


@dataclass(frozen=True)
class Reschedule:
    """Poll again at ``due_at``; ``overdue``: post the overdue notice now; ``fall_back``: hand the job to the
    strategy's fallback for good."""

    due_at: float
    poll_failures: int
    overdue: bool = False
    fall_back: bool = False


@dataclass(frozen=True)
class Finish:
    """The job has an outcome to report now."""

    at: float
    backup: Backup | None
    error: str


Step = Reschedule | Finish

NO_RECORD = "the operation ended, but the stamp returned no record of the backup; check it with `/azs backup show`."


def decide(job: Job, outcome: Polled | Failed, now: float, policy: Policy, jitter: float = 0.5) -> Step:
    """The next step for a running ``job`` after one poll."""
    if isinstance(outcome, Failed):
        return _after_failure(job, outcome, now, policy, jitter)
    return _after_answer(job, outcome, now, policy)


def _after_answer(job: Job, polled: Polled, now: float, policy: Policy) -> Step:
    result, final, still_runs = polled.result, polled.final, _still_runs(polled)
    if result.done and not still_runs:
        backup = final.started_by_bot(now - (job.started_at or job.requested_at)) if final else None
        return Finish(at=now, backup=backup, error=result.error or ("" if backup else NO_RECORD))
    delay = max(policy.poll_interval, min(polled.retry_after or 0.0, policy.max_retry_after))
    return Reschedule(due_at=now + delay, poll_failures=0, overdue=is_overdue(job, now, policy), fall_back=still_runs)


def _still_runs(polled: Polled) -> bool:
    """The operation is over but the backup says it runs: believe the backup, follow it (the fallback) from now on."""
    final = polled.final
    return polled.result.done and final is not None and not final.is_terminal and not polled.result.error


def _after_failure(job: Job, failed: Failed, now: float, policy: Policy, jitter: float) -> Step:
    if failed.falls_back:  # not a failure of the stamp's: the fallback polls at once, uncounted
        return Reschedule(due_at=now, poll_failures=job.poll_failures, fall_back=True)
    failures = job.poll_failures + 1
    if not failed.retryable and failures >= policy.max_permanent_failures:
        return Finish(at=now, backup=None, error=f"I stopped following it after {failures} refusals: {failed.message}")
    # The stamp client does not retry inside a poll: the first retry comes one poll interval later.
    waited = backoff(failures - 1, policy.poll_interval, policy.max_retry_delay, jitter)
    delay = max(min(failed.retry_after or 0.0, policy.max_retry_after), waited)
    return Reschedule(due_at=now + delay, poll_failures=failures)


def is_overdue(job: Job, now: float, policy: Policy) -> bool:
    """Running longer than ``backup_timeout`` and its overdue notice not yet in the channel (once per job)."""
    return not job.overdue_reported and now - (job.started_at or job.requested_at) > policy.backup_timeout
