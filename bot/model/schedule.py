"""A channel's scheduled deliveries (the digest, the monthly report) and the periods they are due in.

Pure: :class:`ChannelSchedule` is what ``/azs backup digest|timezone|report monthly`` set for a channel, and
:func:`current_period` answers "which period is this instant in, and is its delivery owed?" in the channel's time
zone. A period is named by its local date (``daily:2026-12-03``, ``weekly:2026-11-30``, ``monthly:2026-11``), so
a delivery is keyed by it and goes out at most once however often the worker asks.

Time zones are IANA names read with :mod:`zoneinfo`. A local time that does not exist (the hour skipped when
clocks go forward) is read with the offset before the change, so it lands an hour later on the wall clock; a time
that happens twice (clocks go back) is its first occurrence. Either way each local date has one instant.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_AT = time(8, 0)
"""The digest's time of day when none is given."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SAME_MINUTE = 60.0
"""A schedule set within the minute of its delivery time still delivers that period ("at 09:30", typed at 09:30)."""
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")


class Cadence(StrEnum):
    OFF = "off"
    DAILY = "daily"
    WEEKLY = "weekly"


class Deliverable(StrEnum):
    """What is delivered; part of the period key."""

    DIGEST = "digest"
    MONTHLY_REPORT = "report"


def zone_of(name: str) -> ZoneInfo | None:
    """The IANA zone ``name`` (``Europe/Berlin``, ``UTC``), or ``None`` if there is no such zone."""
    if not _ZONE.match(name) or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_hhmm(text: str) -> time | None:
    match = _HHMM.match(text)
    return time(int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class ChannelSchedule:
    """One channel's scheduled deliveries. ``since`` and ``monthly_since``: when each was turned on (epoch
    seconds); a period whose delivery time came before that is not owed."""

    cadence: Cadence = Cadence.OFF
    at: time = DEFAULT_AT
    weekday: int = 0
    """0 is Monday (``weekly``)."""
    problems_only: bool = False
    since: float = 0.0
    monthly_report: bool = False
    monthly_since: float = 0.0
    zone: str | None = None
    """The channel's time zone; ``None``: the bot's (``AZS_TIMEZONE``)."""

    @property
    def is_empty(self) -> bool:
        return self.cadence is Cadence.OFF and not self.monthly_report and self.zone is None

    def with_digest(self, cadence: Cadence, at: time, weekday: int, problems_only: bool, now: float) -> ChannelSchedule:
        return replace(self, cadence=cadence, at=at, weekday=weekday, problems_only=problems_only, since=now)

    def to_json(self) -> str:
        data = asdict(self)
        data.update(cadence=self.cadence.value, at=self.at.strftime("%H:%M"))
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ChannelSchedule:
        data = json.loads(text)
        cadence = data.get("cadence")
        return cls(
            cadence=Cadence(cadence) if cadence in Cadence._value2member_map_ else Cadence.OFF,
            at=parse_hhmm(str(data.get("at") or "")) or DEFAULT_AT,
            weekday=int(data.get("weekday") or 0) % 7,
            problems_only=bool(data.get("problems_only")),
            since=float(data.get("since") or 0.0),
            monthly_report=bool(data.get("monthly_report")),
            monthly_since=float(data.get("monthly_since") or 0.0),
            zone=str(data["zone"]) if data.get("zone") else None,
        )


@dataclass(frozen=True)
class Period:
    """One delivery's period: ``key`` names it (``daily:2026-12-03``), ``due_at`` is when it became owed."""

    delivery: Deliverable
    key: str
    due_at: float
    label: str
    """How a message names it: "Thursday 3 December 2026", "week of 30 November 2026", "2026-11"."""
    month: tuple[int, int] | None = None
    """The month a monthly report covers (year, month)."""


def local_instant(day: date, at: time, zone: ZoneInfo) -> float:
    """Epoch seconds of ``at`` on ``day`` in ``zone`` (see the module's note on skipped and repeated hours)."""
    return datetime.combine(day, at, tzinfo=zone).timestamp()


def current_period(schedule: ChannelSchedule, delivery: Deliverable, now: float, zone: ZoneInfo) -> Period | None:
    """The latest period of ``delivery`` whose time has come at ``now``, if it is owed: switched on, and its time
    not before the schedule was set (within :data:`SAME_MINUTE`). ``None`` when nothing is owed."""
    if delivery is Deliverable.DIGEST:
        if schedule.cadence is Cadence.OFF:
            return None
        period, since = _digest_period(schedule, now, zone), schedule.since
    else:
        if not schedule.monthly_report:
            return None
        period, since = _monthly_period(schedule.at, now, zone), schedule.monthly_since
    return period if period.due_at > since - SAME_MINUTE else None


def _digest_period(schedule: ChannelSchedule, now: float, zone: ZoneInfo) -> Period:
    today = datetime.fromtimestamp(now, zone).date()
    if schedule.cadence is Cadence.DAILY:
        day = today if local_instant(today, schedule.at, zone) <= now else today - timedelta(days=1)
        label = f"{day:%A} {day.day} {day:%B %Y}"
    else:
        day = today - timedelta(days=(today.weekday() - schedule.weekday) % 7)
        if local_instant(day, schedule.at, zone) > now:
            day -= timedelta(days=7)
        label = f"week of {day.day} {day:%B %Y}"
    return Period(
        Deliverable.DIGEST, f"{schedule.cadence.value}:{day.isoformat()}", local_instant(day, schedule.at, zone), label
    )


def _monthly_period(at: time, now: float, zone: ZoneInfo) -> Period:
    """On the 1st of a month (at the channel's digest time), the month before it is owed."""
    today = datetime.fromtimestamp(now, zone).date()
    first = today.replace(day=1)
    if local_instant(first, at, zone) > now:
        first = (first - timedelta(days=1)).replace(day=1)
    covered = (first - timedelta(days=1)).replace(day=1)
    return Period(
        Deliverable.MONTHLY_REPORT,
        f"monthly:{covered:%Y-%m}",
        local_instant(first, at, zone),
        f"{covered:%Y-%m}",
        month=(covered.year, covered.month),
    )


PROBLEMS_ONLY = "problems-only"


def digest_from_words(words: list[str], current: ChannelSchedule, now: float) -> ChannelSchedule | None:
    """``/azs backup digest`` arguments applied to ``current``: ``daily [HH:MM] [problems-only]``,
    ``weekly [day] [HH:MM] [problems-only]``, ``problems-only`` (the current cadence, daily if none), ``off``.
    ``None`` when the words do not fit."""
    said = [w.lower() for w in words]
    if said == ["off"]:
        return replace(current, cadence=Cadence.OFF, problems_only=False)
    if said == [PROBLEMS_ONLY]:
        cadence: Cadence = current.cadence if current.cadence is not Cadence.OFF else Cadence.DAILY
        return current.with_digest(cadence, current.at, current.weekday, True, now)
    if not said or said[0] not in (Cadence.DAILY, Cadence.WEEKLY):
        return None
    problems_only = said[-1] == PROBLEMS_ONLY
    rest = said[1:-1] if problems_only else said[1:]
    weekday, rest = _weekday(rest) if said[0] == Cadence.WEEKLY else (0, rest)
    at = _time_of(rest)
    return None if at is None else current.with_digest(Cadence(said[0]), at, weekday, problems_only, now)


def _weekday(words: list[str]) -> tuple[int, list[str]]:
    """A leading day name (``mon``, ``Monday``) and the words after it; Monday when none is given."""
    if words and words[0].isalpha() and words[0][:3] in WEEKDAYS:
        return WEEKDAYS.index(words[0][:3]), words[1:]
    return 0, words


def _time_of(words: list[str]) -> time | None:
    """``HH:MM``, the default when nothing is left, ``None`` for anything else."""
    if not words:
        return DEFAULT_AT
    return parse_hhmm(words[0]) if len(words) == 1 else None
