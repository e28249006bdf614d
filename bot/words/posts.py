"""What the bot posts in a channel for everyone: the start announcement and its edits while the backup runs, the
outcome, the notices (overdue, abandoned start, a watched backup, stale backups), and the markers that let a retry
find an earlier post of the same message.
"""

from __future__ import annotations

import time
from typing import Any

from bot.model.backup import Backup
from bot.model.facts import JobFacts
from bot.words.backups import finished_backup, finished_backup_forms
from bot.words.mrkdwn import Message, age, escape, human_duration, mention_user, section, when

REPORT_EVENT = "azs_backup_reported"
ANNOUNCE_EVENT = "azs_backup_announced"
OVERDUE_EVENT = "azs_backup_overdue"


def started(job: JobFacts) -> Message:
    """The public announcement (and the clicker's reply): marked with its job, so a retry can find it in the channel."""
    text = (
        f":arrow_forward: {mention_user(job.requester)} started infrastructure backup `{escape(job.backup_id)}` "
        f"on "
        f"*{escape(job.stamp)}*. I will post the result here when the stamp reports it (usually 20-40 minutes)."
    )
    return _marked(Message(text=text.replace("*", ""), blocks=[section(text)]), ANNOUNCE_EVENT, job)


def progress(job: JobFacts, now: float | None = None) -> Message:
    """The announcement, edited while the backup runs."""
    elapsed = human_duration((now or time.time()) - (job.started_at or job.requested_at))
    text = (
        f":hourglass_flowing_sand: {mention_user(job.requester)} started infrastructure backup "
        f"`{escape(job.backup_id)}` on *{escape(job.stamp)}*: running for {elapsed} (usually 20-40 minutes)."
    )
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def announcement_final(job: JobFacts, backup: Backup | None, error: str) -> Message:
    """The announcement's last edit: the result in one line."""
    return finished_backup(job.stamp, job.backup_id, backup, error, requester=job.requester, one_line=True)


def completion(job: JobFacts, backup: Backup | None, error: str = "", note: str = "") -> Message:
    """The outcome in the channel, tagged with the job id so a re-run can tell it was already posted."""
    return outcome(job, backup, error, note)[0]


def outcome(job: JobFacts, backup: Backup | None, error: str = "", note: str = "") -> tuple[Message, Message]:
    """:func:`completion` and :func:`announcement_final` together, worded from one pass over the backup."""
    marker = _marker(REPORT_EVENT, job)
    return finished_backup_forms(
        job.stamp, job.backup_id, backup, error, requester=job.requester, note=note, metadata=marker
    )


def completion_unannounced(job: JobFacts, backup: Backup | None, error: str, attempts: int) -> Message:
    """The outcome when the start announcement never reached the channel: it says so, since it stands alone."""
    return completion(job, backup, error, unannounced_note(attempts))


def unannounced_note(attempts: int) -> str:
    """The note under an outcome whose start announcement Slack refused ``attempts`` times."""
    return (
        f"This backup's start announcement could not be posted (Slack refused it {attempts} times), "
        "so this result is not in a thread."
    )


def start_abandoned(job: JobFacts, reason: str) -> Message:
    text = (
        f"{mention_user(job.requester)} the backup you asked for on *{escape(job.stamp)}* at "
        f"{when(job.requested_at)} did not start: {escape(reason)} Nothing is running; you can try "
        "`/azs backup` again."
    )
    return Message(text=text.replace("*", ""), blocks=[section(f":x: {text}")])


def start_abandoned_notice(job: JobFacts, reason: str) -> Message:
    """:func:`start_abandoned`, tagged like an outcome: it is the job's one report."""
    return _marked(start_abandoned(job, reason), REPORT_EVENT, job)


def overdue(job: JobFacts, limit_seconds: float) -> Message:
    text = (
        f":alarm_clock: {mention_user(job.requester)} backup `{escape(job.backup_id)}` on "
        f"*{escape(job.stamp)}* has been running for more than {human_duration(limit_seconds)} (started "
        f"{when(job.started_at or job.requested_at)}). Azure Stack Hub cannot cancel a backup; check the "
        "stamp's alerts. I keep following it and will post the result."
    )
    return _marked(Message(text=text.replace("*", ""), blocks=[section(text)]), OVERDUE_EVENT, job)


def watched_backup(stamp: str, backup: Backup) -> Message:
    """A backup the watcher saw end (scheduled or started elsewhere)."""
    return finished_backup(stamp, backup.backup_id, backup)


def stale_backups(stamp: str, newest: Backup | None, limit_hours: float, reason: str) -> Message:
    last = (
        f"the newest successful backup is `{escape(newest.backup_id)}` from {when(newest.created)} "
        f"({age(newest.created)})"
        if newest
        else "there is no successful backup at all"
    )
    text = (
        f":rotating_light: *{escape(stamp)}* is overdue for a good backup: {last}, more than "
        f"{human_duration(limit_hours * 3600)} ({escape(reason)}). Check the stamp's backup alerts and "
        "`/azs backup config`."
    )
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def _marked(message: Message, event_type: str, job: JobFacts) -> Message:
    return Message(text=message.text, blocks=message.blocks, ok=message.ok, metadata=_marker(event_type, job))


def _marker(event_type: str, job: JobFacts) -> dict[str, Any]:
    """The metadata that lets a retry find this job's post of ``event_type`` in the channel."""
    return {"event_type": event_type, "event_payload": {"job_id": job.job_id, "backup_id": job.backup_id}}
