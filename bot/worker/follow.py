"""Following one claimed backup: poll it once with its strategy, decide, apply; report its outcome once.

The strategy (:mod:`bot.stamp.lro`) says what to GET and how to read it, :func:`bot.worker.next_step.decide`
says when to poll next, the job store records it, and every message that must reach the channel once
(the announcement a start could not post, the outcome, the overdue notice) goes through
:class:`bot.slack.delivery.Delivery`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping

from bot.config.settings import Settings
from bot.model.backoff import backoff
from bot.model.backup import Backup
from bot.ops.metrics import POLLS, REPORT_LAG, record_outcome
from bot.slack.client import SlackPoster
from bot.slack.delivery import ANNOUNCEMENT, OUTCOME, OVERDUE, Delivered, Delivery
from bot.stamp import lro
from bot.stamp.arm import ArmClient, ArmResponse
from bot.stamp.errors import StampError, retry_after_seconds
from bot.state.job import Claim, Job, JobState
from bot.state.jobs import JobStore
from bot.words import posts
from bot.worker.next_step import Failed, Finish, Policy, Polled, Reschedule, decide, is_overdue
from bot.worker.refresh import Refresher

log = logging.getLogger(__name__)

FALLING_BACK = "its operation URL is gone, redirected or not on the configured endpoint: following it by its fallback"
WAITING_BACKOFF_BASE = 2.0
"""Seconds before an outcome that waits for its announcement is tried again (then doubling)."""


class Follower:
    """What a claimed job the stamp runs (or ran) needs: a poll, or its outcome in the channel."""

    def __init__(
        self,
        store: JobStore,
        clients: Mapping[str, ArmClient],
        poster: SlackPoster,
        delivery: Delivery,
        settings: Settings,
        *,
        refresher: Refresher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.clients, self.poster, self.delivery = store, clients, poster, delivery
        self.refresher = refresher
        self.policy = Policy.from_settings(settings)
        self.lease_seconds = settings.lease_seconds
        self.progress_interval = settings.progress_interval
        self.clock = clock

    # --- a running job ----------------------------------------------------------------------------

    def poll(self, claim: Claim) -> None:
        """Poll once with the strategy that can, decide, apply. An announcement the start could not post is
        tried first; refused, the poll goes on and the next turn tries again."""
        self._announce(claim)
        job = claim.job
        client = self.clients.get(job.stamp)
        if client is None:
            log.error("job %s is for unknown stamp %r; keeping it for a worker that knows it", job.job_id, job.stamp)
            self.store.reschedule(claim, due_at=self.clock() + self.policy.max_retry_delay)
            return
        strategy = lro.select(job)
        outcome = self._poll_once(client, job, strategy)
        step = decide(job, outcome, self.clock(), self.policy, random.random())
        if isinstance(step, Finish):
            self.finish(claim, step)
            return
        follow_with = strategy.fallback if step.fall_back else None
        self.reschedule(claim, step, progress_at=self._after_poll(claim, outcome, step), follow_with=follow_with)

    def _poll_once(self, client: ArmClient, job: Job, strategy: lro.PollingStrategy) -> Polled | Failed:
        """One GET the strategy asks for, read by it (and, once the operation is over, the final backup)."""
        try:
            response = self._get(client, job, strategy.next_get(job))
            retry_after = retry_after_seconds(response.headers) if strategy.obeys_retry_after else None
            result = strategy.interpret(response.status, response.headers, response.body)
            final = self._final_backup(client, job, strategy, result) if result.done else None
        except StampError as exc:
            POLLS.labels(strategy=strategy.name, result="error").inc()
            return Failed.of(exc, falls_back=strategy.falls_back_on(exc.status, exc.code))
        POLLS.labels(strategy=strategy.name, result="done" if result.done else "running").inc()
        return Polled(result, retry_after, final)

    @staticmethod
    def _get(client: ArmClient, job: Job, target: lro.Target) -> ArmResponse:
        """The request a strategy named, built by the stamp client (never a URL sent as a stamp wrote it)."""
        correlation_id = job.correlation_id or None
        if isinstance(target, lro.Operation):
            return client.poll(target.url, correlation_id=correlation_id, accept=target.answers)
        return client.read_backup(target.backup_id, correlation_id=correlation_id, accept=target.answers)

    def _final_backup(
        self, client: ArmClient, job: Job, strategy: lro.PollingStrategy, result: lro.PollResult
    ) -> Backup | None:
        """The finished backup, read where the strategy says (the first that has one), else what the operation said.

        Raises a retryable :class:`StampError` to try again next poll; a refusal falls back to what the
        operation result said.
        """
        try:
            for target in strategy.final_reads(job, result, client.owns):
                response = self._get(client, job, target)
                if (backup := lro.final_backup(target, response.status, response.body)) is not None:
                    return backup
        except StampError as exc:
            if exc.retryable:
                raise
            log.warning("could not read the final state of backup %s: %s", job.backup_id, exc, extra=job.log_fields())
        return result.backup

    def _after_poll(self, claim: Claim, outcome: Polled | Failed, step: Reschedule) -> float | None:
        """Log a failed poll, or show progress after one that answered (its new ``progress_at``)."""
        if isinstance(outcome, Failed):
            log.warning(
                "polling backup %s failed (%s); %s",
                claim.job.backup_id,
                outcome.message,
                FALLING_BACK if step.fall_back else f"retry {step.poll_failures}",
                extra=claim.job.log_fields(),
            )
            return None
        return self._show_progress(claim, self.clock())

    def _show_progress(self, claim: Claim, now: float) -> float:
        """Edit the announcement with the elapsed time, at most once per progress interval."""
        job = claim.job
        if not job.start_ts or now - max(job.progress_at, job.started_at) < self.progress_interval:
            return job.progress_at
        if not self.poster.progress_allowed():
            return job.progress_at  # over this minute's share of Slack's chat.update limit; next poll
        self.poster.update(job.channel, job.start_ts, posts.progress(job, now))
        return now

    def reschedule(
        self, claim: Claim, step: Reschedule, *, progress_at: float | None = None, follow_with: str | None = None
    ) -> None:
        """Record when to poll next; then the one overdue notice, if the decision says it is owed."""
        if (
            self.store.reschedule(
                claim,
                due_at=step.due_at,
                poll_failures=step.poll_failures,
                progress_at=progress_at,
                follow_with=follow_with,
                keep_lease=step.overdue,
            )
            and step.overdue
        ):
            self.report_overdue(claim)

    # --- notices and the outcome ------------------------------------------------------------------

    def report_overdue(self, claim: Claim) -> None:
        """Once per job: the backup runs longer than anyone should wait without being told. Refused, the job's
        next poll tries again (the notice stays owed until it is in the channel)."""
        job = claim.job
        log.warning("backup %s on %s is overdue", job.backup_id, job.stamp, extra=job.log_fields())
        self.delivery.deliver(claim, OVERDUE, posts.overdue(job, self.policy.backup_timeout))
        self.store.release(claim)

    def overdue_without_poll(self, job_id: str) -> None:
        """The overdue notice for a job that is not due (housekeeping), unless a worker is polling it now."""
        claim = self.store.claim(job_id, ttl=self.lease_seconds)
        if claim is None:
            return  # being polled right now: that poll posts it
        if claim.job.state == JobState.RUNNING and is_overdue(claim.job, self.clock(), self.policy):
            self.report_overdue(claim)
        else:
            self.store.release(claim)

    def finish(self, claim: Claim, step: Finish) -> None:
        """The backup ended (or was given up on): record it, then report it now."""
        job = claim.job
        outcome = step.backup.status if step.backup else step.error
        log.info("backup %s on %s ended: %s", job.backup_id, job.stamp, outcome, extra=job.log_fields())
        if self.store.finish(claim, at=step.at, result=step.backup, error=step.error):
            record_outcome(job.stamp, step.backup, job.started_at, step.at)
            if self.refresher is not None:
                self.refresher.backup_ended(job.stamp, step.backup)
            self.report(claim)

    def _announce(self, claim: Claim) -> bool:
        """Post the start announcement if it is still owed (the start could not post it); ``False`` while it is."""
        job = claim.job
        return not job.announcement_pending or self.delivery.deliver(claim, ANNOUNCEMENT, posts.started(job)).settled

    def report(self, claim: Claim) -> None:
        """Post the outcome once, after the announcement (so it threads under it), then edit the announcement.

        Slack refusing keeps the job finished and due again (docs/guarantees.md states the window that remains).
        """
        job = claim.job
        if not self._announce(claim):
            failures = job.poll_failures + 1  # the outcome waits, so it can thread under the announcement
            delay = backoff(failures, WAITING_BACKOFF_BASE, self.policy.max_retry_delay, random.random())
            self.store.retry_report(claim, due_at=self.clock() + delay, failures=failures)
            return
        backup = job.backup
        # When the announcement was given up, the outcome stands alone and says so.
        note = posts.unannounced_note(job.announce_attempts) if job.announce_given_up else ""
        message, final_edit = posts.outcome(job, backup, job.error, note)
        if self.delivery.deliver(claim, OUTCOME, message) is not Delivered.POSTED:
            return
        ended = backup.created.timestamp() if backup and backup.created else job.finished_at
        REPORT_LAG.observe(max(0.0, self.clock() - ended))
        if job.start_ts:
            self.poster.update(job.channel, job.start_ts, final_edit)
