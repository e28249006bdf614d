"""Backup jobs in Redis: one hash per job (:mod:`bot.state.job`), a due set for the worker, one lock per stamp.

The store owns every state transition. Workers claim a job with an expiring lease and a fencing
number (the job's ``fence`` counter, bumped on each claim); every write a worker makes is checked
against that number in one Lua call, so a worker that stalled past its lease cannot overwrite a
newer claim or report a backup twice.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeVar, cast

import redis
from redis.client import Pipeline

from bot.config.limits import LIMITS
from bot.config.settings import Settings
from bot.model.backup import Backup
from bot.state import keys, scripts
from bot.state.connection import NotReplicated, wait_for_replica
from bot.state.job import Claim, Job, JobState
from bot.state.lease import LeaseKeeper

T = TypeVar("T")

DEFAULT_RETENTION_SECONDS = Settings.job_retention_days * 86_400
MAX_RETENTION_SECONDS = int(LIMITS["AZS_JOB_RETENTION_DAYS"].high * 86_400)

Field = Literal[
    "state",
    "backup_id",
    "started_at",
    "strategy",
    "poll_url",
    "finished_at",
    "result",
    "error",
    "poll_failures",
    "overdue_reported",
    "overdue_attempts",
    "overdue_ts",
    "post_attempts",
    "progress_at",
    "notified_ts",
    "start_ts",
    "announce_attempts",
    "announce_given_up",
]
"""The fields a worker's transition may change (mypy refuses any other name)."""
Changes = dict[Field, str | int | float]


@dataclass(frozen=True)
class _Write:
    """One fenced write: the fields to set (typed by the transition that builds it) and what else it does."""

    fields: Changes = field(default_factory=dict)
    next_due: float | None = None
    done: bool = False
    keep_lease: bool = False
    expect_state: JobState | None = None
    durable: bool = False
    """Wait for a replica (issue 13): an outcome, or a post about to be tried, must outlive a failover."""


def _apply_changes(job: Job, changes: Changes) -> list[str]:
    """Set ``changes`` on ``job`` (typed as its fields are) and return them as Redis field/value pairs."""
    flat: list[str] = []
    for name, value in changes.items():
        setattr(job, name, JobState(str(value)) if name == "state" else type(getattr(job, name))(value))
        flat += [name, str(getattr(job, name))]
    return flat


class JobStore:
    """All reads and writes of job state. Safe to share between threads and processes.

    The client must decode responses (``decode_responses=True``, as :func:`bot.state.connection.connect`
    makes it). A worker changes a claimed job only through the named transitions below, so a field
    name is written in one place and a misspelt one does not compile past mypy.
    """

    def __init__(self, client: redis.Redis, *, retention_seconds: float = DEFAULT_RETENTION_SECONDS) -> None:
        if not (math.isfinite(retention_seconds) and 1 <= retention_seconds <= MAX_RETENTION_SECONDS):
            # Refused here, not when a job ends: that happens inside a transaction holding the stamp's lock.
            raise ValueError(f"job retention must be 1 s to {MAX_RETENTION_SECONDS} s, got {retention_seconds!r}")
        self.redis = client
        self.retention_seconds = retention_seconds
        """How long a finished job's hash stays (``AZS_JOB_RETENTION_DAYS``); the stamp keeps the backups."""
        self._ttl = int(retention_seconds)
        self._fenced_update = client.register_script(scripts.FENCED_UPDATE)
        self._claim = client.register_script(scripts.CLAIM)
        self._renew = client.register_script(scripts.RENEW)

    # --- web side ---------------------------------------------------------------------------------

    def reserve(self, job: Job, *, reconcile_after: float) -> Job | None:
        """Save ``job`` and take its stamp's lock; if another job holds it, return that job instead.

        The job is due for reconciliation ``reconcile_after`` seconds later, so a process that dies
        between this write and recording the stamp's answer leaves nothing behind unexplained.
        """
        lock = keys.stamp_lock_key(job.stamp)

        def attempt(pipe: Pipeline) -> Job | None:
            if pipe.exists(keys.job_key(job.job_id)):
                # A job named after a click exists already: another process took the click over and acted.
                return self.get(job.job_id)
            holder = cast(str | None, pipe.get(lock))
            current = self.get(holder) if holder is not None else None
            if current is not None and current.state in (JobState.STARTING, JobState.RUNNING, JobState.FINISHED):
                return current
            pipe.multi()
            pipe.set(lock, job.job_id)
            pipe.hset(keys.job_key(job.job_id), mapping=job.to_mapping())
            pipe.sadd(keys.active_jobs_key(), job.job_id)
            pipe.zadd(keys.due_key(), {job.job_id: job.requested_at + reconcile_after})
            return None

        holder = self._transaction(attempt, lock, keys.job_key(job.job_id))
        if holder is None:
            try:
                wait_for_replica(self.redis)  # the start must outlive a failover before createBackup is sent
            except NotReplicated:
                self.mark_start_failed(job, "no Redis replica acknowledged the start")  # frees the stamp
                raise
        return holder

    def mark_running(self, job: Job, *, due_at: float) -> bool:
        """Record the operation to follow and hand the job to the poller.

        ``False`` if the job is no longer starting (a reconciler settled it while the stamp was slow).
        """
        job.state = JobState.RUNNING
        key = keys.job_key(job.job_id)

        def attempt(pipe: Pipeline) -> bool:
            if pipe.hget(key, "state") != JobState.STARTING.value:
                return False
            pipe.multi()
            pipe.hset(key, mapping=job.to_mapping())
            pipe.zadd(keys.due_key(), {job.job_id: due_at})
            return True

        return self._transaction(attempt, key)

    def _transaction(self, attempt: Callable[[Pipeline], T], *watched: str) -> T:
        """redis-py's WATCH/MULTI retry loop, returning what ``attempt`` returns (its stubs say ``None``)."""
        return cast(T, self.redis.transaction(attempt, *watched, value_from_callable=True))  # type: ignore[arg-type]

    def mark_start_failed(self, job: Job, error: str) -> None:
        """The stamp refused or never answered the start: free the stamp for the next attempt."""
        job.state, job.error = JobState.START_FAILED, error
        lock = keys.stamp_lock_key(job.stamp)

        def attempt(pipe: Pipeline) -> None:
            holder = pipe.get(lock)
            if pipe.hget(keys.job_key(job.job_id), "state") != JobState.STARTING.value:
                return  # a reconciler settled it meanwhile
            pipe.multi()
            pipe.hset(keys.job_key(job.job_id), mapping=job.to_mapping())
            pipe.srem(keys.active_jobs_key(), job.job_id)
            pipe.zrem(keys.due_key(), job.job_id)
            pipe.expire(keys.job_key(job.job_id), self._ttl)  # in the MULTI: the hash is never left without one
            if holder == job.job_id:
                pipe.delete(lock)

        self.redis.transaction(attempt, lock, keys.job_key(job.job_id))

    # --- reads ------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        data = cast(dict[str, str], self.redis.hgetall(keys.job_key(job_id)))
        if not data:
            return None
        return Job.from_fields(data)

    def active_jobs(self) -> list[Job]:
        """Every job in flight, oldest request first: two round trips whatever their number (``status`` reads
        them inside Slack's 3 s ack)."""
        ids = sorted(cast(set[str], self.redis.smembers(keys.active_jobs_key())))
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(keys.job_key(job_id))
            found = cast(list[dict[str, str]], pipe.execute())
        jobs = [Job.from_fields(data) for data in found if data]
        return sorted(jobs, key=lambda j: j.requested_at)

    def count_active(self) -> int:
        return int(self.redis.scard(keys.active_jobs_key()))

    def find_by_backup_id(self, stamp: str, backup_id: str) -> Job | None:
        """The job that started ``backup_id``, among active and recent ones (to name the requester)."""
        return next((job for job in self._recent_jobs(stamp) if job.backup_id == backup_id), None)

    def known_backup_ids(self, stamp: str) -> set[str]:
        """The backups the stamp's recent jobs and every active job started: a backup on the stamp is theirs."""
        return {job.backup_id for job in self._recent_jobs(stamp) if job.backup_id}

    def _recent_jobs(self, stamp: str) -> Iterator[Job]:
        """The stamp's recently finished jobs, newest first, then every active job; read one at a time."""
        ids = [
            *cast(list[str], self.redis.lrange(keys.history_key(stamp), 0, -1)),
            *cast(set[str], self.redis.smembers(keys.active_jobs_key())),
        ]
        return (job for job in map(self.get, ids) if job is not None)

    # --- worker side ------------------------------------------------------------------------------

    def due(self, now: float, limit: int = 500) -> list[str]:
        return cast(list[str], self.redis.zrangebyscore(keys.due_key(), "-inf", now, start=0, num=limit))

    def due_at(self, job_id: str) -> float | None:
        """When the job is next due, or ``None`` if it is not scheduled."""
        score = self.redis.zscore(keys.due_key(), job_id)
        return None if score is None else float(score)

    def bring_forward(self, job_id: str, due_at: float) -> None:
        """Make the job due no later than ``due_at`` (never later than it already is; never re-adds it)."""
        self.redis.zadd(keys.due_key(), {job_id: due_at}, xx=True, lt=True)

    def claim(self, job_id: str, *, ttl: float) -> Claim | None:
        """Take a job for one poll, or ``None`` if another worker holds it (or it vanished)."""
        token = uuid.uuid4().hex
        result = self._claim(keys=[keys.lease_key(job_id), keys.job_key(job_id)], args=[token, int(ttl * 1000)])
        if not result or int(result[0]) <= 0:
            if result and int(result[0]) == -1:
                self.redis.zrem(keys.due_key(), job_id)
            return None
        pairs = [str(v) for v in result[1:]]
        job = Job.from_fields(dict(zip(pairs[0::2], pairs[1::2], strict=True)))
        return Claim(job=job, token=token, fence=int(result[0]))

    # --- transitions of a claimed job (fenced: ``False`` once a newer claim replaced this one) ------

    def reschedule(
        self,
        claim: Claim,
        *,
        due_at: float,
        poll_failures: int | None = None,
        progress_at: float | None = None,
        follow_with: str | None = None,
        keep_lease: bool = False,
    ) -> bool:
        """Poll again at ``due_at``. ``follow_with`` hands the job to that strategy for good (a fallback: the
        operation URL is given up); ``keep_lease`` keeps the claim for a post that follows (the overdue notice)."""
        changes: Changes = {}
        if poll_failures is not None:
            changes["poll_failures"] = poll_failures
        if progress_at is not None:
            changes["progress_at"] = progress_at
        if follow_with is not None:
            changes["strategy"] = follow_with
            changes["poll_url"] = ""
        return self._write(claim, _Write(changes, next_due=due_at, keep_lease=keep_lease))

    def finish(self, claim: Claim, *, at: float, result: Backup | None, error: str) -> bool:
        """The backup ended (or was given up on): keep the lease and report it now."""
        outcome = json.dumps(result.to_dict()) if result is not None else ""
        changes: Changes = {"state": JobState.FINISHED.value, "finished_at": at, "result": outcome, "error": error}
        return self._write(claim, _Write(changes, next_due=at, keep_lease=True, durable=True))

    def adopt(self, claim: Claim, *, backup_id: str, due_at: float, follow_with: str) -> bool:
        """A start that never recorded the stamp's answer owns the backup found running: follow it by id."""
        changes: Changes = {
            "state": JobState.RUNNING.value,
            "backup_id": backup_id,
            "started_at": claim.job.requested_at,
            "strategy": follow_with,
            "poll_url": "",
        }
        return self._write(claim, _Write(changes, next_due=due_at, expect_state=JobState.STARTING, durable=True))

    def give_up(self, claim: Claim, reason: str) -> bool:
        """A start the stamp has no record of: it failed; the lease is kept to tell the requester.

        The failure count starts again: from now on it counts the notice's refusals (its retry backoff)."""
        changes: Changes = {"state": JobState.START_FAILED.value, "error": reason, "poll_failures": 0}
        return self._write(claim, _Write(changes, keep_lease=True, expect_state=JobState.STARTING, durable=True))

    def count_post_attempt(self, claim: Claim) -> bool:
        """Count a report attempt before it is made, while the job is still in the state it reports."""
        changes: Changes = {"post_attempts": claim.job.post_attempts + 1}
        return self._write(claim, _Write(changes, keep_lease=True, expect_state=claim.job.state, durable=True))

    def count_announce_attempt(self, claim: Claim) -> bool:
        """Count a start announcement attempt before it is made, so a retry looks for it first."""
        return self._write(claim, _Write({"announce_attempts": claim.job.announce_attempts + 1}, keep_lease=True))

    def give_up_announcement(self, claim: Claim) -> bool:
        """Refused too often: the outcome will stand alone and say so."""
        return self._write(claim, _Write({"announce_given_up": 1}, keep_lease=True))

    def record_announcement(self, claim: Claim, ts: str) -> bool:
        """The start announcement is in the channel at ``ts``."""
        return self._write(claim, _Write({"start_ts": ts}, keep_lease=True))

    def count_overdue_attempt(self, claim: Claim) -> bool:
        """Count an overdue notice attempt before it is made (durable, as an outcome's), so a retry looks first."""
        changes: Changes = {"overdue_attempts": claim.job.overdue_attempts + 1}
        return self._write(claim, _Write(changes, keep_lease=True, durable=True))

    def record_overdue(self, claim: Claim, ts: str) -> bool:
        """The overdue notice is in the channel at ``ts``: it is not owed any more."""
        return self._write(claim, _Write({"overdue_reported": 1, "overdue_ts": ts}, keep_lease=True))

    def mark_notified(self, claim: Claim, ts: str) -> bool:
        """The report is in the channel: the job is over (a failed start keeps its state)."""
        changes: Changes = {"notified_ts": ts}
        if claim.job.state == JobState.FINISHED:
            changes["state"] = JobState.NOTIFIED.value
        return self._write(claim, _Write(changes, done=True, durable=True))

    def retry_report(self, claim: Claim, *, due_at: float, failures: int) -> bool:
        """Slack refused a report: try again at ``due_at``, counting the failure."""
        return self._write(claim, _Write({"poll_failures": failures}, next_due=due_at))

    def release(self, claim: Claim) -> bool:
        """Let go of the claim, changing nothing."""
        return self._write(claim, _Write())

    def close(self, claim: Claim) -> bool:
        """Retire a job no transition applies to any more."""
        return self._write(claim, _Write(done=True))

    def _write(self, claim: Claim, write: _Write) -> bool:
        """The fenced Lua update under every transition; mirrors the change on ``claim.job``."""
        job = claim.job
        args = [
            str(claim.fence),
            claim.token,
            job.job_id,
            "" if write.next_due is None else repr(write.next_due),
            "1" if write.done else "",
            "1" if write.keep_lease else "",
            write.expect_state.value if write.expect_state else "",
            str(self._ttl),
            *_apply_changes(job, write.fields),
        ]
        applied = bool(self._fenced_update(keys=keys.fenced_update_keys(job.job_id, job.stamp), args=args))
        if applied and write.durable:
            wait_for_replica(self.redis)
        return applied

    def renew(self, claim: Claim, *, ttl: float) -> bool:
        """Extend the claim's lease to ``ttl`` from now; ``False`` once another claim replaced it."""
        job_id = claim.job.job_id
        return bool(
            self._renew(
                keys=[keys.job_key(job_id), keys.lease_key(job_id)],
                args=[str(claim.fence), claim.token, int(ttl * 1000)],
            )
        )

    def holding(self, claim: Claim, *, ttl: float) -> LeaseKeeper:
        """A context that keeps ``claim``'s lease alive while a slow call (a Slack post) runs."""
        return LeaseKeeper(lambda: self.renew(claim, ttl=ttl), ttl)
