"""The worker's cycle: every running backup followed, each outcome reported exactly once.

Each cycle takes the due job ids from Redis and hands each one not already in flight to a pool; a pool
thread claims it with an expiring lease and does what its state needs (:meth:`Loop.process`): poll it
(:mod:`bot.worker.follow`), report its outcome, or settle a start (:mod:`bot.worker.reconcile`). No job
sleeps in the worker; a stalled or killed worker's jobs are picked up by another once its lease passes,
and fencing stops the stalled one from writing or posting afterwards. Every few seconds the loop also
keeps house (:meth:`Loop.check_running_jobs`), and a thread checks watched stamps.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

import redis

from bot.config.settings import Settings
from bot.model.backoff import backoff
from bot.ops import outage
from bot.ops.metrics import record_jobs, record_problems
from bot.ops.probes import Heartbeat
from bot.slack.client import Fenced
from bot.state.health import COMPONENTS, Health
from bot.state.job import Claim, Job, JobState
from bot.state.jobs import JobStore
from bot.worker.follow import Follower
from bot.worker.next_step import is_overdue
from bot.worker.reconcile import Reconciler
from bot.worker.refresh import Refresher
from bot.worker.watch import Watcher

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 5.0
"""How often (real seconds) the loop looks at every running job and at Redis's epoch: a fixed protocol limit."""
REDIS_BACKOFF_CEILING = 5.0
"""The longest the loop waits between tries while Redis does not answer: a fixed protocol limit."""


class Loop:
    """Polls due jobs with bounded concurrency; :meth:`run` loops until ``stop`` is set.

    A cycle hands each due job that is not already being handled to the pool and returns, so a slow
    stamp holds up only its own jobs. ``clock`` is the worker's one clock (due times, elapsed time);
    the loop's own cadence uses the monotonic clock, so a clock that jumps cannot stall housekeeping.
    """

    def __init__(
        self,
        store: JobStore,
        follower: Follower,
        reconciler: Reconciler,
        settings: Settings,
        *,
        health: Health | None = None,
        watcher: Watcher | None = None,
        refresher: Refresher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.follower, self.reconciler = store, follower, reconciler
        self.refresher = refresher
        self.policy = follower.policy
        self.lease_seconds = settings.lease_seconds
        self.health, self.watcher, self.clock = health, watcher, clock
        self.tick = min(0.5, settings.poll_interval)
        self.heartbeat: Heartbeat | None = None
        """Beaten once per loop turn, so ``/healthz`` can tell a stalled worker (see :mod:`bot.ops.probes`)."""
        self._handlers: dict[JobState, Callable[[Claim], None]] = {
            JobState.RUNNING: follower.poll,
            JobState.FINISHED: follower.report,
            JobState.STARTING: reconciler.reconcile,
            JobState.START_FAILED: reconciler.report_abandoned,
        }
        self._pool = ThreadPoolExecutor(max_workers=settings.poll_concurrency, thread_name_prefix="poll")
        self._in_flight: dict[str, Future[None]] = {}
        self._in_flight_lock = threading.RLock()
        """Re-entrant: a job that is done before its callback is attached lands on the submitting thread."""

    def run(self, stop: threading.Event) -> None:
        if self.watcher is not None:
            threading.Thread(
                target=self._every_second, args=(stop, self.watcher.run_due), name="watch", daemon=True
            ).start()
        if self.refresher is not None:
            refresh = self.refresher.run_due
            threading.Thread(target=self._every_second, args=(stop, refresh), name="refresh", daemon=True).start()
        failures, house_kept = 0, 0.0
        while not stop.is_set():
            if self.heartbeat is not None:
                self.heartbeat.beat()
            try:
                if time.monotonic() - house_kept > HOUSEKEEPING_SECONDS:
                    house_kept = time.monotonic()
                    self._housekeeping()
                self.run_once()
                failures = 0
                outage.REDIS.ok()
                stop.wait(self.tick)
            except redis.RedisError as exc:
                failures += 1
                outage.REDIS.failed(exc)
                ceiling = self.policy.max_retry_delay
                stop.wait(min(REDIS_BACKOFF_CEILING, backoff(failures, 0.5, ceiling, random.random())))
            except Exception:
                log.exception("unexpected failure in the poll loop; carrying on")
                stop.wait(1.0)
        self._pool.shutdown(wait=True)
        log.info("poller stopped")

    def _housekeeping(self) -> None:
        """Every few seconds, not per job: notice an emptied Redis, refresh the in-flight gauge, and
        look at every running job whether or not it is due (see :meth:`check_running_jobs`)."""
        if self.health is not None:
            record_problems(self.health.problems(), COMPONENTS)  # problems() checks the epoch too
        jobs = self.store.active_jobs()
        record_jobs(jobs)
        self.check_running_jobs(jobs)

    def check_running_jobs(self, jobs: list[Job] | None = None) -> None:
        """Overdue detection that does not wait for a poll, and a ceiling on how far off a poll may be.

        A job parked far in the future (a huge ``Retry-After`` from an older worker, or the first poll
        after ``createBackup``) is brought back to at most ``max_retry_after`` from now; a running job
        past ``backup_timeout`` gets its overdue notice here, even if it is not due (a refused notice is
        tried again by the job's next poll, not every few seconds).
        """
        now, ceiling = self.clock(), self.policy.max_retry_after
        for job in self.store.active_jobs() if jobs is None else jobs:
            if job.state != JobState.RUNNING:
                continue
            due_at = self.store.due_at(job.job_id)
            if due_at is not None and due_at > now + ceiling:
                self.store.bring_forward(job.job_id, now + ceiling)
            if is_overdue(job, now, self.policy) and not job.overdue_attempts:
                self.follower.overdue_without_poll(job.job_id)

    @staticmethod
    def _every_second(stop: threading.Event, turn: Callable[[], object]) -> None:
        """The watcher and the snapshot refresher, each on its own thread: a slow stamp must not delay anyone's
        outcome, and a slow survey must not delay a watch notice."""
        while not stop.is_set():
            try:
                turn()
            except redis.RedisError:
                pass  # the poll loop logs the outage once
            except Exception:
                log.exception("%s failed; trying again next turn", threading.current_thread().name)
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
        """Wait for the jobs in flight (tests and benchmarks step the loop one whole cycle at a time)."""
        with self._in_flight_lock:
            futures = list(self._in_flight.values())
        wait(futures, timeout=timeout)

    def close(self) -> None:
        """Stop the pool once the jobs in flight are done (``run`` does this itself when it stops)."""
        self._pool.shutdown(wait=True)

    def _landing(self, job_id: str) -> Callable[[Future[None]], None]:
        """A done-callback that takes ``job_id`` off the in-flight list, so the next cycle may submit it."""

        def landed(_future: Future[None]) -> None:
            with self._in_flight_lock:
                self._in_flight.pop(job_id, None)

        return landed

    def process(self, job_id: str) -> None:
        """Claim one job and do what its state needs; never raises (a failure only delays the job)."""
        try:
            claim = self.store.claim(job_id, ttl=self.lease_seconds)
            if claim is None:
                return
            handler = self._handlers.get(claim.job.state)
            if handler is None:
                self.store.close(claim)  # notified: nothing applies any more
            else:
                handler(claim)
        except Fenced:
            log.warning("job %s: claim lost before a post (lease ran out); its new holder carries on", job_id)
        except redis.RedisError as exc:
            log.warning("redis failed while processing job %s (%s); it stays due", job_id, type(exc).__name__)
        except Exception:
            log.exception("unexpected failure while processing job %s; it stays due", job_id)
