"""Channels' schedules (digest, time zone, monthly report) and the fenced claim on one period's delivery.

The web writes a channel's :class:`~bot.model.schedule.ChannelSchedule` (one hash for all channels, so the worker
reads every schedule with one call). The worker delivers each owed period exactly once with the delivery
protocol's steps (:mod:`bot.slack.delivery`), on a period hash instead of a job hash:

1. :meth:`ScheduleStore.claim` takes the period's lease and raises its fence (nothing if it was already posted);
2. :meth:`count_attempt` counts the attempt, fenced, before anything is sent;
3. with an earlier attempt counted, the worker looks for its post in the channel by its marker;
4. it posts while :meth:`renew` says the claim holds (a :class:`~bot.state.lease.LeaseKeeper`);
5. :meth:`record` records the post's ``ts``, fenced (and, for a digest, when the channel's last digest went out).

A frozen worker's lease runs out, another claims the period (the fence moves), and the first one's writes and
guard then say no. Period hashes expire after :data:`PERIOD_MEMORY_SECONDS`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis

from bot.model.schedule import ChannelSchedule
from bot.state import keys, scripts
from bot.state.lease import LeaseKeeper

PERIOD_MEMORY_SECONDS = 40 * 86_400
"""Longer than the longest period (a month), so a period is never owed twice."""
NOTHING_POSTED = "-"
"""Recorded for a period settled without a post (a problems-only digest with nothing amber or red)."""
FAILED = "failed:"
"""Recorded (with Slack's error after it) for a period settled without a post because Slack will never take it."""

# KEYS: lease, period. ARGV: token, ttl ms, memory s, now. {-1} already posted, {0} held by another or backing
# off, else {fence, attempts before this claim, first attempt time or ""}.
_CLAIM = """
if redis.call('HEXISTS', KEYS[2], 'ts') == 1 then return {-1} end
if tonumber(redis.call('HGET', KEYS[2], 'next_try') or '0') > tonumber(ARGV[4]) then return {0} end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
local fence = redis.call('HINCRBY', KEYS[2], 'fence', 1)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {fence, tonumber(redis.call('HGET', KEYS[2], 'attempts') or '0'), redis.call('HGET', KEYS[2], 'first_at') or ''}
"""
# KEYS: period. ARGV: fence, now. 1 when counted.
_COUNT = """
if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSETNX', KEYS[1], 'first_at', ARGV[2])
return 1
"""
# KEYS: period, lease, last-digest hash. ARGV: fence, token, ts, channel, posted at ("" = not a digest post).
_RECORD = """
if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'ts', ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[5]) end
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
"""
# KEYS: period. ARGV: fence, next try. 1 when set.
_DEFER = """
if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'next_try', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class PeriodClaim:
    """One worker's hold on one channel's delivery for one period."""

    channel: str
    period: str
    token: str
    fence: int
    attempts: int
    """Attempts counted before this claim: more than 0 means an earlier one may have posted."""
    first_at: float | None
    """When the first attempt was counted (where the look for an earlier post starts)."""


class ScheduleStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(_CLAIM)
        self._count = client.register_script(_COUNT)
        self._record = client.register_script(_RECORD)
        self._renew = client.register_script(scripts.RENEW)  # a period's lease renews as a job's does
        self._release = client.register_script(_RELEASE)
        self._defer = client.register_script(_DEFER)

    # --- schedules -------------------------------------------------------------------------------------------

    def get(self, channel: str) -> ChannelSchedule:
        raw = self.redis.hget(keys.schedules_key(), channel)
        return ChannelSchedule.from_json(_text(raw)) if raw is not None else ChannelSchedule()

    def put(self, channel: str, schedule: ChannelSchedule) -> None:
        if schedule.is_empty:
            self.redis.hdel(keys.schedules_key(), channel)
        else:
            self.redis.hset(keys.schedules_key(), channel, schedule.to_json())

    def all(self) -> dict[str, ChannelSchedule]:
        rows = self.redis.hgetall(keys.schedules_key())
        return {_text(c): ChannelSchedule.from_json(_text(v)) for c, v in rows.items()}

    def last_digest(self, channel: str) -> float | None:
        raw = self.redis.hget(keys.last_digest_key(), channel)
        return float(_text(raw)) if raw is not None else None

    # --- one period's delivery (fenced) ----------------------------------------------------------------------

    def claim(self, channel: str, period: str, *, ttl: float, now: float = 0.0) -> PeriodClaim | None:
        """Take the period's delivery, or ``None`` if it was posted already, another worker holds it, or it
        backs off until after ``now`` (:meth:`defer`)."""
        token = uuid.uuid4().hex
        result = self._claim(
            keys=[keys.period_lease_key(channel, period), keys.period_key(channel, period)],
            args=[token, max(1, int(ttl * 1000)), PERIOD_MEMORY_SECONDS, repr(now)],
        )
        if not result or int(result[0]) <= 0:
            return None
        first = _text(result[2]) if len(result) > 2 and result[2] is not None else ""
        return PeriodClaim(channel, period, token, int(result[0]), int(result[1]), float(first) if first else None)

    def posted(self, channel: str, period: str) -> str | None:
        """The recorded ``ts`` of the period's post (:data:`NOTHING_POSTED` if settled without one)."""
        raw = self.redis.hget(keys.period_key(channel, period), "ts")
        return _text(raw) if raw is not None else None

    def count_attempt(self, claim: PeriodClaim, now: float) -> bool:
        return bool(self._count(keys=[keys.period_key(claim.channel, claim.period)], args=[claim.fence, repr(now)]))

    def record(self, claim: PeriodClaim, ts: str, *, digest_at: float | None = None) -> bool:
        """Record the post (fenced); ``digest_at``: a digest went out, the channel's next one counts from then."""
        return bool(
            self._record(
                keys=[
                    keys.period_key(claim.channel, claim.period),
                    keys.period_lease_key(claim.channel, claim.period),
                    keys.last_digest_key(),
                ],
                args=[claim.fence, claim.token, ts, claim.channel, "" if digest_at is None else repr(digest_at)],
            )
        )

    def defer(self, claim: PeriodClaim, until: float) -> bool:
        """No claim on the period before ``until`` (fenced): a failed attempt backs off instead of retrying."""
        return bool(self._defer(keys=[keys.period_key(claim.channel, claim.period)], args=[claim.fence, repr(until)]))

    def renew(self, claim: PeriodClaim, *, ttl: float) -> bool:
        return bool(
            self._renew(
                keys=[keys.period_key(claim.channel, claim.period), keys.period_lease_key(claim.channel, claim.period)],
                args=[claim.fence, claim.token, max(1, int(ttl * 1000))],
            )
        )

    def release(self, claim: PeriodClaim) -> None:
        self._release(keys=[keys.period_lease_key(claim.channel, claim.period)], args=[claim.token])

    def holding(self, claim: PeriodClaim, *, ttl: float) -> LeaseKeeper:
        """A context that keeps the claim's lease alive while the post runs; its guard asks before each attempt."""
        return LeaseKeeper(lambda: self.renew(claim, ttl=ttl), ttl)
