"""Where a listener's slow part runs once Slack has its ack: per-stamp lanes that yield to acks.

Acks have 3 s; the answers after them go through ``response_url``, which has 30 minutes. So the
work waits (at most ``max_wait``) while the web process is still acking requests, and runs on few
threads, leaving the CPU to the acks (bench/: p99 ack was 7-11x a bare Bolt app when the work ran
on Bolt's listener threads).

Each stamp gets its own lanes (``threads`` workers and a bounded queue each: one for reads, one for the
snapshot reads answered after the ack, one for operator work, so a Start click never waits behind reads), so a slow
stamp or a
throttled Slack call delays only the work queued behind it; a full lane refuses at once, but the
refusal ("busy, try again") is sent like any work, once the acks in flight are done: under a burst
of requests about one stamp, refusals sent at once took the CPU from the acks (bench/: p99 ack
2.2-3.1x the bare app's at 16-64 senders). With an :class:`~bot.state.inbox.Inbox` attached, the pool
also keeps the leases of the work it holds and finishes the work of processes that died, and counts
each user's commands and clicks against ``per_user_per_minute`` (:class:`~bot.commands.access.UserCommandLimit`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from bot.commands.access import UserCommandLimit
from bot.config.limits import ACK_PRIORITY_MAX_WAIT, INBOX_RECOVERY_SECONDS
from bot.config.settings import Settings
from bot.ops import outage
from bot.state.inbox import Inbox, WorkItem

log = logging.getLogger(__name__)


@dataclass
class _Lane:
    executor: ThreadPoolExecutor
    pending: int = 0
    """Queued or running work items."""


@dataclass
class _Durability:
    inbox: Inbox
    recover: Callable[[WorkItem], None]
    held: set[str] = field(default_factory=set)
    unfinished: set[str] = field(default_factory=set)
    """Answered, but Redis failed to forget them: kept (and renewed) until it does, or they would run again."""


class AfterAckPool:
    def __init__(
        self,
        threads: int = 1,
        max_wait: float = ACK_PRIORITY_MAX_WAIT,
        queue_limit: int = Settings.lane_queue,
        per_user_per_minute: int | None = None,
    ) -> None:
        self._threads = threads
        self.user_limit = UserCommandLimit(per_user_per_minute) if per_user_per_minute else None
        self._queue_limit = queue_limit
        self._max_wait = max_wait
        self._in_flight = 0
        self._idle = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()
        self._durable: _Durability | None = None
        self._stopped = threading.Event()
        self._refusals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="after-ack-refusals")
        """Unbounded: a refusal is one short reply, and no more of them queue than requests were acked."""

    @contextmanager
    def request(self) -> Iterator[None]:
        """Wrap the handling of one incoming request (the web entry point does)."""
        with self._idle:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.notify_all()

    def submit(
        self,
        work: Callable[[], object],
        lane: str = "",
        *,
        if_full: Callable[[], object] | None = None,
    ) -> bool:
        """Queue ``work`` in ``lane`` (a stamp name, or "" for the rest); ``False`` if that lane is full.

        ``if_full`` (the refusal) then runs instead, on its own thread, once the acks in flight are done.
        """
        with self._lock:
            found = self._lanes.get(lane.lower())
            if found is None:
                executor = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix=f"after-ack-{lane}")
                found = self._lanes[lane.lower()] = _Lane(executor)
            full = found.pending >= self._threads + self._queue_limit
            if not full:
                found.pending += 1
        if full:
            if if_full is not None:
                self.after_acks(if_full)
            return False
        found.executor.submit(self._run, found, work)
        return True

    def after_acks(self, work: Callable[[], object]) -> None:
        """Run a short ``work`` (a refusal, its audit entry) on its own thread, once the acks in flight are done."""
        self._refusals.submit(self._after_acks, work)

    def _run(self, lane: _Lane, work: Callable[[], object]) -> None:
        try:
            self._after_acks(work)
        finally:
            with self._lock:
                lane.pending -= 1

    def _after_acks(self, work: Callable[[], object]) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=self._max_wait)
        work()

    # --- durability -------------------------------------------------------------------------------

    @property
    def inbox(self) -> Inbox | None:
        return self._durable.inbox if self._durable else None

    def make_durable(self, inbox: Inbox, recover: Callable[[WorkItem], None]) -> None:
        """Keep held items' leases and take over dead processes' items (``recover`` runs each), every 2 s."""
        if self._durable is not None:
            return
        self._durable = _Durability(inbox, recover)
        threading.Thread(target=self._keep_and_recover, name="after-ack-recovery", daemon=True).start()

    def stop_recovering(self) -> None:
        """Stop renewing leases and taking over work (what is held lapses to another process)."""
        self._stopped.set()

    def admit(self, item: WorkItem, *, operator: bool = False) -> bool:
        """Before the ack: count ``item`` against its user's limit (``operator`` work has its own count) and
        put it in Redis, in one round trip.

        ``False`` (nothing recorded) when the user is over the limit. While Redis does not answer, or this
        process knows it is down, the limit is counted here and the work runs unrecorded.
        """
        limit = self.user_limit
        if self._durable is not None and not outage.REDIS.down:
            try:
                counter = limit.counter(item.user, operator=operator) if limit else None
                admitted = self._durable.inbox.admit(item, counter)
            except redis.RedisError as exc:
                outage.REDIS.failed(exc)
                log.warning(
                    "could not record %s %s before the ack (%s); it runs unrecorded",
                    item.kind,
                    item.item_id,
                    type(exc).__name__,
                )
            else:
                if admitted:
                    self.hold(item.item_id)
                return admitted
        return limit is None or limit.allow_here(item.user, operator=operator)

    def hold(self, item_id: str) -> None:
        if self._durable is not None:
            with self._lock:
                self._durable.held.add(item_id)

    def still_mine(self, item_id: str) -> bool:
        """Before acting on an item: ``False`` if another process took it over (this one was frozen)."""
        if self._durable is None:
            return True
        with self._lock:
            if item_id not in self._durable.held:
                return True  # never recorded (Redis was down at the ack)
        try:
            return self._durable.inbox.mine(item_id)
        except redis.RedisError:
            return True  # the work itself will answer that Redis is down

    def done(self, item_id: str) -> None:
        """The reply went out: forget the item (in Redis too)."""
        if self._durable is None:
            return
        with self._lock:
            recorded = item_id in self._durable.held
            self._durable.held.discard(item_id)
        if recorded:
            try:
                self._durable.inbox.finish(item_id)
            except redis.RedisError as exc:
                log.warning(
                    "could not clear finished item %s (%s); trying again until Redis answers",
                    item_id,
                    type(exc).__name__,
                )
                with self._lock:
                    self._durable.unfinished.add(item_id)

    def _keep_and_recover(self) -> None:
        assert self._durable is not None
        durable = self._durable
        while not self._stopped.wait(INBOX_RECOVERY_SECONDS):
            try:
                with self._lock:
                    held, unfinished = sorted(durable.held | durable.unfinished), sorted(durable.unfinished)
                durable.inbox.renew(held)
                for item_id in unfinished:
                    durable.inbox.finish(item_id)
                    with self._lock:
                        durable.unfinished.discard(item_id)
                orphans = durable.inbox.take_orphans()
                outage.REDIS.ok()
            except redis.RedisError as exc:
                outage.REDIS.failed(exc)
                continue
            for item in orphans:
                log.warning(
                    "taking over %s %s from a process that stopped (received %.0fs ago)",
                    item.kind,
                    item.item_id,
                    max(0.0, time.time() - item.received_at),
                )
                self.hold(item.item_id)
                try:
                    durable.recover(item)
                except Exception:
                    log.exception("could not take over item %s", item.item_id)
