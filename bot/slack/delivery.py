"""Posting a message exactly once per job: the one protocol, for the web's start and for the worker.

Four messages must reach the channel once and only once, across kills, freezes and throttling: the start
announcement, the outcome, the notice that a start was abandoned, and the overdue notice. Each goes
through :meth:`Delivery.deliver`, one sequence (docs/guarantees.md argues why it cannot double a post):

1. count the attempt in the job (a fenced write, before anything is sent);
2. if an earlier attempt was counted, look for its post in the channel by its metadata marker (only
   the bot's own posts count) and, if it is there, record that one instead of posting;
3. post while the claim holds (a :class:`bot.state.lease.LeaseKeeper` renews it and guards each attempt;
   429s are waited out within a budget);
4. record the post (a fenced write).

What differs between the four is data, a :class:`Kind`: which counter, which marker, where it is
threaded, what recording sets, and what a refusal does.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import redis

from bot.config.settings import Settings
from bot.model.backoff import backoff
from bot.slack.client import Fenced, PostFailed, SlackPoster
from bot.state.job import Claim, Job
from bot.state.jobs import JobStore
from bot.words import posts
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)

REFUSED_BACKOFF_BASE = 2.0
"""Seconds before the first retry of a refused report when Slack named no ``Retry-After`` (then doubling)."""


def _since_request(job: Job) -> str:
    """A Slack ``oldest`` a minute before the request: clocks differ, and the history check must not miss."""
    return f"{max(0.0, job.requested_at - 60):.6f}"


def _no_thread(_job: Job) -> str | None:
    return None


@dataclass(frozen=True)
class Kind:
    """What differs between the messages the bot posts exactly once; the sequence is :meth:`Delivery.deliver`."""

    what: str
    """For log lines: "outcome", "start announcement", ..."""
    marker: str
    """The metadata ``event_type`` its post carries, so a later attempt can find it in the channel."""
    attempts: Callable[[Job], int]
    count: Callable[[JobStore, Claim], bool]
    """The fenced write that counts an attempt before it is made."""
    record: Callable[[JobStore, Claim, str], bool]
    """The fenced write that records the post's ``ts``."""
    since: Callable[[Job], str | None]
    """Where the history check starts (Slack's ``oldest``)."""
    thread: Callable[[Job], str | None] = _no_thread
    broadcast: bool = False
    """A threaded reply also shown in the channel (and so in its history, where a retry looks)."""
    retry_later: bool = False
    """Refused: the job is due again after Slack's ``Retry-After`` (else a backoff) and the turn ends. Otherwise
    nothing is written: the caller goes on with its claim, and the job's next turn tries again."""
    give_up: Callable[[JobStore, Claim], bool] | None = None
    """After :attr:`Delivery.give_up_after` refusals, this write gives up on it (only the announcement does)."""


ANNOUNCEMENT = Kind(
    what="start announcement",
    marker=posts.ANNOUNCE_EVENT,
    attempts=lambda job: job.announce_attempts,
    count=JobStore.count_announce_attempt,
    record=JobStore.record_announcement,
    since=_since_request,
    give_up=JobStore.give_up_announcement,
)
OUTCOME = Kind(
    what="outcome",
    marker=posts.REPORT_EVENT,
    attempts=lambda job: job.post_attempts,
    count=JobStore.count_post_attempt,
    record=JobStore.mark_notified,
    since=lambda job: job.start_ts or None,
    thread=lambda job: job.start_ts if job.start_ts and job.threaded else None,
    broadcast=True,
    retry_later=True,
)
ABANDONED = Kind(
    what="abandoned-start notice",
    marker=posts.REPORT_EVENT,
    attempts=lambda job: job.post_attempts,
    count=JobStore.count_post_attempt,
    record=JobStore.mark_notified,
    since=_since_request,
    retry_later=True,
)
OVERDUE = Kind(
    what="overdue notice",
    marker=posts.OVERDUE_EVENT,
    attempts=lambda job: job.overdue_attempts,
    count=JobStore.count_overdue_attempt,
    record=JobStore.record_overdue,
    since=_since_request,
    thread=lambda job: job.start_ts or None,
    broadcast=True,
)


class Delivered(Enum):
    POSTED = "posted and recorded"
    FOUND = "an earlier attempt's post was found and recorded"
    GIVEN_UP = "given up after too many refusals"
    REFUSED = "Slack refused it, or its history could not be read"
    UNRECORDED = "posted, but the claim moved on before the record"

    @property
    def settled(self) -> bool:
        """Nothing more to do for this message in this turn."""
        return self in (Delivered.POSTED, Delivered.FOUND, Delivered.GIVEN_UP)


class Delivery:
    """The exactly-once posting protocol; one per process, shared by its threads.

    ``lease_seconds`` is how long a claim lasts (the worker's lease, or the web's short one);
    ``budget`` bounds how long one post waits out 429s (default: the poster's, never over a third of
    the lease). ``clock`` is the process's one clock, for when a refused report is due again.
    """

    def __init__(
        self,
        store: JobStore,
        poster: SlackPoster,
        *,
        lease_seconds: float,
        budget: float | None = None,
        clock: Callable[[], float] = time.time,
        max_retry_delay: float = Settings.max_retry_delay,
        give_up_after: int = Settings.max_announce_attempts,
    ) -> None:
        self.store, self.poster, self.clock = store, poster, clock
        self.lease_seconds = lease_seconds
        self.budget = min(poster.retry_seconds, lease_seconds / 3) if budget is None else budget
        self.max_retry_delay = max_retry_delay
        self.give_up_after = give_up_after

    def deliver(self, claim: Claim, kind: Kind, message: Message) -> Delivered:
        """Post ``message`` for the claimed job once: count, look for an earlier post, post, record.

        Raises :class:`Fenced` when the claim was lost before a post (a newer holder carries on).
        """
        job = claim.job
        attempts = kind.attempts(job)
        if kind.give_up is not None and attempts >= self.give_up_after:
            log.error(
                "backup %s: giving up on its %s after %d refusals",
                job.backup_id,
                kind.what,
                attempts,
                extra=job.log_fields(),
            )
            if not kind.give_up(self.store, claim):
                raise Fenced(job.job_id)
            return Delivered.GIVEN_UP
        if not kind.count(self.store, claim):
            raise Fenced(job.job_id)
        try:
            earlier = self._earlier_post(job, kind) if attempts else None
            if earlier is not None:
                log.warning(
                    "backup %s: an earlier attempt posted the %s already (%s)", job.backup_id, kind.what, earlier
                )
                kind.record(self.store, claim, earlier)
                return Delivered.FOUND
            ts = self._post(claim, kind, message)
        except PostFailed as exc:
            self._refused(claim, kind, exc, attempts + 1)
            return Delivered.REFUSED
        if not kind.record(self.store, claim, ts):
            # Posted under a valid lease, so a new holder finds the marker in the history and posts nothing.
            log.warning(
                "backup %s: claim moved on after its %s was posted; the new holder finds it", job.backup_id, kind.what
            )
            return Delivered.UNRECORDED
        return Delivered.POSTED

    def try_once(self, job_id: str, kind: Kind, message: Message) -> Delivered | None:
        """Claim a job nobody holds just for ``message``, deliver it, let go (the web's announcement after a
        start). Never raises; ``None`` when a worker holds the job (it posts the message itself)."""
        try:
            claim = self.store.claim(job_id, ttl=self.lease_seconds)
        except redis.RedisError:
            return None  # unclaimed: a worker posts it
        if claim is None:
            return None
        try:
            return self.deliver(claim, kind, message)
        except Fenced:
            log.error("job %s: lost its claim before posting its %s; a worker posts it", job_id, kind.what)
        except redis.RedisError as exc:
            # A counted attempt makes the worker's retry look in the channel first.
            log.error(
                "job %s: Redis failed around its %s (%s); a worker finishes it", job_id, kind.what, type(exc).__name__
            )
        finally:
            with contextlib.suppress(redis.RedisError):
                self.store.release(claim)
        return None

    def _earlier_post(self, job: Job, kind: Kind) -> str | None:
        """The ``ts`` of this kind's post by an earlier attempt; :class:`PostFailed` if the channel cannot be read now
        (posting blind could double it)."""
        return self.poster.find_marked(job.channel, kind.marker, "job_id", job.job_id, oldest=kind.since(job))

    def _post(self, claim: Claim, kind: Kind, message: Message) -> str:
        """Post only while ``claim`` holds the job: the lease is renewed during the post and checked before
        each attempt, and 429s are waited out for :attr:`budget` at most. Raises :class:`Fenced`."""
        job = claim.job
        with self.store.holding(claim, ttl=self.lease_seconds) as keeper:
            return self.poster.post(
                job.channel,
                message,
                user=job.requester,
                thread_ts=kind.thread(job),
                broadcast=kind.broadcast,
                guard=keeper.guard,
                budget=self.budget,
            )

    def _refused(self, claim: Claim, kind: Kind, exc: PostFailed, attempt: int) -> None:
        job = claim.job
        log.error(
            "could not post the %s of job %s (%s); attempt %d",
            kind.what,
            job.job_id,
            exc.error,
            attempt,
            extra=job.log_fields(),
        )
        if kind.retry_later:
            failures = job.poll_failures + 1
            self.store.retry_report(claim, due_at=self.clock() + self.retry_delay(exc, failures), failures=failures)

    def retry_delay(self, exc: PostFailed, failures: int) -> float:
        """Slack's own ``Retry-After`` when it throttled (it took nothing), else exponential backoff.

        Throttling is shared by every post in the workspace: backing off exponentially on it starved
        outcomes for minutes after the burst was over.
        """
        if exc.retry_after is not None:
            return exc.retry_after + random.random()
        return backoff(failures, REFUSED_BACKOFF_BASE, self.max_retry_delay, random.random())
