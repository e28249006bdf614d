"""How a backup reads, wherever it is shown: its status, its facts, the time it took, lists of backups, one backup
in full, the backup location, and the one wording of a finished backup (:func:`finished_backup`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

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
    return _label(status.lower(), escape(status))


def _label(key: str, escaped: str) -> str:
    """:func:`status_label` of a status already escaped (``key`` is it in lower case)."""
    return f"{_STATUS_EMOJI.get(key, ':grey_question:')} {_STATUS_WORDS.get(key) or escaped}"


_HEADLINES = {"succeeded": "succeeded", "partialsucceeded": "only partially succeeded", "failed": "failed"}


@dataclass(frozen=True)
class _Said:
    """A finished backup's outside text, escaped in one pass: every form of :func:`finished_backup` reads it."""

    stamp: str
    named_id: str
    """The id the caller named (the job's), escaped; the backup's own is :attr:`backup_id`."""
    error: str
    requester: str | None
    backup_id: str = ""
    status: str = ""
    created: str = ""
    duration: str = ""
    version: str = ""
    failed_roles: tuple[str, ...] = ()


def _say(stamp: str, backup_id: str, backup: Backup | None, error: str, requester: str | None) -> _Said:
    said = _Said(
        stamp=escape(stamp),
        named_id=escape(backup_id),
        error=escape(error),
        requester=None if requester is None else mention_user(requester),
    )
    if backup is None:
        return said
    return replace(
        said,
        backup_id=escape(backup.backup_id),
        status=escape(backup.status),
        created=when(backup.created),
        duration=human_duration(backup.duration_seconds),
        version=escape(backup.stamp_version or "unknown"),
        failed_roles=tuple(escape(role) for role in backup.failed_roles),
    )


def finished_backup(
    stamp: str,
    backup_id: str,
    backup: Backup | None,
    error: str = "",
    *,
    requester: str | None = None,
    one_line: bool = False,
    note: str = "",
    metadata: dict[str, Any] | None = None,
) -> Message:
    """How a finished backup reads, whoever started it: the one function that words an outcome.

    The full form (headline, facts, failed roles, the stamp's error, then ``note``) is the completion
    (``requester`` is who started it) and the watch's report (no ``requester``); ``one_line`` is the
    announcement's last edit. ``backup`` is ``None`` when the stamp failed it without a final record; ``error``
    is then the reason. ``metadata`` marks the message (so a retry can find it in the channel).
    """
    said = _say(stamp, backup_id, backup, error, requester)
    if one_line:
        text, blocks = _result_line(said, backup, error)
    elif backup is None:
        text, blocks = _failed_without_record(said, note)
    else:
        text, blocks = _full(said, backup, error, note)
    return Message(text=text, blocks=blocks, metadata=metadata)


def finished_backup_forms(
    stamp: str,
    backup_id: str,
    backup: Backup | None,
    error: str = "",
    *,
    requester: str,
    note: str = "",
    metadata: dict[str, Any] | None = None,
) -> tuple[Message, Message]:
    """:func:`finished_backup` in full and in one line (the outcome and the announcement's last edit), worded
    from one escaped pass."""
    said = _say(stamp, backup_id, backup, error, requester)
    text, blocks = _failed_without_record(said, note) if backup is None else _full(said, backup, error, note)
    line_text, line_blocks = _result_line(said, backup, error)
    return Message(text=text, blocks=blocks, metadata=metadata), Message(text=line_text, blocks=line_blocks)


def _failed_without_record(said: _Said, note: str) -> tuple[str, list[dict[str, Any]]]:
    text = (
        f":x: {_subject(said.requester, None)} `{said.named_id}` on *{said.stamp}* failed: "
        f"{said.error or 'the stamp reported a failure without details'}"
    )
    return text.replace("*", ""), [section(text), *([context(note)] if note else [])]


def _full(said: _Said, backup: Backup, error: str, note: str) -> tuple[str, list[dict[str, Any]]]:
    status, subject = backup.status.lower(), _subject(said.requester, backup)
    headline = _HEADLINES.get(status, f"ended with status {said.status}")
    failed = list(said.failed_roles) if status != "succeeded" else []
    fallback = (
        f"{subject} {said.backup_id} on {said.stamp} {headline}. Status: {said.status}. "
        f"Time taken: {_taken(backup, said.duration)}." + (f" Failed roles: {_role_list(failed)}." if failed else "")
    )
    facts, roles = _backup_facts(backup, said), f"*Failed roles ({len(failed)} of {len(backup.roles)}):* "
    text = f"{_STATUS_EMOJI.get(status, ':grey_question:')} {subject} `{said.backup_id}` on *{said.stamp}* {headline}."
    blocks = [section(text), fields(facts)]
    blocks += [section(roles + _role_list(failed))] if failed else []
    blocks += [context(f"Stamp said: {said.error}")] if error else []
    return fallback, blocks + ([context(note)] if note else [])


def _subject(requester: str | None, backup: Backup | None) -> str:
    """``requester`` is the mention of who started it, if anyone did."""
    if requester is not None:
        return f"{requester} backup"
    return "Scheduled backup" if backup and backup.is_automatic else "Backup"


def _result_line(said: _Said, backup: Backup | None, error: str) -> tuple[str, list[dict[str, Any]]]:
    """:func:`finished_backup`'s one-line form."""
    if backup:
        label, taken, why = _label(backup.status.lower(), said.status), _taken(backup, said.duration), ""
    else:
        label, taken, why = _label("failed", "Failed"), "unknown", f" {said.error}" if error else ""
    text = (
        f"{label}: backup `{said.named_id}` on *{said.stamp}*, started by {said.requester or ''}. "
        f"Time taken: {taken}.{why}"
    )
    return text.replace("*", ""), [section(text)]


def _role_list(roles: list[str]) -> str:
    shown = ", ".join(roles[:MAX_ROLES_SHOWN])
    return shown + (f" and {len(roles) - MAX_ROLES_SHOWN} more" if len(roles) > MAX_ROLES_SHOWN else "")


def on_off(flag: bool | None) -> str:
    return {True: "on", False: "off", None: "unknown"}[flag]


def _backup_facts(backup: Backup, said: _Said) -> list[tuple[str, str]]:
    return [
        ("Backup id", f"`{said.backup_id}`"),
        ("Status", _label(backup.status.lower(), said.status)),
        ("Created", said.created),
        ("Time taken", _taken(backup, said.duration)),
        ("Stamp version", said.version),
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
    return _taken(backup, human_duration(backup.duration_seconds))


def _taken(backup: Backup, duration: str) -> str:
    """:func:`time_taken`, with ``duration`` the backup's :attr:`~Backup.duration_seconds` in words."""
    if backup.reported_seconds is not None:
        return duration
    if backup.measured_seconds is not None:
        return f"{duration} (measured by the bot)"
    return "not reported"


def _kind(backup: Backup) -> str:
    return {True: "scheduled", False: "on demand", None: "unknown"}[backup.is_automatic]


def backup_detail(stamp: str, backup: Backup) -> Message:
    said = _say(stamp, backup.backup_id, backup, "", None)
    stamp = said.stamp
    roles = "\n".join(f"{status_label(r.status)} {escape(r.role)}" for r in backup.roles[:MAX_ROLES_SHOWN])
    roles = roles or "none listed"
    blocks = [
        section(f"*Backup `{escape(backup.backup_id)}` on {stamp}*"),
        fields(_backup_facts(backup, said)),
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
