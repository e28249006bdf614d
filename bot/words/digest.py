"""The digest (one message for every stamp) and the answers to ``/azs backup digest|timezone|report monthly``.

Stamp names, ids, states and versions come from the stamp or the configuration: each enters through
:func:`~bot.words.mrkdwn.escape`. One section per stamp keeps a digest of many stamps within Slack's 50 blocks;
past :data:`MAX_STAMPS_SHOWN` the rest are counted, worst first shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Any

from bot.model.digest import Colour, Fit, Forecast, StampDigest
from bot.model.schedule import WEEKDAYS, Cadence, ChannelSchedule
from bot.words.mrkdwn import Message, age, context, escape, human_duration, mention_channel, section, when

DIGEST_EVENT = "azs_backup_digest"
"""The metadata marker of a digest post; its payload names the period (``digest:<channel>:daily:2026-12-03``)."""
MAX_STAMPS_SHOWN = 40

_DOT = {Colour.GREEN: ":large_green_circle:", Colour.AMBER: ":large_orange_circle:", Colour.RED: ":red_circle:"}
_GAPS = {
    "no_backups": "no backups",
    "none_succeeded": "no backup succeeded",
    "not_recovery_ready": "no backup is cloud-recovery ready",
    "not_completely_uploaded": "not completely uploaded",
    "version_too_old": "backups more than one version older than the stamp",
    "version_unknown": "versions cannot be compared",
    "version_behind": "one version behind: the next update makes it too old",
    "thumbprint_changed": "an older certificate's key is still needed",
    "no_target": "no backup target",
}
_FIT = {
    Fit.NO_SAMPLES: "not enough data (no capacity samples)",
    Fit.FEW_SAMPLES: "not enough data (fewer than 3 samples)",
    Fit.SHORT_SPAN: "not enough data (samples span less than a day)",
    Fit.NOT_FALLING: "not filling up",
}


def digest(
    digests: Sequence[StampDigest], *, period: str, since: float | None, now: float, marker: dict[str, Any]
) -> Message:
    """The digest for one channel and period; ``marker`` is its metadata (the delivery looks for it)."""
    worst = max((d.colour for d in digests), default=Colour.GREEN)
    shown = sorted(digests, key=lambda d: -d.colour)[:MAX_STAMPS_SHOWN]
    counted = f"since {when(since)}" if since else "in the last day"
    head = f"{_DOT[worst]} *Backup digest, {escape(period)}*: {len(digests)} stamp(s), backups counted {counted}."
    blocks = [section(head), *(section(_stamp(d, now)) for d in shown)]
    if len(digests) > len(shown):
        blocks.append(context(f"{len(digests) - len(shown)} more stamp(s) not shown; `/azs backup status` lists them."))
    blocks.append(
        context(
            "Colours: the newest good backup against the backup frequency (green within it, amber "
            "within twice it, red beyond); amber also for failures, slow backups or recovery gaps."
        )
    )
    lines = [head, *(_stamp(d, now) for d in shown)]
    return Message(text="\n".join(lines).replace("*", ""), blocks=blocks, metadata=marker)


def _stamp(d: StampDigest, now: float) -> str:
    lines = [f"{_DOT[d.colour]} *{escape(d.stamp)}*{_staleness(d)}", _age_line(d, now), _counts_line(d)]
    lines.append(_scheduler_line(d))
    lines.append(_recovery_line(d))
    lines.append(_update_line(d))
    lines.append(f"Free capacity {_capacity(d.forecast)}")
    lines.extend(
        f"Slow: `{escape(s.backup_id)}` took {human_duration(s.seconds)} (usually {human_duration(s.usual_seconds)})"
        for s in d.slow[:3]
    )
    return "\n".join(line for line in lines if line)


def _staleness(d: StampDigest) -> str:
    if d.snapshot_age is None:
        return " (not read yet)"
    error = f"; last error: {escape(d.error)}" if d.error else ""
    return f" (read {human_duration(d.snapshot_age)} ago, stale{error})" if d.stale else ""


def _age_line(d: StampDigest, now: float) -> str:
    basis = (
        f"the scheduler's {d.expected_hours:g} h"
        if d.expected_from_scheduler
        else f"{d.expected_hours:g} h (scheduler off)"
    )
    if d.newest_good_id is None:
        return f"Newest good backup: none known (expected every {basis})"
    return f"Newest good backup `{escape(d.newest_good_id)}`, {age(d.newest_good_at, now)} (expected every {basis})"


def _counts_line(d: StampDigest) -> str:
    c = d.counts
    return f"Backups: {c.succeeded} succeeded, {c.partial} partial, {c.failed} failed, {c.skipped} skipped"


def _scheduler_line(d: StampDigest) -> str:
    if d.scheduler_enabled is None:
        return "Scheduler unknown"
    if not d.scheduler_enabled:
        return "Scheduler off"
    every = f" every {d.frequency_hours} h" if d.frequency_hours else ""
    return f"Scheduler on{every}, next backup {when(d.next_backup)}"


def _recovery_line(d: StampDigest) -> str:
    if d.recovery_ready is None:
        return ""
    gaps = ", ".join(_GAPS.get(g, escape(g)) for g in d.recovery_gaps)
    if d.recovery_ready:
        extra = f" ({gaps})" if gaps else ""
        return f"Cloud recovery ready from `{escape(d.recovery_backup_id or '?')}`{extra}"
    return f"Cloud recovery *not ready*: {gaps or 'see /azs backup dr'}"


def _update_line(d: StampDigest) -> str:
    version = f", version {escape(d.stamp_version)}" if d.stamp_version else ""
    if d.update_state is None:
        return ""
    paused = ": backups are skipped by design until it is clean" if d.update_paused else ""
    return f"Update state {escape(d.update_state)}{version}{paused}"


def _capacity(f: Forecast) -> str:
    shown = escape(f.available_text) if f.available_text else "not reported"
    if f.fit is Fit.FITTED and f.days_until_full is not None:
        return f"{shown}, full in about {f.days_until_full:.0f} days at the last {f.span_hours / 24:.0f} days' rate"
    return f"{shown}, days until full: {_FIT[f.fit]}"


# --- answers to the schedule commands -----------------------------------------------------------------------------


def schedule_line(schedule: ChannelSchedule, zone: str) -> str:
    """How a channel's digest reads: "daily at 08:00 (Europe/Berlin)", "off"."""
    if schedule.cadence is Cadence.OFF:
        return "off"
    at = _hhmm(schedule.at)
    when_ = f"daily at {at}" if schedule.cadence is Cadence.DAILY else f"weekly on {WEEKDAYS[schedule.weekday]} at {at}"
    only = ", only when a stamp is amber or red" if schedule.problems_only else ""
    return f"{when_} ({escape(zone)}){only}"


def _hhmm(at: time) -> str:
    return at.strftime("%H:%M")


def digest_set(channel: str, schedule: ChannelSchedule, zone: str) -> Message:
    line = schedule_line(schedule, zone)
    text = (
        f"The backup digest for {mention_channel(channel)} is off."
        if schedule.cadence is Cadence.OFF
        else f"{mention_channel(channel)} gets the backup digest {line}, one message for every stamp."
    )
    return Message(text=text, blocks=[section(f":calendar: {text}")])


def digest_usage() -> Message:
    text = (
        "Say `/azs backup digest daily [HH:MM]`, `weekly [mon..sun] [HH:MM]`, either followed by `problems-only`, "
        "`problems-only` on its own, or `off`."
    )
    return Message(text=text, blocks=[section(f":information_source: {text}")], ok=False)


def timezone_set(channel: str, zone: str, schedule: ChannelSchedule) -> Message:
    line = schedule_line(schedule, zone)
    text = f"Times for {mention_channel(channel)} are in {escape(zone)} now; the digest is {line}."
    return Message(text=text, blocks=[section(f":earth_africa: {text}")])


def timezone_unknown(said: str) -> Message:
    text = (
        f"`{escape(said[:64])}` is not a time zone I know. Use an IANA name such as `Europe/Berlin`, "
        "`America/New_York` or `UTC`."
    )
    return Message(text=text, blocks=[section(f":information_source: {text}")], ok=False)


def monthly_report_set(channel: str, on: bool, zone: str) -> Message:
    text = (
        f"{mention_channel(channel)} gets last month's backup report on the 1st of each month ({escape(zone)})."
        if on
        else f"{mention_channel(channel)} no longer gets the monthly backup report."
    )
    return Message(text=text, blocks=[section(f":bookmark_tabs: {text}")])
