"""The worker: follows every running backup and reports each outcome exactly once.

Each cycle takes the due job ids from Redis, claims each one with an expiring lease, polls the
stamp once, and either reschedules the job (honouring ``Retry-After``) or records the outcome and
posts it. No job sleeps in the worker; a stalled or killed worker's jobs are picked up by another
once its lease passes, and fencing stops the stalled one from writing or posting afterwards.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from bot import messages, outage
from bot.arm import ArmClient, StampError, retry_after_seconds
from bot.health import COMPONENTS
from bot.jobs import Claim, Job, JobState, JobStore
from bot.lro import STRATEGIES, BackupResourcePolling, LocationPolling, PollResult
from bot.metrics import POLLS, REPORT_LAG, record_jobs, record_problems
from bot.models import Backup, is_backup_id
from bot.probes import Heartbeat
from bot.slack import Fenced, PostFailed, SlackPoster
from bot.watch import Watcher

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 300.0
HOUSEKEEPING_SECONDS = 5.0
MAX_PERMANENT_FAILURES = 10
"""Consecutive non-retryable answers (401 after a token refresh, 403, 404) before a job is reported failed."""
MAX_ANNOUNCE_ATTEMPTS = 5
"""Refused start announcements before the outcome is posted on its own, saying so."""


def context(job: Job, correlation_id: str | None = None) -> dict[str, str]:
    """Log fields that tie a line to one backup (see :data:`bot.logs.CONTEXT_FIELDS`)."""
    return {"job_id": job.job_id, "backup_id": job.backup_id, "stamp": job.stamp,
            "correlation_id": correlation_id or job.correlation_id}


def backoff(failures: int, base: float) -> float:
    """Exponential delay with jitter for the ``failures``-th consecutive failure."""
    return min(MAX_RETRY_DELAY, base * 2.0 ** min(failures, 10)) * (0.75 + random.random() / 2)


class Poller:
    """Polls due jobs with bounded concurrency; ``run`` loops until ``stop`` is set."""

    def __init__(self, store: JobStore, clients: Mapping[str, ArmClient], poster: SlackPoster, *,
                 poll_interval: float, lease_seconds: float = 90.0, backup_timeout: float = 7200.0,
                 progress_interval: float = 60.0, watcher: Watcher | None = None, concurrency: int = 16,
                 max_retry_after: float = 600.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clients = clients
        self.poster = poster
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.backup_timeout = backup_timeout
        self.progress_interval = progress_interval
        self.watcher = watcher
        self.max_retry_after = max_retry_after
        """A stamp's ``Retry-After`` is obeyed up to this many seconds (``AZS_MAX_RETRY_AFTER``)."""
        self.clock = clock
        """Wall-clock seconds for the poll path; replay tests skip recorded waits through it."""
        self.tick = min(0.5, poll_interval)
        self.heartbeat: Heartbeat | None = None
        """Beaten once per loop turn, so ``/healthz`` can tell a stalled worker (see :mod:`bot.probes`)."""
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="poll")

    def run(self, stop: threading.Event) -> None:
        if self.watcher is not None:
            threading.Thread(target=self._watch, args=(stop,), name="watch", daemon=True).start()
        failures, epoch_checked = 0, 0.0
        while not stop.is_set():
            if self.heartbeat is not None:
                self.heartbeat.beat()
            try:
                if time.monotonic() - epoch_checked > HOUSEKEEPING_SECONDS:
                    epoch_checked = time.monotonic()
                    self._housekeeping()
                self.run_once()
                failures = 0
                outage.REDIS.ok()
                stop.wait(self.tick)
            except redis.RedisError as exc:
                failures += 1
                outage.REDIS.failed(exc)
                stop.wait(min(5.0, backoff(failures, 0.5)))
            except Exception:
                log.exception("unexpected failure in the poll loop; carrying on")
                stop.wait(1.0)
        self._pool.shutdown(wait=True)
        log.info("poller stopped")

    def _housekeeping(self) -> None:
        """Every few seconds, not per job: notice an emptied Redis, refresh the in-flight gauge, and
        look at every running job whether or not it is due (see :meth:`check_running_jobs`)."""
        if self.poster.health is not None:
            record_problems(self.poster.health.problems(), COMPONENTS)  # problems() checks the epoch too
        jobs = self.store.active_jobs()
        record_jobs(jobs)
        self.check_running_jobs(jobs)

    def check_running_jobs(self, jobs: list[Job] | None = None) -> None:
        """Overdue detection that does not wait for a poll, and a ceiling on how far off a poll may be.

        A job parked far in the future (a huge ``Retry-After`` from an older worker, or the first poll
        after ``createBackup``) is brought back to at most ``max_retry_after`` from now; a running job
        past ``backup_timeout`` is reported once, here, even if it is not due.
        """
        now = self.clock()
        for job in self.store.active_jobs() if jobs is None else jobs:
            if job.state != JobState.RUNNING:
                continue
            due_at = self.store.due_at(job.job_id)
            if due_at is not None and due_at > now + self.max_retry_after:
                self.store.bring_forward(job.job_id, now + self.max_retry_after)
            if job.overdue_reported or now - (job.started_at or job.requested_at) <= self.backup_timeout:
                continue
            claim = self.store.claim(job.job_id, ttl=self.lease_seconds)
            if claim is None:
                continue  # being polled right now: that poll reports it
            if claim.job.state == JobState.RUNNING and not claim.job.overdue_reported:
                if self.store.update(claim, keep_lease=True, overdue_reported=1):
                    self._report_overdue(claim)
            else:
                self.store.update(claim)

    def _watch(self, stop: threading.Event) -> None:
        """Watched stamps on their own thread: a slow stamp list must not delay anyone's outcome."""
        assert self.watcher is not None
        while not stop.is_set():
            try:
                self.watcher.run_due()
            except redis.RedisError:
                pass  # the poll loop logs the outage once
            except Exception:
                log.exception("watch check failed; trying again next turn")
            stop.wait(1.0)

    def run_once(self, now: float | None = None) -> int:
        """One cycle: poll every due job once; returns how many were due."""
        due = self.store.due(now or self.clock())
        for future in [self._pool.submit(self.process, job_id) for job_id in due]:
            future.result()
        return len(due)

    def process(self, job_id: str) -> None:
        """Claim, poll and record one job; never raises (a failure only delays the job)."""
        try:
            claim = self.store.claim(job_id, ttl=self.lease_seconds)
            if claim is None:
                return
            if claim.job.state == JobState.FINISHED:
                self._notify(claim)
            elif claim.job.state == JobState.RUNNING:
                if claim.job.announcement_pending:
                    self._announce(claim)  # refused: the poll goes on, and the next turn tries again
                self._poll(claim)
            elif claim.job.state == JobState.STARTING:
                self._reconcile_start(claim)
            elif claim.job.state == JobState.START_FAILED:
                self._report_abandoned(claim)
            else:
                self.store.update(claim, done=True)
        except Fenced:
            log.warning("job %s: claim lost before a post (lease ran out); its new holder carries on", job_id)
        except redis.RedisError as exc:
            log.warning("redis failed while processing job %s (%s); it stays due", job_id, type(exc).__name__)
        except Exception:
            log.exception("unexpected failure while processing job %s; it stays due", job_id)

    def _poll(self, claim: Claim) -> None:
        job = claim.job
        client = self.clients.get(job.stamp)
        if client is None:
            log.error("job %s is for unknown stamp %r; keeping it for a worker that knows it", job.job_id, job.stamp)
            self.store.update(claim, next_due=self.clock() + MAX_RETRY_DELAY)
            return
        if job.poll_url and not client.owns(job.poll_url):
            # The stamp names itself differently (IP, alias, port): never send it the token, follow by id.
            log.warning("operation URL of backup %s is not on the configured endpoint; following the backup by id",
                        job.backup_id, extra=context(job))
            if not self.store.update(claim, keep_lease=True, strategy=BackupResourcePolling.name, poll_url=""):
                return
        try:
            result, retry_after = self._poll_once(client, claim)
            final = self._final_backup(client, claim, result) if result.done else None
        except StampError as exc:
            self._poll_failed(claim, exc)
            return
        by_id: dict[str, Any] = {}
        if final is not None and not final.is_terminal and not result.error:
            # The operation is over but the backup says it runs: believe the backup, follow it by id from now on.
            result, by_id = PollResult(done=False), {"strategy": BackupResourcePolling.name, "poll_url": ""}
        now = self.clock()
        POLLS.labels(strategy=job.strategy, result="done" if result.done else "running").inc()
        if not result.done:
            delay = max(self.poll_interval, min(retry_after or 0.0, self.max_retry_after))
            overdue = not job.overdue_reported and now - (job.started_at or job.requested_at) > self.backup_timeout
            progress_at = self._show_progress(claim, now)
            if self.store.update(claim, next_due=now + delay, poll_failures=0, keep_lease=overdue,
                                 overdue_reported=job.overdue_reported or int(overdue),
                                 progress_at=progress_at, **by_id) and overdue:
                self._report_overdue(claim)
            return
        backup = final.started_by_bot(now - (job.started_at or job.requested_at)) if final else None
        error = result.error or ("" if backup else "the operation ended, but the stamp returned no record of the "
                                 "backup; check it with `/azs backup show`.")
        log.info("backup %s on %s ended: %s", job.backup_id, job.stamp, backup.status if backup else error,
                 extra=context(job))
        if self.store.update(claim, next_due=now, keep_lease=True, state=JobState.FINISHED, finished_at=now,
                             result=json.dumps(backup.to_dict()) if backup else "", error=error):
            self._notify(claim)

    def _reconcile_start(self, claim: Claim) -> None:
        """A start that never recorded the stamp's answer: adopt the backup it began, or say it failed."""
        job = claim.job
        client = self.clients.get(job.stamp)
        if client is None:
            self.store.update(claim, next_due=time.time() + MAX_RETRY_DELAY)
            return
        try:
            backups = [b for b in client.list_backups() if is_backup_id(b.backup_id)]  # ids go into ARM URLs
        except StampError as exc:
            self._poll_failed(claim, exc)
            return
        fresh = [b for b in backups if (b.created is not None and b.created.timestamp() >= job.requested_at)
                 or not b.is_terminal]
        adoptable = [b for b in fresh if self.store.find_by_backup_id(job.stamp, b.backup_id) is None]
        now = time.time()
        if not adoptable:
            reason = "the stamp has no record of it (the request never reached it, or it was refused)."
            log.warning("job %s: start never confirmed and no new backup on %s; giving up", job.job_id, job.stamp)
            if self.store.update(claim, keep_lease=True, state=JobState.START_FAILED, error=reason,
                                 expect_state=JobState.STARTING):
                self._report_abandoned(claim)
            return
        backup = adoptable[0]  # newest first
        log.warning("job %s: adopting backup %s found running on %s", job.job_id, backup.backup_id, job.stamp)
        # Due at once: the next turn announces it (fenced and retried like an outcome), then polls it.
        self.store.update(claim, next_due=now, state=JobState.RUNNING, backup_id=backup.backup_id,
                          started_at=job.requested_at, strategy=BackupResourcePolling.name, poll_url="",
                          expect_state=JobState.STARTING)

    def _report_abandoned(self, claim: Claim) -> None:
        """Tell the requester a start that never began is over: once, fenced, retried until Slack takes it."""
        job = claim.job
        attempts = job.post_attempts
        if not self.store.update(claim, keep_lease=True, expect_state=JobState.START_FAILED,
                                 post_attempts=attempts + 1):
            return
        try:
            if attempts and (ts := self._earlier_post(claim, messages.REPORT_EVENT, _before(job.requested_at))):
                self.store.update(claim, done=True, notified_ts=ts)
                return
            ts = self._post_fenced(claim, messages.start_abandoned_notice(job, job.error))
        except PostFailed as exc:
            log.error("could not tell %s that job %s did not start (%s)", job.requester, job.job_id, exc.error)
            self.store.update(claim, next_due=time.time() + post_retry_delay(exc, attempts + 1))
            return
        self.store.update(claim, done=True, notified_ts=ts)

    def _announce(self, claim: Claim) -> bool:
        """Post the start announcement the web process could not; ``True`` once it is posted or given up.

        Fenced and marked like an outcome, so a retry after an unclear failure first looks for it.
        """
        job = claim.job
        attempts = job.announce_attempts
        if attempts >= MAX_ANNOUNCE_ATTEMPTS:
            log.error("backup %s: giving up on its start announcement after %d refusals", job.backup_id, attempts,
                      extra=context(job))
            return self.store.update(claim, keep_lease=True, announce_given_up=1)
        if not self.store.update(claim, keep_lease=True, announce_attempts=attempts + 1):
            raise Fenced(job.job_id)
        try:
            if attempts and (ts := self._earlier_post(claim, messages.ANNOUNCE_EVENT, _before(job.requested_at))):
                return self.store.update(claim, keep_lease=True, start_ts=ts)
            ts = self._post_fenced(claim, messages.started(job))
        except PostFailed as exc:
            log.error("could not announce backup %s (%s); attempt %d", job.backup_id, exc.error, attempts + 1,
                      extra=context(job))
            return False
        return self.store.update(claim, keep_lease=True, start_ts=ts)

    def _earlier_post(self, claim: Claim, event_type: str, oldest: str | None) -> str | None:
        """The ``ts`` of a post an earlier attempt made; :class:`PostFailed` if the channel cannot be read now."""
        return self.poster.find_marked(claim.job.channel, event_type, "job_id", claim.job.job_id, oldest=oldest)

    def _post_fenced(self, claim: Claim, message: messages.Message, *, thread_ts: str | None = None,
                     broadcast: bool = False) -> str:
        """Post only while ``claim`` holds the job: the lease is renewed during the post and checked before
        each attempt, and 429s are waited out for a third of the lease at most. Raises :class:`Fenced`."""
        job = claim.job
        with self.store.holding(claim, ttl=self.lease_seconds) as keeper:
            return self.poster.post(job.channel, message, user=job.requester, thread_ts=thread_ts,
                                    broadcast=broadcast, guard=keeper.guard,
                                    budget=min(self.poster.retry_seconds, self.lease_seconds / 3))

    def _show_progress(self, claim: Claim, now: float) -> float:
        """Edit the announcement with the elapsed time, at most once per progress interval."""
        job = claim.job
        if not job.start_ts or now - max(job.progress_at, job.started_at) < self.progress_interval:
            return job.progress_at
        if not self.poster.progress_allowed():
            return job.progress_at  # over this minute's share of Slack's chat.update limit; next poll
        self.poster.update(job.channel, job.start_ts, messages.progress(job, now))
        return now

    def _report_overdue(self, claim: Claim) -> None:
        """Once per job: the backup runs longer than anyone should wait without being told."""
        job = claim.job
        log.warning("backup %s on %s is overdue", job.backup_id, job.stamp, extra=context(job))
        message = messages.overdue(job, self.backup_timeout)
        try:
            self._post_fenced(claim, message, thread_ts=job.start_ts or None, broadcast=True)
        except PostFailed as exc:
            log.error("could not report backup %s overdue: %s", job.backup_id, exc.error)
        self.store.update(claim)

    def _post_safely(self, claim: Claim, message: messages.Message) -> str | None:
        """A fenced post whose failure is only logged."""
        try:
            return self._post_fenced(claim, message)
        except PostFailed as exc:
            log.error("could not post about job %s: %s", claim.job.job_id, exc.error)
            return None

    def _poll_once(self, client: ArmClient, claim: Claim) -> tuple[PollResult, float | None]:
        job = claim.job
        strategy = STRATEGIES.get(job.strategy, STRATEGIES[BackupResourcePolling.name])
        if strategy.name == BackupResourcePolling.name or not job.poll_url:
            backup = client.get_backup(job.backup_id, correlation_id=job.correlation_id or None)
            return (PollResult(done=True, backup=backup) if backup and backup.is_terminal
                    else PollResult(done=False)), None
        response = client.poll(job.poll_url, correlation_id=job.correlation_id or None)
        return strategy.interpret(response), retry_after_seconds(response.headers)

    def _final_backup(self, client: ArmClient, claim: Claim, result: PollResult) -> Backup | None:
        """The finished backup: from ``Location`` (the API's ``final-state-via``), else read by id
        (possibly still running: then the job is followed on).

        Raises a retryable :class:`StampError` to try again next poll; a refusal falls back to what the
        operation result said.
        """
        job = claim.job
        try:
            if job.location_url and job.location_url != job.poll_url and client.owns(job.location_url):
                final = LocationPolling().interpret(client.poll(job.location_url, correlation_id=job.correlation_id
                                                                or None))
                if final.backup is not None:
                    return final.backup
            if result.backup is not None and result.backup.roles:
                return result.backup
            backup = client.get_backup(job.backup_id, correlation_id=job.correlation_id or None)
        except StampError as exc:
            if exc.retryable:
                raise
            log.warning("could not read the final state of backup %s: %s", job.backup_id, exc, extra=context(job))
            return result.backup
        return backup or result.backup

    def _poll_failed(self, claim: Claim, exc: StampError) -> None:
        job = claim.job
        now = self.clock()
        if exc.status == 404 and job.strategy != BackupResourcePolling.name:
            log.warning("operation URL of backup %s answers 404; following the backup by id", job.backup_id,
                        extra=context(job))
            self.store.update(claim, next_due=now, strategy=BackupResourcePolling.name)
            return
        if exc.code == "ForeignHost" and job.strategy != BackupResourcePolling.name:
            log.warning("backup %s: %s; following the backup by id", job.backup_id, exc, extra=context(job))
            self.store.update(claim, next_due=now, strategy=BackupResourcePolling.name, poll_url="")
            return
        POLLS.labels(strategy=job.strategy, result="error").inc()
        failures = job.poll_failures + 1
        if not exc.retryable and failures >= MAX_PERMANENT_FAILURES:
            log.error("giving up on backup %s after %d refusals: %s", job.backup_id, failures, exc, extra=context(job))
            if self.store.update(claim, next_due=now, keep_lease=True, state=JobState.FINISHED, finished_at=now,
                                 error=f"I stopped following it after {failures} refusals: {exc}"):
                self._notify(claim)
            return
        delay = max(min(exc.retry_after or 0.0, self.max_retry_after), backoff(failures, max(self.poll_interval, 1.0)))
        log.warning("polling backup %s failed (%s); retry %d in %.1fs", job.backup_id, exc, failures, delay,
                    extra=context(job, exc.correlation_id))
        self.store.update(claim, next_due=now + delay, poll_failures=failures)

    def _notify(self, claim: Claim) -> None:
        """Post the outcome once; if Slack refuses, keep the job finished and try again later.

        Exactly once: the attempt is counted in Redis before the post, the post happens only while the
        claim holds (see :meth:`_post_fenced`), and a worker that finds an earlier attempt reads the
        channel for its marker first. README "Guarantees" states the window that remains.
        """
        job = claim.job
        if job.announcement_pending and not self._announce(claim):
            failures = job.poll_failures + 1  # the outcome waits, so it can thread under the announcement
            self.store.update(claim, next_due=time.time() + backoff(failures, 2.0), poll_failures=failures)
            return
        attempts = job.post_attempts
        if not self.store.update(claim, keep_lease=True, expect_state=JobState.FINISHED, post_attempts=attempts + 1):
            log.warning("backup %s: claim fenced off before posting; another worker reports it", job.backup_id)
            return
        message = (messages.completion_unannounced(job, job.backup, job.error, job.announce_attempts)
                   if job.announce_given_up else messages.completion(job, job.backup, job.error))
        try:
            earlier = attempts and self._earlier_post(claim, messages.REPORT_EVENT, job.start_ts or None)
            if earlier:
                log.warning("backup %s: an earlier attempt posted the outcome already (%s)", job.backup_id, earlier)
                self.store.update(claim, done=True, state=JobState.NOTIFIED, notified_ts=earlier)
                return
            ts = self._post_fenced(claim, message, broadcast=True,
                                   thread_ts=job.start_ts if job.start_ts and job.threaded else None)
        except PostFailed as exc:
            failures = job.poll_failures + 1
            log.error("could not post the outcome of backup %s (%s); retry %d", job.backup_id,
                      exc.error, failures, extra=context(job))
            self.store.update(claim, next_due=time.time() + post_retry_delay(exc, failures), poll_failures=failures)
            return
        backup = job.backup
        ended = backup.created.timestamp() if backup and backup.created else job.finished_at
        REPORT_LAG.observe(max(0.0, time.time() - ended))
        if not self.store.update(claim, done=True, state=JobState.NOTIFIED, notified_ts=ts):
            # Posted under a valid lease, so a new holder finds the marker in the history and posts nothing.
            log.warning("backup %s: claim moved on after the post; the new holder finds it posted", job.backup_id)
            return
        if job.start_ts:
            self.poster.update(job.channel, job.start_ts, messages.announcement_final(job, backup, job.error))


def _before(moment: float) -> str:
    """A Slack ``oldest`` a minute before ``moment``: clocks differ, and the history check must not miss."""
    return f"{max(0.0, moment - 60):.6f}"


def post_retry_delay(exc: PostFailed, failures: int) -> float:
    """Slack's own ``Retry-After`` when it throttled (it took nothing), else exponential backoff.

    Throttling is shared by every post in the workspace: backing off exponentially on it starved
    outcomes for minutes after the burst was over.
    """
    if exc.retry_after is not None:
        return exc.retry_after + random.random()
    return backoff(failures, 2.0)
