"""A start that never recorded the stamp's answer: adopt the backup it began, or tell the requester it did not start.

The web writes a job before ``createBackup`` and makes it due for reconciliation a grace period later
(``AZS_START_GRACE_SECONDS``). If the job is still ``starting`` then, the web process died or the stamp's
answer did not say whether it started anything: the stamp's list of backups settles it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping

from bot.model.backup import Backup, is_backup_id
from bot.slack.delivery import ABANDONED, Delivery
from bot.stamp import lro
from bot.stamp.arm import ArmClient
from bot.stamp.errors import StampError
from bot.state.job import Claim, Job
from bot.state.jobs import JobStore
from bot.words import posts
from bot.worker.follow import Follower
from bot.worker.next_step import Failed, Finish, decide

log = logging.getLogger(__name__)

NO_RECORD = "the stamp has no record of it (the request never reached it, or it was refused)."


class Reconciler:
    """Settles ``starting`` jobs that are due, and posts the notice for those that did not start."""

    def __init__(
        self,
        store: JobStore,
        clients: Mapping[str, ArmClient],
        delivery: Delivery,
        follower: Follower,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.clients, self.delivery, self.follower = store, clients, delivery, follower
        self.policy = follower.policy
        self.clock = clock

    def reconcile(self, claim: Claim) -> None:
        """Adopt the backup this start began (the next turn announces and follows it), or give the start up."""
        job = claim.job
        client = self.clients.get(job.stamp)
        if client is None:
            self.store.reschedule(claim, due_at=self.clock() + self.policy.max_retry_delay)
            return
        try:
            adoptable = self._adoptable(client, job)
        except StampError as exc:
            self._list_failed(claim, exc)
            return
        if not adoptable:
            log.warning("job %s: start never confirmed and no new backup on %s; giving up", job.job_id, job.stamp)
            if self.store.give_up(claim, NO_RECORD):
                self.report_abandoned(claim)
            return
        backup = adoptable[0]  # newest first
        log.warning("job %s: adopting backup %s found running on %s", job.job_id, backup.backup_id, job.stamp)
        # A listed backup has no operation URL: it is followed by id. Due at once: the next turn announces
        # it (fenced and retried like an outcome), then polls it.
        self.store.adopt(claim, backup_id=backup.backup_id, due_at=self.clock(), follow_with=lro.BY_ID)

    def _adoptable(self, client: ArmClient, job: Job) -> list[Backup]:
        """Backups on the stamp that this start may have begun: new since the click, or still running,
        and not another job's; newest first."""
        backups = [b for b in client.list_backups() if is_backup_id(b.backup_id)]  # ids go into ARM URLs
        fresh = [
            b
            for b in backups
            if (b.created is not None and b.created.timestamp() >= job.requested_at) or not b.is_terminal
        ]
        if not fresh:
            return []
        known = self.store.known_backup_ids(job.stamp)  # read once, not once per backup
        return [b for b in fresh if b.backup_id not in known]

    def _list_failed(self, claim: Claim, exc: StampError) -> None:
        """The stamp could not list its backups: try again with the poll's backoff; refused too often, report it."""
        step = decide(claim.job, Failed.of(exc), self.clock(), self.policy, random.random())
        if isinstance(step, Finish):
            self.follower.finish(claim, step)
            return
        log.warning(
            "job %s: cannot list the backups on %s to settle its start (%s); retry %d",
            claim.job.job_id,
            claim.job.stamp,
            exc,
            step.poll_failures,
        )
        self.store.reschedule(claim, due_at=step.due_at, poll_failures=step.poll_failures)

    def report_abandoned(self, claim: Claim) -> None:
        """Tell the requester a start that never began is over: once, fenced, retried until Slack takes it."""
        self.delivery.deliver(claim, ABANDONED, posts.start_abandoned_notice(claim.job, claim.job.error))
