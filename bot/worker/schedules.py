"""Scheduled deliveries in the worker: each channel's digest (and monthly report) exactly once per period.

Every :data:`~bot.config.limits.SCHEDULE_CHECK_SECONDS` each worker reads every channel's schedule (one Redis
call) and works out, in the channel's time zone, the current period of each delivery and whether it is owed
(:func:`bot.model.schedule.current_period`). An owed period is delivered with the delivery protocol's steps on a
period claim (:mod:`bot.state.schedules`): claim, count, look for an earlier post by its marker, post under the
lease, record. So across replicas, restarts, kills and freezes a channel gets one digest per period: a second
worker finds the period claimed or recorded; a worker killed after Slack took the post leaves a counted attempt,
and the next claimant finds the post in the channel's history and records it instead of posting again.

The digest reads only Redis (the snapshot, the history, the capacity samples that the worker's refresher keeps),
never the stamp. The monthly report is built and uploaded by a :class:`MonthlyReporter`
(:meth:`bot.commands.report.Reporter.scheduled`, given by ``bot/app.py``). An upload carries no metadata, so its
comment carries the period's name as a tag (``report:monthly:2026-11``), and a retry after a counted attempt looks
for a file share with that tag (:meth:`SlackPoster.find_upload`) instead of uploading again. A report waits until
its month has ended in UTC too (the report's months are UTC): a channel east of UTC gets it later on the 1st.

A refusal that waiting will not change (:data:`~bot.slack.client.PERMANENT_ERRORS`: not in the channel, a missing
scope ...) settles the period as failed, logged once; any other failure backs the period off (no claim before its
``next_try``, doubling from :data:`SCHEDULE_CHECK_SECONDS` up to :data:`MAX_RETRY_DELAY`). Each channel's delivery
fails on its own: an error in one is logged and the channels after it still get theirs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import redis

from bot.config.limits import MAX_RETRY_DELAY, SCHEDULE_CHECK_SECONDS
from bot.model.digest import Colour
from bot.model.schedule import Cadence, ChannelSchedule, Deliverable, Period, current_period, zone_of
from bot.model.update import UpdateStates
from bot.report.digest import DigestInputs, stamp_digest
from bot.slack.client import PERMANENT_ERRORS, Fenced, PostFailed, SlackPoster
from bot.state.history import HistoryStore
from bot.state.schedules import FAILED, NOTHING_POSTED, PeriodClaim, ScheduleStore
from bot.state.snapshots import SnapshotStore
from bot.words import digest as words
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)

HISTORY_DAYS_READ = 30
"""How far back the digest reads the history: enough for the usual durations and a month's counts."""
HISTORY_ENTRIES_READ = 500
SPAN = {Cadence.DAILY: 86_400.0, Cadence.WEEKLY: 7 * 86_400.0}
"""What "since the last digest" means for a channel's first digest."""


class MonthlyReporter(Protocol):
    """Builds ``period``'s report and uploads it to ``channel`` with ``tag`` in its comment; returns what to
    record (the uploaded file ids).

    Raises :class:`PostFailed` when Slack did not take it, :class:`Fenced` when ``guard`` said no first."""

    def __call__(
        self, channel: str, period: Period, tag: str, guard: Callable[[], bool], budget: float | None = None
    ) -> str: ...


class Scheduler:
    def __init__(
        self,
        schedules: ScheduleStore,
        snapshots: SnapshotStore,
        history: HistoryStore,
        poster: SlackPoster,
        stamps: Sequence[str],
        *,
        default_zone: str,
        lease_seconds: float,
        states: UpdateStates,
        max_age_hours: float,
        monthly: MonthlyReporter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.schedules, self.snapshots, self.history, self.poster = schedules, snapshots, history, poster
        self.stamps = list(stamps)
        self.default_zone = zone_of(default_zone) or ZoneInfo("UTC")
        self.lease_seconds, self.states, self.max_age_hours = lease_seconds, states, max_age_hours
        self.monthly, self.clock = monthly, clock
        self.budget = min(poster.retry_seconds, lease_seconds / 3)
        self._said: set[str] = set()

    def run_forever(self, stop: threading.Event) -> None:
        """The worker's schedule thread: a slow Slack post delays only other deliveries, never an outcome."""
        while not stop.is_set():
            try:
                self.run_due()
            except redis.RedisError:
                pass  # the poll loop logs the outage once
            except Exception:
                log.exception("scheduled deliveries failed; trying again next turn")
            stop.wait(SCHEDULE_CHECK_SECONDS)

    def run_due(self) -> int:
        """Deliver every owed period of every channel; returns how many were posted (or found posted)."""
        done = 0
        now = self.clock()
        for channel, schedule in self.schedules.all().items():
            zone = zone_of(schedule.zone) if schedule.zone else self.default_zone
            for deliverable in Deliverable:
                period = current_period(schedule, deliverable, now, zone or self.default_zone)
                if period is not None and self._deliver_one(channel, schedule, period):
                    done += 1
        return done

    def _deliver_one(self, channel: str, schedule: ChannelSchedule, period: Period) -> bool:
        """One channel's delivery: its failure is logged and never stops the channels after it."""
        try:
            return self._deliver(channel, schedule, period)
        except redis.RedisError:
            raise  # Redis is down for every channel: the poll loop logs the outage once
        except Exception:
            log.exception("the %s for %s failed; the other channels carry on", period.key, channel)
            return False

    def _deliver(self, channel: str, schedule: ChannelSchedule, period: Period) -> bool:
        if period.delivery is Deliverable.MONTHLY_REPORT and self.monthly is None:
            self._say_once(
                f"{channel} {period.key}",
                "monthly report for %s owed in %s: not built by this worker",
                period.label,
                channel,
            )
            return False
        if period.month is not None and _month_end(period.month) > self.clock():
            return False  # the 1st came east of UTC first: the report's month (UTC) has not ended yet
        claim = self.schedules.claim(channel, _name(period), ttl=self.lease_seconds, now=self.clock())
        if claim is None:
            return False
        try:
            return self._deliver_claimed(claim, schedule, period)
        except Fenced:
            log.warning("%s for %s: claim lost before the post; its new holder carries on", period.key, channel)
        except PostFailed as exc:
            self._failed(claim, period, exc)
        finally:
            self.schedules.release(claim)
        return False

    def _failed(self, claim: PeriodClaim, period: Period, exc: PostFailed) -> None:
        """Slack refused: for good (the period is settled as failed, said once) or for now (backs off, doubling)."""
        if exc.error in PERMANENT_ERRORS:
            if self.schedules.record(claim, FAILED + exc.error):
                log.error("the %s for %s cannot be delivered (%s); it is skipped", period.key, claim.channel, exc.error)
            return
        delay = min(SCHEDULE_CHECK_SECONDS * 2 ** min(claim.attempts, 16), MAX_RETRY_DELAY)
        delay = max(delay, exc.retry_after or 0.0)
        self.schedules.defer(claim, self.clock() + delay)
        log.error(
            "could not deliver the %s for %s (%s); trying again in %.0fs", period.key, claim.channel, exc.error, delay
        )

    def _deliver_claimed(self, claim: PeriodClaim, schedule: ChannelSchedule, period: Period) -> bool:
        now = self.clock()
        if not self.schedules.count_attempt(claim, now):
            raise Fenced(claim.channel)
        earlier = self._earlier_post(claim, period, now)
        if earlier is not None:
            log.warning("%s for %s: an earlier attempt posted it already (%s)", period.key, claim.channel, earlier)
            digest_at = (claim.first_at or now) if period.delivery is Deliverable.DIGEST else None
            return self.schedules.record(claim, earlier, digest_at=digest_at)
        if period.delivery is Deliverable.MONTHLY_REPORT:
            return self._upload_report(claim, period)
        message = self.digest_message(claim.channel, schedule, period, now)
        if message is None:
            log.info("%s for %s: nothing amber or red, the problems-only digest stays quiet", period.key, claim.channel)
            return self.schedules.record(claim, NOTHING_POSTED)
        with self.schedules.holding(claim, ttl=self.lease_seconds) as keeper:
            ts = self.poster.post(claim.channel, message, user=None, guard=keeper.guard, budget=self.budget)
        if not self.schedules.record(claim, ts, digest_at=now):
            log.warning("%s for %s: claim moved on after the post; its new holder finds it", period.key, claim.channel)
        return True

    def _earlier_post(self, claim: PeriodClaim, period: Period, now: float) -> str | None:
        """With an attempt counted before this claim, what an earlier attempt posted: the digest by its metadata
        marker, the report's upload by the tag in its comment."""
        if not claim.attempts:
            return None
        oldest = min(claim.first_at or now, period.due_at) - 60
        if period.delivery is Deliverable.MONTHLY_REPORT:
            return self.poster.find_upload(claim.channel, claim.period, oldest=f"{oldest:.6f}")
        return self.poster.find_marked(
            claim.channel, words.DIGEST_EVENT, "period", claim.period, oldest=f"{oldest:.6f}"
        )

    def _upload_report(self, claim: PeriodClaim, period: Period) -> bool:
        assert self.monthly is not None
        with self.schedules.holding(claim, ttl=self.lease_seconds) as keeper:
            recorded = self.monthly(claim.channel, period, claim.period, keeper.guard, self.budget)
        if not self.schedules.record(claim, recorded):
            log.warning(
                "%s for %s: claim moved on after the upload; its new holder finds it", period.key, claim.channel
            )
        return True

    def digest_message(self, channel: str, schedule: ChannelSchedule, period: Period, now: float) -> Message | None:
        """The channel's digest for ``period``; ``None`` when it is problems-only and every stamp is green."""
        last = self.schedules.last_digest(channel)
        since = last if last is not None else now - SPAN.get(schedule.cadence, 86_400.0)
        figures = [
            stamp_digest(
                self._inputs(stamp, now), since=since, now=now, states=self.states, max_age_hours=self.max_age_hours
            )
            for stamp in self.stamps
        ]
        if schedule.problems_only and all(f.colour is Colour.GREEN for f in figures):
            return None
        marker = {"event_type": words.DIGEST_EVENT, "event_payload": {"period": _name(period), "channel": channel}}
        return words.digest(figures, period=period.label, since=since, now=now, marker=marker)

    def _inputs(self, stamp: str, now: float) -> DigestInputs:
        page = self.history.page(stamp, days=HISTORY_DAYS_READ, now=now, limit=HISTORY_ENTRIES_READ)
        capacity = self.snapshots.capacity(stamp, since=now - HISTORY_DAYS_READ * 86_400)
        return DigestInputs(stamp, self.snapshots.read(stamp, now), page.entries, capacity)

    def _say_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._said:
            self._said.add(key)
            log.warning(message, *args)


def _month_end(month: tuple[int, int]) -> float:
    """00:00 UTC on the 1st after ``month``."""
    year, number = month
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC).timestamp()


def _name(period: Period) -> str:
    """The period's name in Redis and in the post's marker: ``digest:daily:2026-12-03``."""
    return f"{period.delivery.value}:{period.key}"
