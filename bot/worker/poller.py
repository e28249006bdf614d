"""The worker: follows every running backup and reports each outcome exactly once.

Each cycle takes the due job ids from Redis, claims each one with an expiring lease, polls the
stamp once, and either reschedules the job (honouring ``Retry-After``) or records the outcome and
posts it. No job sleeps in the worker; a stalled or killed worker's jobs are picked up by another
once its lease passes, and fencing stops the stalled one from writing or posting afterwards.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace

import redis

from bot.config.settings import Settings
from bot.model.backup import Backup, is_backup_id
from bot.ops import outage
from bot.ops.metrics import POLLS, REPORT_LAG, record_jobs, record_problems
from bot.ops.probes import Heartbeat
from bot.slack.client import Fenced, PostFailed, SlackPoster
from bot.stamp import lro
from bot.stamp.arm import ArmClient, StampError, retry_after_seconds
from bot.state.health import COMPONENTS
from bot.state.jobs import Claim, Job, JobState, JobStore
from bot.words import posts
from bot.words.mrkdwn import Message
from bot.worker.next_step import Failed, Finish, Policy, Polled, Reschedule, Step, backoff, decide, is_overdue
from bot.worker.watch import Watcher

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 5.0


def context(job: Job, correlation_id: str | None = None) -> dict[str, str]:
    """Log fields that tie a line to one backup (see :data:`bot.ops.logs.CONTEXT_FIELDS`)."""
    return {
        "job_id": job.job_id,
        "backup_id": job.backup_id,
        "stamp": job.stamp,
        "correlation_id": correlation_id or job.correlation_id,
    }


def failed(exc: StampError) -> Failed:
    """The stamp client's error as plain data for :func:`bot.worker.next_step.decide`."""
    return Failed(str(exc), status=exc.status, code=exc.code, retryable=exc.retryable, retry_after=exc.retry_after)


class Poller:
    """Polls due jobs with bounded concurrency; ``run`` loops until ``stop`` is set.

    A cycle hands each due job that is not already being polled to the pool and returns, so a slow
    stamp holds up only its own jobs.
    """

    def __init__(
        self,
        store: JobStore,
        clients: Mapping[str, ArmClient],
        poster: SlackPoster,
        settings: Settings,
        *,
        watcher: Watcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clients = clients
        self.poster = poster
        self.settings = settings
        self.lease_seconds = settings.lease_seconds
        self.policy = Policy(
            poll_interval=settings.poll_interval,
            max_retry_after=settings.max_retry_after,
            backup_timeout=settings.backup_timeout,
            max_permanent_failures=settings.max_permanent_failures,
            max_retry_delay=settings.max_retry_delay,
        )
        self.watcher = watcher
        self.clock = clock
        """Wall-clock seconds for the poll path; replay tests skip recorded waits through it."""
        self.tick = min(0.5, settings.poll_interval)
        self.heartbeat: Heartbeat | None = None
        """Beaten once per loop turn, so ``/healthz`` can tell a stalled worker (see :mod:`bot.ops.probes`)."""
        self._pool = ThreadPoolExecutor(max_workers=settings.poll_concurrency, thread_name_prefix="poll")
        self._in_flight: dict[str, Future[None]] = {}
        self._in_flight_lock = threading.RLock()
        """Re-entrant: a job that is done before its callback is attached lands on the submitting thread."""

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
                stop.wait(min(5.0, backoff(failures, 0.5, self.policy.max_retry_delay, random.random())))
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
        now, ceiling = self.clock(), self.policy.max_retry_after
        for job in self.store.active_jobs() if jobs is None else jobs:
            if job.state != JobState.RUNNING:
                continue
            due_at = self.store.due_at(job.job_id)
            if due_at is not None and due_at > now + ceiling:
                self.store.bring_forward(job.job_id, now + ceiling)
            if is_overdue(job, now, self.policy):
                self._report_overdue_now(job.job_id, now)

    def _report_overdue_now(self, job_id: str, now: float) -> None:
        claim = self.store.claim(job_id, ttl=self.lease_seconds)
        if claim is None:
            return  # being polled right now: that poll reports it
        if claim.job.state == JobState.RUNNING and is_overdue(claim.job, now, self.policy):
            if self.store.mark_overdue(claim):
                self._report_overdue(claim)
        else:
            self.store.release(claim)

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
        """One cycle: hand every due job not already in flight to the pool; returns how many were due."""
        due = self.store.due(now or self.clock())
        with self._in_flight_lock:
            for job_id in due:
                if job_id not in self._in_flight:
                    future = self._pool.submit(self.process, job_id)
                    self._in_flight[job_id] = future
                    future.add_done_callback(self._landing(job_id))
        return len(due)

    def drain(self, timeout: float | None = None) -> None:
        """Wait for the jobs in flight (tests and benchmarks step the poller one whole cycle at a time)."""
        with self._in_flight_lock:
            futures = list(self._in_flight.values())
        wait(futures, timeout=timeout)

    def _landing(self, job_id: str) -> Callable[[Future[None]], None]:
        """A done-callback that takes ``job_id`` off the in-flight list, so the next cycle may submit it."""

        def landed(_future: Future[None]) -> None:
            with self._in_flight_lock:
                self._in_flight.pop(job_id, None)

        return landed

    def process(self, job_id: str) -> None:
        """Claim, poll and record one job; never raises (a failure only delays the job)."""
        try:
            claim = self.store.claim(job_id, ttl=self.lease_seconds)
            if claim is not None:
                self._handle(claim)
        except Fenced:
            log.warning("job %s: claim lost before a post (lease ran out); its new holder carries on", job_id)
        except redis.RedisError as exc:
            log.warning("redis failed while processing job %s (%s); it stays due", job_id, type(exc).__name__)
        except Exception:
            log.exception("unexpected failure while processing job %s; it stays due", job_id)

    def _handle(self, claim: Claim) -> None:
        """What a claimed job needs, by its state."""
        state = claim.job.state
        if state == JobState.RUNNING and claim.job.announcement_pending:
            self._announce(claim)  # refused: the poll goes on, and the next turn tries again
        handler = {
            JobState.FINISHED: self._notify,
            JobState.RUNNING: self._poll,
            JobState.STARTING: self._reconcile_start,
            JobState.START_FAILED: self._report_abandoned,
        }.get(state)
        if handler is None:
            self.store.close(claim)
        else:
            handler(claim)

    def _poll(self, claim: Claim) -> None:
        """Poll once with the strategy that can, decide, apply."""
        job = claim.job
        client = self.clients.get(job.stamp)
        if client is None:
            log.error("job %s is for unknown stamp %r; keeping it for a worker that knows it", job.job_id, job.stamp)
            self.store.reschedule(claim, due_at=self.clock() + self.policy.max_retry_delay)
            return
        strategy = lro.select(job, client.owns)
        if strategy.name != job.strategy:
            log.warning(
                "backup %s cannot be followed with %r (operation URL missing or not on the configured "
                "endpoint); following the backup by id",
                job.backup_id,
                job.strategy,
                extra=context(job),
            )
        outcome = self._poll_once(client, job, strategy)
        step = decide(replace(job, strategy=strategy.name), outcome, self.clock(), self.policy, random.random())
        self._apply(claim, outcome, step, switched=strategy.name != job.strategy)

    def _poll_once(self, client: ArmClient, job: Job, strategy: lro.PollingStrategy) -> Polled | Failed:
        """One call to the stamp (and, once the operation is over, the read of the final backup)."""
        by_id = strategy.name == lro.BY_ID
        correlation_id = job.correlation_id or None
        try:
            response = (
                client.read_backup(job.backup_id, correlation_id=correlation_id, accept=strategy.answers)
                if by_id
                else client.poll(job.poll_url, correlation_id=correlation_id, accept=strategy.answers)
            )
            result = strategy.interpret(response.status, response.headers, response.body)
            final = self._final_backup(client, job, result) if result.done else None
        except StampError as exc:
            POLLS.labels(strategy=strategy.name, result="error").inc()
            return failed(exc)
        POLLS.labels(strategy=strategy.name, result="done" if result.done else "running").inc()
        return Polled(result, None if by_id else retry_after_seconds(response.headers), final)

    def _apply(self, claim: Claim, outcome: Polled | Failed, step: Step, *, switched: bool) -> None:
        """Record the decision, then post what it calls for (the outcome, or the one overdue report)."""
        job = claim.job
        if isinstance(step, Finish):
            log.info(
                "backup %s on %s ended: %s",
                job.backup_id,
                job.stamp,
                step.backup.status if step.backup else step.error,
                extra=context(job),
            )
            if self.store.finish(claim, at=step.at, result=step.backup, error=step.error):
                self._notify(claim)
            return
        by_id = step.by_id or switched
        progress_at = self._after_poll(claim, outcome, step)
        if (
            self.store.reschedule(
                claim,
                due_at=step.due_at,
                poll_failures=step.poll_failures,
                progress_at=progress_at,
                strategy=lro.BY_ID if by_id else None,
                poll_url="" if by_id else None,
                overdue=step.overdue,
            )
            and step.overdue
        ):
            self._report_overdue(claim)

    def _after_poll(self, claim: Claim, outcome: Polled | Failed, step: Reschedule) -> float | None:
        """Log a failed poll, or show progress after one that answered (its new ``progress_at``)."""
        if isinstance(outcome, Failed):
            log.warning(
                "polling backup %s failed (%s); %s",
                claim.job.backup_id,
                outcome.message,
                "following the backup by id" if step.by_id else f"retry {step.poll_failures}",
                extra=context(claim.job),
            )
            return None
        return self._show_progress(claim, self.clock())

    def _reconcile_start(self, claim: Claim) -> None:
        """A start that never recorded the stamp's answer: adopt the backup it began, or say it failed."""
        job = claim.job
        client = self.clients.get(job.stamp)
        if client is None:
            self.store.reschedule(claim, due_at=time.time() + self.policy.max_retry_delay)
            return
        try:
            adoptable = self._adoptable(client, job)
        except StampError as exc:
            self._apply(
                claim, failed(exc), decide(job, failed(exc), self.clock(), self.policy, random.random()), switched=False
            )
            return
        if not adoptable:
            reason = "the stamp has no record of it (the request never reached it, or it was refused)."
            log.warning("job %s: start never confirmed and no new backup on %s; giving up", job.job_id, job.stamp)
            if self.store.give_up(claim, reason):
                self._report_abandoned(claim)
            return
        backup = adoptable[0]  # newest first
        log.warning("job %s: adopting backup %s found running on %s", job.job_id, backup.backup_id, job.stamp)
        # Due at once: the next turn announces it (fenced and retried like an outcome), then polls it.
        self.store.adopt(claim, backup_id=backup.backup_id, due_at=time.time(), follow_with=lro.BY_ID)

    def _adoptable(self, client: ArmClient, job: Job) -> list[Backup]:
        """Backups on the stamp that this start may have begun: new since the click, or still running,
        and not another job's; newest first."""
        backups = [b for b in client.list_backups() if is_backup_id(b.backup_id)]  # ids go into ARM URLs
        fresh = [
            b
            for b in backups
            if (b.created is not None and b.created.timestamp() >= job.requested_at) or not b.is_terminal
        ]
        return [b for b in fresh if self.store.find_by_backup_id(job.stamp, b.backup_id) is None]

    def _report_abandoned(self, claim: Claim) -> None:
        """Tell the requester a start that never began is over: once, fenced, retried until Slack takes it."""
        job = claim.job
        attempts = job.post_attempts
        if not self.store.count_post_attempt(claim):
            return
        try:
            if attempts and (ts := self._earlier_post(claim, posts.REPORT_EVENT, _before(job.requested_at))):
                self.store.mark_notified(claim, ts)
                return
            ts = self._post_fenced(claim, posts.start_abandoned_notice(job, job.error))
        except PostFailed as exc:
            log.error("could not tell %s that job %s did not start (%s)", job.requester, job.job_id, exc.error)
            self.store.reschedule(claim, due_at=time.time() + self._post_retry_delay(exc, attempts + 1))
            return
        self.store.mark_notified(claim, ts)

    def _announce(self, claim: Claim) -> bool:
        """Post the start announcement the web process could not; ``True`` once it is posted or given up.

        Fenced and marked like an outcome, so a retry after an unclear failure first looks for it.
        """
        job = claim.job
        attempts = job.announce_attempts
        if attempts >= self.settings.max_announce_attempts:
            log.error(
                "backup %s: giving up on its start announcement after %d refusals",
                job.backup_id,
                attempts,
                extra=context(job),
            )
            return self.store.give_up_announcement(claim)
        if not self.store.count_announce_attempt(claim):
            raise Fenced(job.job_id)
        try:
            if attempts and (ts := self._earlier_post(claim, posts.ANNOUNCE_EVENT, _before(job.requested_at))):
                return self.store.record_announcement(claim, ts)
            ts = self._post_fenced(claim, posts.started(job))
        except PostFailed as exc:
            log.error(
                "could not announce backup %s (%s); attempt %d",
                job.backup_id,
                exc.error,
                attempts + 1,
                extra=context(job),
            )
            return False
        return self.store.record_announcement(claim, ts)

    def _earlier_post(self, claim: Claim, event_type: str, oldest: str | None) -> str | None:
        """The ``ts`` of a post an earlier attempt made; :class:`PostFailed` if the channel cannot be read now."""
        return self.poster.find_marked(claim.job.channel, event_type, "job_id", claim.job.job_id, oldest=oldest)

    def _post_fenced(
        self, claim: Claim, message: Message, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> str:
        """Post only while ``claim`` holds the job: the lease is renewed during the post and checked before
        each attempt, and 429s are waited out for a third of the lease at most. Raises :class:`Fenced`."""
        job = claim.job
        with self.store.holding(claim, ttl=self.lease_seconds) as keeper:
            return self.poster.post(
                job.channel,
                message,
                user=job.requester,
                thread_ts=thread_ts,
                broadcast=broadcast,
                guard=keeper.guard,
                budget=min(self.poster.retry_seconds, self.lease_seconds / 3),
            )

    def _show_progress(self, claim: Claim, now: float) -> float:
        """Edit the announcement with the elapsed time, at most once per progress interval."""
        job = claim.job
        if not job.start_ts or now - max(job.progress_at, job.started_at) < self.settings.progress_interval:
            return job.progress_at
        if not self.poster.progress_allowed():
            return job.progress_at  # over this minute's share of Slack's chat.update limit; next poll
        self.poster.update(job.channel, job.start_ts, posts.progress(job, now))
        return now

    def _report_overdue(self, claim: Claim) -> None:
        """Once per job: the backup runs longer than anyone should wait without being told."""
        job = claim.job
        log.warning("backup %s on %s is overdue", job.backup_id, job.stamp, extra=context(job))
        message = posts.overdue(job, self.policy.backup_timeout)
        try:
            self._post_fenced(claim, message, thread_ts=job.start_ts or None, broadcast=True)
        except PostFailed as exc:
            log.error("could not report backup %s overdue: %s", job.backup_id, exc.error)
        self.store.release(claim)

    def _final_backup(self, client: ArmClient, job: Job, result: lro.PollResult) -> Backup | None:
        """The finished backup: from ``Location`` (the API's ``final-state-via``), else read by id
        (possibly still running: then the job is followed on).

        Raises a retryable :class:`StampError` to try again next poll; a refusal falls back to what the
        operation result said.
        """
        try:
            if (from_location := self._final_from_location(client, job)) is not None:
                return from_location
            if result.backup is not None and result.backup.roles:
                return result.backup
            backup = client.get_backup(job.backup_id, correlation_id=job.correlation_id or None)
        except StampError as exc:
            if exc.retryable:
                raise
            log.warning("could not read the final state of backup %s: %s", job.backup_id, exc, extra=context(job))
            return result.backup
        return backup or result.backup

    @staticmethod
    def _final_from_location(client: ArmClient, job: Job) -> Backup | None:
        """The Backup resource at ``Location``, when the operation was followed elsewhere and it is ours."""
        if not job.location_url or job.location_url == job.poll_url or not client.owns(job.location_url):
            return None
        response = client.poll(job.location_url, correlation_id=job.correlation_id or None)
        return (
            lro.STRATEGIES[lro.LocationPolling.name].interpret(response.status, response.headers, response.body).backup
        )

    def _notify(self, claim: Claim) -> None:
        """Post the outcome once; if Slack refuses, keep the job finished and try again later.

        Exactly once: the attempt is counted in Redis before the post, the post happens only while the
        claim holds (see :meth:`_post_fenced`), and a worker that finds an earlier attempt reads the
        channel for its marker first. README "Guarantees" states the window that remains.
        """
        job = claim.job
        if job.announcement_pending and not self._announce(claim):
            failures = job.poll_failures + 1  # the outcome waits, so it can thread under the announcement
            self.store.retry_report(claim, due_at=time.time() + self._backoff(failures, 2.0), failures=failures)
            return
        attempts = job.post_attempts
        if not self.store.count_post_attempt(claim):
            log.warning("backup %s: claim fenced off before posting; another worker reports it", job.backup_id)
            return
        try:
            ts = self._post_outcome(claim, attempts)
        except PostFailed as exc:
            failures = job.poll_failures + 1
            log.error(
                "could not post the outcome of backup %s (%s); retry %d",
                job.backup_id,
                exc.error,
                failures,
                extra=context(job),
            )
            self.store.retry_report(
                claim, due_at=time.time() + self._post_retry_delay(exc, failures), failures=failures
            )
            return
        if ts is None:
            return
        backup = job.backup
        ended = backup.created.timestamp() if backup and backup.created else job.finished_at
        REPORT_LAG.observe(max(0.0, time.time() - ended))
        if not self.store.mark_notified(claim, ts):
            # Posted under a valid lease, so a new holder finds the marker in the history and posts nothing.
            log.warning("backup %s: claim moved on after the post; the new holder finds it posted", job.backup_id)
            return
        if job.start_ts:
            self.poster.update(job.channel, job.start_ts, posts.announcement_final(job, backup, job.error))

    def _post_outcome(self, claim: Claim, attempts: int) -> str | None:
        """Post the outcome; ``None`` when an earlier attempt had posted it (the job is then closed here)."""
        job = claim.job
        message = (
            posts.completion_unannounced(job, job.backup, job.error, job.announce_attempts)
            if job.announce_given_up
            else posts.completion(job, job.backup, job.error)
        )
        earlier = attempts and self._earlier_post(claim, posts.REPORT_EVENT, job.start_ts or None)
        if earlier:
            log.warning("backup %s: an earlier attempt posted the outcome already (%s)", job.backup_id, earlier)
            self.store.mark_notified(claim, earlier)
            return None
        return self._post_fenced(
            claim, message, broadcast=True, thread_ts=job.start_ts if job.start_ts and job.threaded else None
        )

    def _backoff(self, failures: int, base: float) -> float:
        return backoff(failures, base, self.policy.max_retry_delay, random.random())

    def _post_retry_delay(self, exc: PostFailed, failures: int) -> float:
        """Slack's own ``Retry-After`` when it throttled (it took nothing), else exponential backoff.

        Throttling is shared by every post in the workspace: backing off exponentially on it starved
        outcomes for minutes after the burst was over.
        """
        if exc.retry_after is not None:
            return exc.retry_after + random.random()
        return self._backoff(failures, 2.0)


def _before(moment: float) -> str:
    """A Slack ``oldest`` a minute before ``moment``: clocks differ, and the history check must not miss."""
    return f"{max(0.0, moment - 60):.6f}"
