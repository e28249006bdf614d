"""The poll loop's timing rules as a table: one row per rule of :func:`bot.worker.next_step.decide`.

Which failures make a strategy fall back is the strategy's own table (``tests/unit/stamp/test_lro.py``); here a
failure says whether it does (``falls_back``), and the decision says when, and that the fallback takes over.
"""

from __future__ import annotations

import pytest

from bot.model.backoff import backoff
from bot.model.backup import Backup
from bot.stamp.lro import PollResult
from bot.state.job import Job, JobState
from bot.worker.next_step import NO_RECORD, Failed, Finish, Policy, Polled, Reschedule, Step, decide

NOW = 10_000.0
POLICY = Policy(
    poll_interval=30.0, max_retry_after=600.0, backup_timeout=7200.0, max_permanent_failures=10, max_retry_delay=300.0
)
DONE = Backup(backup_id="b1", status="Succeeded")
RUNS = Backup(backup_id="b1", status="Running")
FAILED = Backup(backup_id="b1", status="Failed")


def job(failures: int = 0, started: float = NOW - 60, overdue: int = 0) -> Job:
    return Job(
        job_id="j",
        stamp="s",
        requester="U1",
        channel="C1",
        state=JobState.RUNNING,
        backup_id="b1",
        started_at=started,
        poll_failures=failures,
        overdue_reported=overdue,
    )


def finished(backup: Backup | None, error: str, elapsed: float = 60) -> Finish:
    return Finish(at=NOW, backup=backup.started_by_bot(elapsed) if backup else None, error=error)


def waited(failures: int, jitter: float = 0.5) -> float:
    return backoff(failures - 1, 30.0, 300.0, jitter)


RUNNING = Polled(PollResult(done=False))
ROWS: list[tuple[str, Job, Polled | Failed, Step]] = [
    ("running: next poll after the interval", job(), RUNNING, Reschedule(NOW + 30, 0)),
    ("Retry-After longer than the interval is obeyed", job(), Polled(PollResult(False), 90.0), Reschedule(NOW + 90, 0)),
    ("Retry-After shorter than the interval is not", job(), Polled(PollResult(False), 5.0), Reschedule(NOW + 30, 0)),
    ("Retry-After is capped", job(), Polled(PollResult(False), 86_400.0), Reschedule(NOW + 600, 0)),
    ("a poll that answers clears the failure count", job(failures=4), RUNNING, Reschedule(NOW + 30, 0)),
    ("past the timeout: the overdue notice is owed", job(started=NOW - 7201), RUNNING, Reschedule(NOW + 30, 0, True)),
    ("its overdue notice is in: not again", job(started=NOW - 7201, overdue=1), RUNNING, Reschedule(NOW + 30, 0)),
    ("just inside the timeout: not overdue", job(started=NOW - 7199), RUNNING, Reschedule(NOW + 30, 0)),
    ("succeeded", job(), Polled(PollResult(True, DONE), final=DONE), finished(DONE, "")),
    (
        "failed with the operation's error",
        job(),
        Polled(PollResult(True, FAILED, "Boom: it broke"), final=FAILED),
        finished(FAILED, "Boom: it broke"),
    ),
    ("ended, but no record of the backup", job(), Polled(PollResult(True)), finished(None, NO_RECORD)),
    (
        "ended, but the backup still runs: its fallback follows it",
        job(),
        Polled(PollResult(True), 60.0, RUNS),
        Reschedule(NOW + 60, 0, fall_back=True),
    ),
    (
        "operation failed while the backup runs: report it",
        job(),
        Polled(PollResult(True, None, "x"), final=RUNS),
        finished(RUNS, "x"),
    ),
    (
        "a failure the strategy falls back on: the fallback polls at once, uncounted",
        job(failures=2),
        Failed("gone", status=404, retryable=False, falls_back=True),
        Reschedule(NOW, 2, fall_back=True),
    ),
    (
        "a refusal with no fallback is counted",
        job(),
        Failed("no", status=404, retryable=False),
        Reschedule(NOW + waited(1), 1),
    ),
    ("a 503 backs off", job(), Failed("busy", status=503), Reschedule(NOW + waited(1), 1)),
    ("backoff grows with failures", job(failures=2), Failed("busy", status=503), Reschedule(NOW + waited(3), 3)),
    ("backoff is capped", job(failures=30), Failed("busy", status=503), Reschedule(NOW + waited(31), 31)),
    (
        "a longer Retry-After on an error wins",
        job(),
        Failed("slow", status=429, retry_after=500.0),
        Reschedule(NOW + 500, 1),
    ),
    ("Retry-After on an error is capped", job(), Failed("slow", status=429, retry_after=9e9), Reschedule(NOW + 600, 1)),
    (
        "a refusal below the limit is retried",
        job(failures=8),
        Failed("403", status=403, retryable=False),
        Reschedule(NOW + waited(9), 9),
    ),
    (
        "the tenth refusal gives up",
        job(failures=9),
        Failed("denied", status=403, retryable=False),
        Finish(at=NOW, backup=None, error="I stopped following it after 10 refusals: denied"),
    ),
    ("retryable errors never give up", job(failures=50), Failed("busy", status=503), Reschedule(NOW + waited(51), 51)),
]


@pytest.mark.parametrize(("why", "before", "outcome", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_next_step(why: str, before: Job, outcome: Polled | Failed, expected: Step) -> None:
    assert decide(before, outcome, NOW, POLICY, jitter=0.5) == expected, why


def test_jitter_spreads_the_backoff_by_a_quarter_either_way() -> None:
    low, high = backoff(1, 10.0, 300.0, 0.0), backoff(1, 10.0, 300.0, 0.999)
    assert (low, round(high, 1)) == (15.0, 25.0)
