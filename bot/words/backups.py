"""How a backup reads, wherever it is shown: its status, its facts, the time it took, lists of backups, one backup
in full, the backup location, and the one wording of a finished backup (:func:`finished_backup`).
"""

from __future__ import annotations

from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.words.mrkdwn import (
    Message,
    context,
    escape,
    fields,
    human_duration,
    mention_user,
    section,
    when,
    without_query,
)

MAX_ROLES_SHOWN = 30
MAX_BACKUPS_LISTED = 10


_STATUS_EMOJI = {
    "succeeded": ":white_check_mark:",
    "partialsucceeded": ":warning:",
    "failed": ":x:",
    "skipped": ":fast_forward:",
    "running": ":hourglass_flowing_sand:",
    "creating": ":hourglass_flowing_sand:",
    "queued": ":hourglass_flowing_sand:",
}
_STATUS_WORDS = {
    "succeeded": "Succeeded",
    "partialsucceeded": "Partially succeeded (PartialSucceeded)",
    "failed": "Failed",
}


def status_label(status: str) -> str:
    key = status.lower()
    return f"{_STATUS_EMOJI.get(key, ':grey_question:')} {_STATUS_WORDS.get(key) or escape(status)}"


_HEADLINES = {"succeeded": "succeeded", "partialsucceeded": "only partially succeeded", "failed": "failed"}


def finished_backup(
    stamp: str,
    backup_id: str,
    backup: Backup | None,
    error: str = "",
    *,
    requester: str | None = None,
    one_line: bool = False,
) -> Message:
    """How a finished backup reads, whoever started it: the one function that words an outcome.

    The full form (headline, facts, failed roles, the stamp's error) is the completion (``requester`` is who
    started it) and the watch's report (no ``requester``); ``one_line`` is the announcement's last edit.
    ``backup`` is ``None`` when the stamp failed it without a final record; ``error`` is then the reason.
    """
    if one_line:
        return _result_line(stamp, backup_id, backup, error, requester or "")
    subject, stamp = _subject(requester, backup), escape(stamp)
    if backup is None:
        text = (
            f":x: {subject} `{escape(backup_id)}` on *{stamp}* failed: "
            f"{escape(error) or 'the stamp reported a failure without details'}"
        )
        return Message(text=text.replace("*", ""), blocks=[section(text)])
    status = backup.status.lower()
    headline = _HEADLINES.get(status, f"ended with status {escape(backup.status)}")
    text = (
        f"{_STATUS_EMOJI.get(status, ':grey_question:')} {subject} `{escape(backup.backup_id)}` on *{stamp}* "
        f"{headline}."
    )
    failed = [escape(role) for role in backup.failed_roles] if status != "succeeded" else []
    blocks = [section(text), fields(_backup_facts(backup))]
    if failed:
        blocks.append(section(f"*Failed roles ({len(failed)} of {len(backup.roles)}):* " + _role_list(failed)))
    if error:
        blocks.append(context(f"Stamp said: {escape(error)}"))
    fallback = (
        f"{subject} {escape(backup.backup_id)} on {stamp} {headline}. Status: {escape(backup.status)}. "
        f"Time taken: {time_taken(backup)}." + (f" Failed roles: {_role_list(failed)}." if failed else "")
    )
    return Message(text=fallback, blocks=blocks)


def _subject(requester: str | None, backup: Backup | None) -> str:
    if requester is not None:
        return f"{mention_user(requester)} backup"
    return "Scheduled backup" if backup and backup.is_automatic else "Backup"


def _result_line(stamp: str, backup_id: str, backup: Backup | None, error: str, requester: str) -> Message:
    """:func:`finished_backup`'s one-line form."""
    status, taken, why = (backup.status, time_taken(backup), "") if backup else ("Failed", "unknown", error)
    text = (
        f"{status_label(status)}: backup `{escape(backup_id)}` on *{escape(stamp)}*, started by "
        f"{mention_user(requester)}. Time taken: {taken}." + (f" {escape(why)}" if why else "")
    )
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def _role_list(roles: list[str]) -> str:
    shown = ", ".join(roles[:MAX_ROLES_SHOWN])
    return shown + (f" and {len(roles) - MAX_ROLES_SHOWN} more" if len(roles) > MAX_ROLES_SHOWN else "")


def on_off(flag: bool | None) -> str:
    return {True: "on", False: "off", None: "unknown"}[flag]


def _backup_facts(backup: Backup) -> list[tuple[str, str]]:
    return [
        ("Backup id", f"`{escape(backup.backup_id)}`"),
        ("Status", status_label(backup.status)),
        ("Created", when(backup.created)),
        ("Time taken", time_taken(backup)),
        ("Stamp version", escape(backup.stamp_version or "unknown")),
        ("Kind", _kind(backup)),
        ("Cloud recovery ready", {True: "yes", False: "no", None: "unknown"}[backup.is_cloud_recovery_ready]),
    ]


def backup_list(stamp: str, backups: list[Backup]) -> Message:
    stamp = escape(stamp)
    if not backups:
        return Message(text=f"No backups on {stamp} yet.", blocks=[section(f"No backups on *{stamp}* yet.")])
    lines = [
        f"{status_label(b.status)} `{escape(b.backup_id)}` · {when(b.created)} · {time_taken(b)} · {_kind(b)}"
        for b in backups[:MAX_BACKUPS_LISTED]
    ]
    text = f"*Latest backups on {stamp}* (newest first)\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def time_taken(backup: Backup) -> str:
    """The stamp's duration; for a backup the bot started and the stamp did not time (``PT0S``), the bot's own."""
    if backup.reported_seconds is not None:
        return human_duration(backup.reported_seconds)
    if backup.measured_seconds is not None:
        return f"{human_duration(backup.measured_seconds)} (measured by the bot)"
    return "not reported"


def _kind(backup: Backup) -> str:
    return {True: "scheduled", False: "on demand", None: "unknown"}[backup.is_automatic]


def backup_detail(stamp: str, backup: Backup) -> Message:
    stamp = escape(stamp)
    roles = "\n".join(f"{status_label(r.status)} {escape(r.role)}" for r in backup.roles[:MAX_ROLES_SHOWN])
    roles = roles or "none listed"
    blocks = [
        section(f"*Backup `{escape(backup.backup_id)}` on {stamp}*"),
        fields(_backup_facts(backup)),
        section(f"*Roles*\n{roles}"),
    ]
    if backup.encryption_cert_thumbprint:
        blocks.append(context(f"Encryption certificate thumbprint: {escape(backup.encryption_cert_thumbprint)}"))
    return Message(text=f"Backup {escape(backup.backup_id)} on {stamp}: {escape(backup.status)}", blocks=blocks)


def target(location: BackupLocation, missing: str) -> str:
    """The share path, or the blob container without its query string (a SAS token must not reach Slack)."""
    return escape(location.path or (without_query(location.blob_url) if location.blob_url else missing))


def backup_config(stamp: str, location: BackupLocation) -> Message:
    stamp = escape(stamp)
    pairs = [
        ("Target", target(location, "not configured")),
        *schedule_facts(location),
        ("Next backup", when(location.next_backup)),
        ("Last backup", when(location.last_backup)),
        ("Encryption certificate", escape(location.encryption_cert_thumbprint or "none")),
    ]
    return Message(
        text=f"Backup configuration of {stamp}", blocks=[section(f"*Backup configuration of {stamp}*"), fields(pairs)]
    )


def schedule_facts(location: BackupLocation) -> list[tuple[str, str]]:
    """The scheduler, how often and how long backups are kept, and the free space: in the configuration and on
    App Home alike."""
    return [
        ("Scheduler", on_off(location.scheduler_enabled)),
        ("Frequency", f"every {location.frequency_hours} h" if location.frequency_hours else "unknown"),
        ("Retention", f"{location.retention_days} days" if location.retention_days else "unknown"),
        ("Free capacity", escape(location.available_capacity or "unknown")),
    ]
