"""A channel's scheduled deliveries as commands: ``/azs backup digest``, ``timezone`` and ``report monthly``.

Channel settings (no stamp is called): they write :class:`bot.state.schedules.ScheduleStore`, which the worker's
scheduler (:mod:`bot.worker.schedules`) reads. :class:`~bot.commands.backups.BackupService` names these in its
runners (``digest``, ``timezone``, ``report_monthly``), passing its Redis client, the bot's time zone and the time.
"""

from __future__ import annotations

from dataclasses import replace

from bot.commands.request import Request
from bot.model.schedule import digest_from_words, zone_of
from bot.state.schedules import ScheduleStore
from bot.words import digest as words
from bot.words.mrkdwn import Message


def set_digest(store: ScheduleStore, default_zone: str, now: float, request: Request) -> Message:
    current = store.get(request.channel)
    schedule = digest_from_words((request.command.option or "").split(), current, now)
    if schedule is None:
        return words.digest_usage()
    store.put(request.channel, schedule)
    return words.digest_set(request.channel, schedule, schedule.zone or default_zone)


def set_timezone(store: ScheduleStore, request: Request) -> Message:
    said = (request.command.option or "").strip()
    if zone_of(said) is None:
        return words.timezone_unknown(said)
    schedule = replace(store.get(request.channel), zone=said)
    store.put(request.channel, schedule)
    return words.timezone_set(request.channel, said, schedule)


def set_monthly_report(store: ScheduleStore, default_zone: str, now: float, request: Request) -> Message:
    on = request.command.option == "on"
    current = store.get(request.channel)
    since = now if on and not current.monthly_report else current.monthly_since
    schedule = replace(current, monthly_report=on, monthly_since=since if on else 0.0)
    store.put(request.channel, schedule)
    return words.monthly_report_set(request.channel, on, schedule.zone or default_zone)
