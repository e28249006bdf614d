"""Every message the bot shows, as pure functions: data in, Block Kit blocks and fallback text out.

Listeners and the poller only choose which function to call; the words and layout live here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.audit import AuditEntry
from bot.jobs import Job
from bot.models import Backup, BackupLocation, human_duration

START_ACTION_ID = "backup_start"
REPORT_EVENT = "azs_backup_reported"
MAX_ROLES_SHOWN = 30
MAX_BACKUPS_LISTED = 10

USAGE = (
    "*Usage*\n"
    "• `/azs backup` (or `/azs backup start`): start an infrastructure backup, after a confirmation\n"
    "• `/azs backup status`: backups the bot is following\n"
    "• `/azs backup list`: the latest backups, newest first\n"
    "• `/azs backup show <backup id>`: one backup in full, with role statuses\n"
    "• `/azs backup config`: the backup location and scheduler\n"
    "• `/azs backup audit`: who did what, latest first (operators)\n"
    "• `/azs backup watch [all|failures|off]`: tell this channel about every backup that ends (operators)\n"
    "• `/azs backup cancel`: why a backup cannot be cancelled, and what runs\n"
    "• `/azs backup threads on|off`: outcomes in the announcement's thread or as new messages (operators)\n"
    "• `/azs stamps`, `/azs stamps use <stamp>`: the stamps, and this channel's default\n"
    "• `/azs backup <stamp> ...`: any of the above on another stamp\n"
    "• `/azs help`: this help"
)

_STATUS_EMOJI = {"succeeded": ":white_check_mark:", "partialsucceeded": ":warning:", "failed": ":x:",
                 "skipped": ":fast_forward:", "running": ":hourglass_flowing_sand:",
                 "creating": ":hourglass_flowing_sand:", "queued": ":hourglass_flowing_sand:"}
_STATUS_WORDS = {"succeeded": "Succeeded", "partialsucceeded": "Partially succeeded (PartialSucceeded)",
                 "failed": "Failed"}


@dataclass(frozen=True)
class Message:
    """A Slack message: fallback ``text`` (notifications, screen readers) plus ``blocks``."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True
    """False for errors and refusals (recorded as such in the audit trail)."""
    metadata: dict[str, Any] | None = None
    """Slack message metadata: a machine-readable marker, e.g. which job a report belongs to."""

    def as_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"text": self.text, "blocks": self.blocks}
        if self.metadata:
            kwargs["metadata"] = self.metadata
        return kwargs


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in pairs[:10]]}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def when(moment: datetime | float | None) -> str:
    """An absolute UTC time an operator can paste into a ticket."""
    if moment is None or moment == 0:
        return "unknown"
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(moment: datetime | float | None, now: float | None = None) -> str:
    if moment is None or moment == 0:
        return "unknown"
    stamp = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    return human_duration(max(0.0, (now or time.time()) - stamp)) + " ago"


def status_label(status: str) -> str:
    key = status.lower()
    return f"{_STATUS_EMOJI.get(key, ':grey_question:')} {_STATUS_WORDS.get(key, status)}"


def help_message(problem: str | None = None) -> Message:
    lead = f":information_source: {problem}\n\n" if problem else ""
    return Message(text=(lead + USAGE).replace("*", ""), blocks=[_section(lead + USAGE)])


def error_message(text: str) -> Message:
    return Message(text=f"Sorry: {text}", blocks=[_section(f":warning: {text}")], ok=False)


def not_an_operator(user: str, operators_configured: bool, what: str = "start a backup") -> Message:
    how = ("Ask an operator to add your Slack user ID to `AZS_OPERATORS` or you to the operator user group."
           if operators_configured else
           "No operator is configured yet: set `AZS_OPERATORS` to a comma-separated list of Slack user IDs "
           "(e.g. `U012ABCDEF`) or `AZS_OPERATOR_GROUP` to a user group ID, and restart the bot.")
    return error_message(f"<@{user}>, only backup operators may {what}. {how}")


def channel_not_allowed(channel: str) -> Message:
    return error_message(f"the backup bot is not enabled in <#{channel}>. Ask an operator to add the channel to "
                         "`AZS_CHANNELS`, or use one where it is enabled.")


def audit(entries: list[AuditEntry]) -> Message:
    if not entries:
        return Message(text="The audit trail is empty.", blocks=[_section("The audit trail is empty.")])
    lines = [f"{when(e.at)} · <@{e.user}> in <#{e.channel}> · {e.stamp} · `{e.action}` → {e.outcome}"
             for e in entries]
    text = "*Audit trail* (latest first)\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def confirmation(stamp: str, region: str, location: BackupLocation, latest: Backup | None,
                 problems: list[str]) -> Message:
    """The ephemeral "start a backup?" card with the pre-flight facts; no button when a check fails."""
    last = (f"{status_label(latest.status)} `{latest.backup_id}`, {age(latest.created)}" if latest else "none yet")
    pairs = [("Stamp", stamp), ("Region", region), ("Last backup", last),
             ("Free capacity", location.available_capacity or "unknown"),
             ("Scheduler", _on_off(location.scheduler_enabled)), ("Target", location.path or location.blob_url or "-")]
    head = _section(f"*Start an infrastructure backup on {stamp}?* It takes 20-40 minutes and cannot be "
                    "cancelled once started.")
    if problems:
        return Message(text=f"A backup cannot start on {stamp} now: " + " ".join(problems),
                       blocks=[head, _fields(pairs), _section(":no_entry: " + " ".join(problems))], ok=False)
    button = {"type": "button", "action_id": START_ACTION_ID, "style": "primary", "value": stamp,
              "text": {"type": "plain_text", "text": "Start backup"}}
    return Message(text=f"Start an infrastructure backup on {stamp} ({region})? Last backup: {last}.",
                   blocks=[head, _fields(pairs), {"type": "actions", "elements": [button]}])


def starting(stamp: str) -> Message:
    text = f"Starting a backup on {stamp}..."
    return Message(text=text, blocks=[_section(f":hourglass: {text}")])


def started(job: Job) -> Message:
    """The public announcement in the channel; the completion is threaded under it."""
    text = (f":arrow_forward: <@{job.requester}> started infrastructure backup `{job.backup_id}` on "
            f"*{job.stamp}*. I will post the result here when the stamp reports it (usually 20-40 minutes).")
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def already_running(job: Job) -> Message:
    since = job.started_at or job.requested_at
    what = f"backup `{job.backup_id}`" if job.backup_id else "a backup (still being started)"
    text = (f"A backup is already running on *{job.stamp}*: {what}, started by <@{job.requester}> at "
            f"{when(since)} ({age(since)}). Azure Stack Hub runs one backup at a time; nothing new was started.")
    return Message(text=text.replace("*", ""), blocks=[_section(f":no_entry: {text}")])


def start_unknown(stamp: str) -> Message:
    text = (f"The stamp {stamp} did not answer the start request in time. I will check whether the backup "
            "started and report in this channel either way.")
    return Message(text=text, blocks=[_section(f":hourglass: {text}")])


def start_abandoned(job: Job, reason: str) -> Message:
    text = (f"<@{job.requester}> the backup you asked for on *{job.stamp}* at {when(job.requested_at)} did not "
            f"start: {reason} Nothing is running; you can try `/azs backup` again.")
    return Message(text=text.replace("*", ""), blocks=[_section(f":x: {text}")])


def overdue(job: Job, limit_seconds: float) -> Message:
    text = (f":alarm_clock: <@{job.requester}> backup `{job.backup_id}` on *{job.stamp}* has been running for more "
            f"than {human_duration(limit_seconds)} (started {when(job.started_at or job.requested_at)}). Azure Stack "
            "Hub cannot cancel a backup; check the stamp's alerts. I keep following it and will post the result.")
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def completion(job: Job, backup: Backup | None, error: str = "") -> Message:
    """The outcome, tagged with the job id so a re-run can tell it was already posted."""
    message = _completion(job, backup, error)
    marker = {"event_type": REPORT_EVENT, "event_payload": {"job_id": job.job_id, "backup_id": job.backup_id}}
    return Message(text=message.text, blocks=message.blocks, metadata=marker)


def _completion(job: Job, backup: Backup | None, error: str) -> Message:
    """The outcome, from ``backupInfo.status``: the evidence an operator keeps."""
    if backup is None:
        text = (f":x: <@{job.requester}> backup `{job.backup_id}` on *{job.stamp}* failed: "
                f"{error or 'the stamp reported a failure without details'}")
        return Message(text=text.replace("*", ""), blocks=[_section(text)])
    return _outcome(f"<@{job.requester}> backup", job.stamp, backup, f"Stamp said: {error}" if error else "")


def _outcome(subject: str, stamp: str, backup: Backup, note: str = "") -> Message:
    """How a finished backup reads, whoever started it: headline, facts, failed roles."""
    status = backup.status.lower()
    headline = {"succeeded": "succeeded", "partialsucceeded": "only partially succeeded",
                "failed": "failed"}.get(status, f"ended with status {backup.status}")
    text = f"{_STATUS_EMOJI.get(status, ':grey_question:')} {subject} `{backup.backup_id}` on *{stamp}* {headline}."
    blocks = [_section(text), _fields(_backup_facts(backup))]
    failed = backup.failed_roles if status != "succeeded" else []
    if failed:
        blocks.append(_section(f"*Failed roles ({len(failed)} of {len(backup.roles)}):* " + _role_list(failed)))
    if note:
        blocks.append(_context(note))
    fallback = (f"{subject} {backup.backup_id} on {stamp} {headline}. Status: {backup.status}. "
                f"Time taken: {human_duration(backup.time_taken_seconds)}."
                + (f" Failed roles: {', '.join(failed)}." if failed else ""))
    return Message(text=fallback, blocks=blocks)


def _role_list(roles: list[str]) -> str:
    shown = ", ".join(roles[:MAX_ROLES_SHOWN])
    return shown + (f" and {len(roles) - MAX_ROLES_SHOWN} more" if len(roles) > MAX_ROLES_SHOWN else "")


def _on_off(flag: bool | None) -> str:
    return {True: "on", False: "off", None: "unknown"}[flag]


def _backup_facts(backup: Backup) -> list[tuple[str, str]]:
    return [("Backup id", f"`{backup.backup_id}`"), ("Status", status_label(backup.status)),
            ("Created", when(backup.created)), ("Time taken", human_duration(backup.time_taken_seconds)),
            ("Stamp version", backup.stamp_version or "unknown"), ("Kind", _kind(backup)),
            ("Cloud recovery ready", {True: "yes", False: "no", None: "unknown"}[backup.is_cloud_recovery_ready])]


def status(jobs: list[Job], now: float | None = None) -> Message:
    running = [j for j in jobs if j.backup_id or j.state.value == "starting"]
    if not running:
        return Message(text="No backup is running.", blocks=[_section("No backup started from Slack is running.")])
    lines = [f"• *{j.stamp}*: `{j.backup_id or 'starting'}` by <@{j.requester}>, running for "
             f"{human_duration((now or time.time()) - (j.started_at or j.requested_at))}" for j in running]
    text = "*Running backups*\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def backup_list(stamp: str, backups: list[Backup]) -> Message:
    if not backups:
        return Message(text=f"No backups on {stamp} yet.", blocks=[_section(f"No backups on *{stamp}* yet.")])
    lines = [f"{status_label(b.status)} `{b.backup_id}` · {when(b.created)} · "
             f"{human_duration(b.time_taken_seconds)} · {_kind(b)}" for b in backups[:MAX_BACKUPS_LISTED]]
    text = f"*Latest backups on {stamp}* (newest first)\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def _kind(backup: Backup) -> str:
    return {True: "scheduled", False: "on demand", None: "unknown"}[backup.is_automatic]


def backup_detail(stamp: str, backup: Backup) -> Message:
    roles = "\n".join(f"{status_label(r.status)} {r.role}" for r in backup.roles[:MAX_ROLES_SHOWN]) or "none listed"
    blocks = [_section(f"*Backup `{backup.backup_id}` on {stamp}*"), _fields(_backup_facts(backup)),
              _section(f"*Roles*\n{roles}")]
    if backup.encryption_cert_thumbprint:
        blocks.append(_context(f"Encryption certificate thumbprint: {backup.encryption_cert_thumbprint}"))
    return Message(text=f"Backup {backup.backup_id} on {stamp}: {backup.status}", blocks=blocks)


def config(stamp: str, location: BackupLocation) -> Message:
    pairs = [("Target", location.path or location.blob_url or "not configured"),
             ("Scheduler", _on_off(location.scheduler_enabled)),
             ("Frequency", f"every {location.frequency_hours} h" if location.frequency_hours else "unknown"),
             ("Retention", f"{location.retention_days} days" if location.retention_days else "unknown"),
             ("Free capacity", location.available_capacity or "unknown"),
             ("Next backup", when(location.next_backup)), ("Last backup", when(location.last_backup)),
             ("Encryption certificate", location.encryption_cert_thumbprint or "none")]
    return Message(text=f"Backup configuration of {stamp}",
                   blocks=[_section(f"*Backup configuration of {stamp}*"), _fields(pairs)])


def unknown_stamp(name: str, known: list[str]) -> Message:
    return error_message(f"there is no stamp `{name}`. Known stamps: {', '.join(f'`{k}`' for k in known)}.")


def stamps(names: list[str], default: str) -> Message:
    lines = [f"• `{n}`" + (" (this channel's default)" if n == default else "") for n in names]
    text = "*Stamps*\n" + "\n".join(lines) + "\nUse `/azs backup <stamp> ...` for another, or " \
        "`/azs stamps use <stamp>` to change this channel's default."
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def stamp_chosen(channel: str, stamp: str) -> Message:
    text = f"<#{channel}> now uses *{stamp}* when a command names no stamp."
    return Message(text=text.replace("*", ""), blocks=[_section(f":white_check_mark: {text}")])


def threads_set(channel: str, on: bool) -> Message:
    where = "replies in the thread of each announcement (also sent to the channel)" if on else \
        "new messages in the channel"
    text = f"Outcomes in <#{channel}> will be {where}."
    return Message(text=text, blocks=[_section(f":white_check_mark: {text}")])


def watch_set(channel: str, stamp: str, mode: str) -> Message:
    text = {"all": f"<#{channel}> will hear about every backup that ends on *{stamp}* from now on, scheduled "
                   "ones included, and about overdue backups.",
            "failures": f"<#{channel}> will hear about failed and partial backups on *{stamp}* from now on, "
                        "and about overdue backups.",
            "off": f"<#{channel}> no longer watches *{stamp}*."}[mode]
    return Message(text=text.replace("*", ""), blocks=[_section(f":eyes: {text}")])


def watched_backup(stamp: str, backup: Backup) -> Message:
    """A backup the watcher saw end (scheduled or started elsewhere)."""
    return _outcome("Scheduled backup" if backup.is_automatic else "Backup", stamp, backup)


def stale_backups(stamp: str, newest: Backup | None, limit_hours: float, reason: str) -> Message:
    last = (f"the newest successful backup is `{newest.backup_id}` from {when(newest.created)} "
            f"({age(newest.created)})" if newest else "there is no successful backup at all")
    text = (f":rotating_light: *{stamp}* is overdue for a good backup: {last}, more than "
            f"{human_duration(limit_hours * 3600)} ({reason}). Check the stamp's backup alerts and "
            "`/azs backup config`.")
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def cancel_impossible(stamp: str, running: Job | None, stamp_running: Backup | None) -> Message:
    if running is not None:
        since = running.started_at or running.requested_at
        what = (f"The running backup is `{running.backup_id or 'starting'}`, started by <@{running.requester}> at "
                f"{when(since)} ({age(since)}).")
    elif stamp_running is not None:
        what = f"The stamp reports backup `{stamp_running.backup_id}` as {stamp_running.status}."
    else:
        what = "No backup is running now."
    text = (f"Azure Stack Hub cannot cancel, pause or stop an infrastructure backup once it has started; "
            f"it runs to its end (usually 20-40 minutes). {what}")
    return Message(text=text, blocks=[_section(f":information_source: {text}")])


def preflight_refused(stamp: str, reasons: list[str]) -> Message:
    return error_message(f"I did not start a backup on {stamp}: " + " ".join(reasons))


def progress(job: Job, now: float | None = None) -> Message:
    """The announcement, edited while the backup runs."""
    elapsed = human_duration((now or time.time()) - (job.started_at or job.requested_at))
    text = (f":hourglass_flowing_sand: <@{job.requester}> started infrastructure backup `{job.backup_id}` on "
            f"*{job.stamp}*: running for {elapsed} (usually 20-40 minutes).")
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def announcement_final(job: Job, backup: Backup | None, error: str) -> Message:
    """The announcement's last edit: the result in one line."""
    status = backup.status if backup else "Failed"
    taken = human_duration(backup.time_taken_seconds) if backup else "unknown"
    text = (f"{status_label(status)}: backup `{job.backup_id}` on *{job.stamp}*, started by <@{job.requester}>. "
            f"Time taken: {taken}." + (f" {error}" if error and not backup else ""))
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def home(stamp_views: list[tuple[str, Message]]) -> dict[str, Any]:
    """The App Home tab: one section per stamp."""
    title = {"type": "plain_text", "text": "Infrastructure backups"}
    blocks: list[dict[str, Any]] = [{"type": "header", "text": title}]
    for _stamp, view in stamp_views:
        blocks += [{"type": "divider"}, *view.blocks]
    blocks.append(_context(f"Refreshed {when(time.time())}. Use `/azs help` in a channel for commands."))
    return {"type": "home", "blocks": blocks[:100]}


def home_stamp(stamp: str, location: BackupLocation | None, latest: Backup | None, running: Job | None,
               problem: str | None = None) -> Message:
    if problem:
        return Message(text=f"{stamp}: {problem}", blocks=[_section(f"*{stamp}*\n:warning: {problem}")])
    last = (f"{status_label(latest.status)}, {age(latest.created)}, took {human_duration(latest.time_taken_seconds)}"
            if latest else "none yet")
    now_running = (f"`{running.backup_id or 'starting'}` by <@{running.requester}>, running for "
                   f"{human_duration(time.time() - (running.started_at or running.requested_at))}"
                   if running else "none")
    assert location is not None
    pairs = [("Last backup", last), ("Running", now_running), ("Scheduler", _on_off(location.scheduler_enabled)),
             ("Frequency", f"every {location.frequency_hours} h" if location.frequency_hours else "unknown"),
             ("Retention", f"{location.retention_days} days" if location.retention_days else "unknown"),
             ("Free capacity", location.available_capacity or "unknown")]
    return Message(text=f"{stamp}: last backup {last}", blocks=[_section(f"*{stamp}*"), _fields(pairs)])


# --- delivery under faults (issue 10): markers, retried announcements, recovered and refused work ----------------

ANNOUNCE_EVENT = "azs_backup_announced"


def _marked(message: Message, event_type: str, job: Job) -> Message:
    marker = {"event_type": event_type, "event_payload": {"job_id": job.job_id, "backup_id": job.backup_id}}
    return Message(text=message.text, blocks=message.blocks, ok=message.ok, metadata=marker)


def announcement(job: Job) -> Message:
    """The start announcement, tagged with its job so a retry can tell it is already in the channel."""
    return _marked(started(job), ANNOUNCE_EVENT, job)


def completion_unannounced(job: Job, backup: Backup | None, error: str, attempts: int) -> Message:
    """The outcome when the start announcement never reached the channel: it says so, since it stands alone."""
    message = completion(job, backup, error)
    note = _context(f"This backup's start announcement could not be posted (Slack refused it {attempts} times), "
                    "so this result is not in a thread.")
    return Message(text=message.text, blocks=[*message.blocks, note], metadata=message.metadata)


def start_abandoned_notice(job: Job, reason: str) -> Message:
    """:func:`start_abandoned`, tagged like an outcome: it is the job's one report."""
    return _marked(start_abandoned(job, reason), REPORT_EVENT, job)


def start_uncertain(stamp: str, answer: str) -> Message:
    """``createBackup`` got an answer that does not say whether the stamp started the backup (5xx, gateway)."""
    text = (f"The stamp {stamp} answered the start request with an error that does not say whether the backup "
            f"started ({answer}). I will check the stamp's backups and report in this channel either way; nothing "
            "else can start there meanwhile.")
    return Message(text=text, blocks=[_section(f":hourglass: {text}")])


def busy(stamp: str) -> Message:
    """The stamp's work queue is full: refuse at once rather than answer minutes late."""
    text = (f"The bot is busy with earlier requests about {stamp or 'the bot'} (the stamp may be answering slowly). "
            "Nothing was done; try again in a minute.")
    return Message(text=text, blocks=[_section(f":hourglass: {text}")], ok=False)


def restarted_nothing_started(stamp: str) -> Message:
    """A Start click whose process died before acting on it, found too late to act on safely."""
    text = (f"The bot restarted before it could act on your click, so nothing was started on {stamp or 'the stamp'}. "
            "Run `/azs backup` again if you still want a backup.")
    return Message(text=text, blocks=[_section(f":warning: {text}")], ok=False)


def start_unrecorded(stamp: str, backup_id: str) -> Message:
    """``createBackup`` worked but Redis failed recording it: the reconciler adopts the backup from the stamp."""
    text = (f"The stamp {stamp} started backup `{backup_id}`, but the bot's job store (Redis) failed while "
            "recording it. A worker will find it on the stamp and report it in this channel.")
    return Message(text=text, blocks=[_section(f":warning: {text}")])
