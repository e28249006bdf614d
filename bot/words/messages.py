"""Every message the bot shows, as pure functions: data in, Block Kit blocks and fallback text out.

Listeners and the poller only choose which function to call; the words and layout live here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.model.backup import Backup, BackupLocation, Preflight, human_duration
from bot.model.facts import AuditEntry, JobFacts, Problem, Trouble

START_ACTION_ID = "backup_start"
REPORT_EVENT = "azs_backup_reported"
ANNOUNCE_EVENT = "azs_backup_announced"
OVERDUE_EVENT = "azs_backup_overdue"
MAX_ROLES_SHOWN = 30
MAX_BACKUPS_LISTED = 10
SECTION_TEXT_LIMIT, FIELD_TEXT_LIMIT, MAX_FIELDS, HEADER_TEXT_LIMIT = 3000, 2000, 10, 150
"""Block Kit limits (section text, each field, fields per section, header); see the README's Guarantees."""
MAX_BLOCKS_MESSAGE, MAX_BLOCKS_HOME, MAX_TEXT = 50, 100, 4000

OTHER_STAMP = "`/azs backup &lt;stamp&gt; ...`: any of the above on another stamp"

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


@dataclass(frozen=True)
class Message:
    """A Slack message: fallback ``text`` (notifications, screen readers) plus ``blocks``."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True
    """False for errors and refusals (recorded as such in the audit trail)."""
    metadata: dict[str, Any] | None = None
    """Slack message metadata: a machine-readable marker, e.g. which job a report belongs to."""

    def __post_init__(self) -> None:
        """Slack advises at most 4,000 characters of top-level text (it truncates at 40,000)."""
        object.__setattr__(self, "text", clip(self.text, MAX_TEXT) or " ")

    def as_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"text": self.text, "blocks": self.blocks}
        if self.metadata:
            kwargs["metadata"] = self.metadata
        return kwargs


_FORMATTING = "*_~"
_LOOKALIKE = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": "\u02cb"}
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,30}$")
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_PARTIAL_TAIL = re.compile(r"(&[a-z]{0,4}|<[^<>]*|@\w*)$")  # a cut must not leave a bare "@channel"


def escape(value: object) -> str:
    """Outside text (from a stamp or a user) made inert in mrkdwn: the one way such text enters a message.

    ``& < >`` become entities, so no link, mention (``<!channel>``, ``<@U..>``, ``<#C..>``,
    ``<!subteam^..>``) or date token can form. Line breaks become spaces, so a value cannot start a
    quote (``>``, and a leading one becomes a look-alike) or a list on its own line (runs of white space
    become one space). Backticks, ``*``, ``~``, and ``_`` unless between two ASCII letters or digits
    (where Slack does not read it as italics), become look-alike characters: otherwise a value could open
    bold, italic, strike or code that runs into the bot's own text. Slack has no backslash escape, and a
    value wrapped in code could break out with its own backtick. Intra-word ``_`` stays, so share paths
    and role names copy as they are. A bare
    ``@here``/``@channel``/``@everyone`` gets an invisible word joiner after the ``@``, in case a surface
    parses names (``verbatim`` blocks and ``chat.postMessage`` without ``link_names`` do not).
    """
    text = " ".join(str(value).split())
    text = "\uff1e" + text[1:] if text.startswith(">") else text  # a value may start a line: no quote
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", _LOOKALIKE["`"])
    chars = list(text)
    for i, char in enumerate(chars):
        if char in _FORMATTING and not (
            char == "_" and 0 < i < len(chars) - 1 and _word(chars[i - 1]) and _word(chars[i + 1])
        ):
            chars[i] = _LOOKALIKE[char]
    # Last, so "@channel_" (whose "_" became a look-alike that ends the word) gets its joiner too.
    return _BROADCAST.sub("@\u2060", "".join(chars))  # a word joiner: "@here" can never be read as a mention


def _word(char: str) -> bool:
    return char.isascii() and char.isalnum()


def without_query(url: str) -> str:
    """A URL safe to show: no query string or fragment (a SAS token lives there) and no user info."""
    bare = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = bare.partition("://")
    return scheme + sep + rest.split("@", 1)[-1] if sep else bare


def mention_user(user_id: str) -> str:
    """A mention of a Slack user, only when ``user_id`` looks like one; else the escaped text."""
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else escape(user_id)


def mention_channel(channel_id: str) -> str:
    """A link to a Slack channel, only when ``channel_id`` looks like one; else the escaped text."""
    return f"<#{channel_id}>" if _SLACK_ID.match(channel_id) else escape(channel_id)


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, never cutting an entity (``&amp;``) or a token (``<@U1>``) in two."""
    if len(text) <= limit:
        return text
    return _PARTIAL_TAIL.sub("", text[: limit - 1]) + "\u2026"


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    """``verbatim``: Slack must not turn bare URLs, ``#channel`` or ``@here`` in the text into live links."""
    return {"type": "mrkdwn", "text": clip(text, limit) or " ", "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text, SECTION_TEXT_LIMIT)}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "section", "fields": [_mrkdwn(f"*{k}*\n{v}", FIELD_TEXT_LIMIT) for k, v in pairs[:MAX_FIELDS]]}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text, SECTION_TEXT_LIMIT)]}


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
    return f"{_STATUS_EMOJI.get(key, ':grey_question:')} {_STATUS_WORDS.get(key) or escape(status)}"


def help_message(usage: Sequence[tuple[str, str]], problem: Problem | None = None) -> Message:
    """The usage (rows of the command table: how it is written, what it does; ``help`` last) and what was not
    understood. The rows are the bot's own mrkdwn: a literal "<" or ">" in them is written as an entity."""
    rows = [*usage[:-1], (OTHER_STAMP, ""), *usage[-1:]]
    lines = "\n".join(f"• {how}: {does}" if does else f"• {how}" for how, does in rows)
    text = "*Usage*\n" + lines
    lead = f":information_source: {_problem(problem)}\n\n" if problem else ""
    return Message(text=(lead + text).replace("*", ""), blocks=[_section(lead + text)])


def _quoted(said: str) -> str:
    """The user's words inside inline code: escaped (no backtick can close the code), bounded."""
    return f"`{clip(escape(said), 61)}`"


def _problem(problem: Problem) -> str:
    """What was wrong with the input, in the bot's words around the user's (escaped) ones."""
    said, verb = _quoted(problem.said), f"`/azs backup {escape(problem.verb)}`"
    choices = [f"`{escape(c)}`" for c in problem.choices] or ["nothing"]
    alternatives = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    return {
        Trouble.UNKNOWN_WORD: f"I don't know {said}.",
        Trouble.NOT_A_STAMP: f"{said} is neither a command nor a stamp name.",
        Trouble.STAMPS_USAGE: "Use `/azs stamps` or `/azs stamps use &lt;stamp&gt;`.",
        Trouble.NOT_UNDERSTOOD: f"I don't understand `/azs backup {clip(escape(problem.said), 61)}`.",
        Trouble.NEEDS_ONE_ID: f"{verb} needs one backup id.",
        Trouble.NOT_AN_ID: f"{said} is not a backup id (a GUID).",
        Trouble.CHOICES: f"{verb} takes {alternatives}.",
    }[problem.trouble]


def error_message(text: str, detail: object = "") -> Message:
    """``text`` is the bot's own words; ``detail`` (a stamp's error, say) is outside text and gets escaped."""
    text = f"{text} {escape(detail)}" if detail else text
    return Message(text=f"Sorry: {text}", blocks=[_section(f":warning: {text}")], ok=False)


def not_an_operator(user: str, operators_configured: bool, what: str = "start a backup") -> Message:
    how = (
        "Ask an operator to add your Slack user ID to `AZS_OPERATORS` or you to the operator user group."
        if operators_configured
        else "No operator is configured yet: set `AZS_OPERATORS` to a comma-separated list of Slack user IDs "
        "(e.g. `U012ABCDEF`) or `AZS_OPERATOR_GROUP` to a user group ID, and restart the bot."
    )
    return error_message(f"{mention_user(user)}, only backup operators may {what}. {how}")


def channel_not_allowed(channel: str) -> Message:
    return error_message(
        f"the backup bot is not enabled in {mention_channel(channel)}. Ask an operator to add the "
        "channel to `AZS_CHANNELS`, or use one where it is enabled."
    )


def audit(entries: list[AuditEntry]) -> Message:
    if not entries:
        return Message(text="The audit trail is empty.", blocks=[_section("The audit trail is empty.")])
    lines = [
        f"{when(e.at)} · {mention_user(e.user)} in {mention_channel(e.channel)} · {escape(e.stamp)} · "
        f"`{escape(e.action)}` → {escape(e.outcome)}"
        for e in entries
    ]
    text = "*Audit trail* (latest first)\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def preflight_text(problem: Preflight) -> str:
    """One pre-flight reason in the bot's words, the stamp's values in it escaped."""
    if problem.kind == "unconfigured":
        return (
            "The backup location is not configured (it needs a target share or blob container and an "
            "encryption certificate; see Set-AzsBackupConfiguration)."
        )
    if problem.kind == "running":
        return (
            f"The stamp reports backup `{escape(problem.backup_id)}` as {escape(problem.status)} (started "
            "outside this bot); Azure Stack Hub runs one backup at a time."
        )
    needed = (
        f"the last backup's size ({problem.needed_kb / 1024**2:.1f} GB)"
        if problem.needed_kb
        else "1 GB, the smallest backup Microsoft documents"
    )
    return f"Free capacity ({escape(problem.free)}) is below {needed}; free space on the share first."


def confirmation(
    stamp: str, region: str, location: BackupLocation, latest: Backup | None, problems: list[Preflight]
) -> Message:
    """The ephemeral "start a backup?" card with the pre-flight facts; no button when a check fails."""
    button_value, stamp, region = stamp, escape(stamp), escape(region)
    reasons = [preflight_text(p) for p in problems]
    last = (
        f"{status_label(latest.status)} `{escape(latest.backup_id)}`, {age(latest.created)}" if latest else "none yet"
    )
    pairs = [
        ("Stamp", stamp),
        ("Region", region),
        ("Last backup", last),
        ("Free capacity", escape(location.available_capacity or "unknown")),
        ("Scheduler", _on_off(location.scheduler_enabled)),
        ("Target", _target(location, "-")),
    ]
    head = _section(
        f"*Start an infrastructure backup on {stamp}?* It takes 20-40 minutes and cannot be cancelled once started."
    )
    if reasons:
        return Message(
            text=f"A backup cannot start on {stamp} now: " + " ".join(reasons),
            blocks=[head, _fields(pairs), _section(":no_entry: " + " ".join(reasons))],
            ok=False,
        )
    button = {
        "type": "button",
        "action_id": START_ACTION_ID,
        "style": "primary",
        "value": button_value[:2000],
        "text": {"type": "plain_text", "text": "Start backup"},
    }
    if not button_value:
        del button["value"]  # Block Kit takes no empty value; the click then means the default stamp
    return Message(
        text=f"Start an infrastructure backup on {stamp} ({region})? Last backup: {last}.",
        blocks=[head, _fields(pairs), {"type": "actions", "elements": [button]}],
    )


def starting(stamp: str) -> Message:
    text = f"Starting a backup on {escape(stamp)}..."
    return Message(text=text, blocks=[_section(f":hourglass: {text}")])


def started(job: JobFacts) -> Message:
    """The public announcement (and the clicker's reply): marked with its job, so a retry can find it in the channel."""
    text = (
        f":arrow_forward: {mention_user(job.requester)} started infrastructure backup `{escape(job.backup_id)}` "
        f"on "
        f"*{escape(job.stamp)}*. I will post the result here when the stamp reports it (usually 20-40 minutes)."
    )
    return _marked(Message(text=text.replace("*", ""), blocks=[_section(text)]), ANNOUNCE_EVENT, job)


def already_running(job: JobFacts) -> Message:
    since = job.started_at or job.requested_at
    what = f"backup `{escape(job.backup_id)}`" if job.backup_id else "a backup (still being started)"
    text = (
        f"A backup is already running on *{escape(job.stamp)}*: {what}, started by "
        f"{mention_user(job.requester)} at {when(since)} ({age(since)}). Azure Stack Hub runs one backup at a "
        "time; nothing new was started."
    )
    return Message(text=text.replace("*", ""), blocks=[_section(f":no_entry: {text}")])


def start_unknown(stamp: str) -> Message:
    text = (
        f"The stamp {escape(stamp)} did not answer the start request in time. I will check whether the backup "
        "started and report in this channel either way."
    )
    return Message(text=text, blocks=[_section(f":hourglass: {text}")])


def start_refused(stamp: str, error: str) -> Message:
    """A Start click whose start the stamp refused, told by the process that took the click over."""
    return error_message(f"the backup on {escape(stamp)} did not start:", error or "the stamp refused it")


def no_such_backup(stamp: str, backup_id: str) -> Message:
    return error_message(f"the stamp {escape(stamp)} has no backup `{escape(backup_id)}`.")


def stamp_call_failed(what: str, stamp: str, error: object) -> Message:
    """``what`` is the bot's own words (from the command table); ``error`` is the stamp's answer."""
    return error_message(f"I could not {what} on {escape(stamp)}:", error)


def unexpected_failure(what: str) -> Message:
    return error_message(f"something went wrong while trying to {what}; the details are in the bot's log.")


def start_abandoned(job: JobFacts, reason: str) -> Message:
    text = (
        f"{mention_user(job.requester)} the backup you asked for on *{escape(job.stamp)}* at "
        f"{when(job.requested_at)} did not start: {escape(reason)} Nothing is running; you can try "
        "`/azs backup` again."
    )
    return Message(text=text.replace("*", ""), blocks=[_section(f":x: {text}")])


def overdue(job: JobFacts, limit_seconds: float) -> Message:
    text = (
        f":alarm_clock: {mention_user(job.requester)} backup `{escape(job.backup_id)}` on "
        f"*{escape(job.stamp)}* has been running for more than {human_duration(limit_seconds)} (started "
        f"{when(job.started_at or job.requested_at)}). Azure Stack Hub cannot cancel a backup; check the "
        "stamp's alerts. I keep following it and will post the result."
    )
    return _marked(Message(text=text.replace("*", ""), blocks=[_section(text)]), OVERDUE_EVENT, job)


def completion(job: JobFacts, backup: Backup | None, error: str = "") -> Message:
    """The outcome in the channel, tagged with the job id so a re-run can tell it was already posted."""
    message = finished_backup(job.stamp, job.backup_id, backup, error, requester=job.requester)
    return _marked(message, REPORT_EVENT, job)


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
        return Message(text=text.replace("*", ""), blocks=[_section(text)])
    status = backup.status.lower()
    headline = _HEADLINES.get(status, f"ended with status {escape(backup.status)}")
    text = (
        f"{_STATUS_EMOJI.get(status, ':grey_question:')} {subject} `{escape(backup.backup_id)}` on *{stamp}* "
        f"{headline}."
    )
    failed = [escape(role) for role in backup.failed_roles] if status != "succeeded" else []
    blocks = [_section(text), _fields(_backup_facts(backup))]
    if failed:
        blocks.append(_section(f"*Failed roles ({len(failed)} of {len(backup.roles)}):* " + _role_list(failed)))
    if error:
        blocks.append(_context(f"Stamp said: {escape(error)}"))
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
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def _role_list(roles: list[str]) -> str:
    shown = ", ".join(roles[:MAX_ROLES_SHOWN])
    return shown + (f" and {len(roles) - MAX_ROLES_SHOWN} more" if len(roles) > MAX_ROLES_SHOWN else "")


def _on_off(flag: bool | None) -> str:
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


def status(jobs: Sequence[JobFacts], now: float | None = None) -> Message:
    running = [j for j in jobs if j.backup_id or j.state == "starting"]
    if not running:
        return Message(text="No backup is running.", blocks=[_section("No backup started from Slack is running.")])
    lines = [
        f"• *{escape(j.stamp)}*: `{escape(j.backup_id or 'starting')}` by {mention_user(j.requester)}, "
        f"running for {human_duration((now or time.time()) - (j.started_at or j.requested_at))}"
        for j in running
    ]
    text = "*Running backups*\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def backup_list(stamp: str, backups: list[Backup]) -> Message:
    stamp = escape(stamp)
    if not backups:
        return Message(text=f"No backups on {stamp} yet.", blocks=[_section(f"No backups on *{stamp}* yet.")])
    lines = [
        f"{status_label(b.status)} `{escape(b.backup_id)}` · {when(b.created)} · {time_taken(b)} · {_kind(b)}"
        for b in backups[:MAX_BACKUPS_LISTED]
    ]
    text = f"*Latest backups on {stamp}* (newest first)\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


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
        _section(f"*Backup `{escape(backup.backup_id)}` on {stamp}*"),
        _fields(_backup_facts(backup)),
        _section(f"*Roles*\n{roles}"),
    ]
    if backup.encryption_cert_thumbprint:
        blocks.append(_context(f"Encryption certificate thumbprint: {escape(backup.encryption_cert_thumbprint)}"))
    return Message(text=f"Backup {escape(backup.backup_id)} on {stamp}: {escape(backup.status)}", blocks=blocks)


def _target(location: BackupLocation, missing: str) -> str:
    """The share path, or the blob container without its query string (a SAS token must not reach Slack)."""
    return escape(location.path or (without_query(location.blob_url) if location.blob_url else missing))


def config(stamp: str, location: BackupLocation) -> Message:
    stamp = escape(stamp)
    pairs = [
        ("Target", _target(location, "not configured")),
        ("Scheduler", _on_off(location.scheduler_enabled)),
        ("Frequency", f"every {location.frequency_hours} h" if location.frequency_hours else "unknown"),
        ("Retention", f"{location.retention_days} days" if location.retention_days else "unknown"),
        ("Free capacity", escape(location.available_capacity or "unknown")),
        ("Next backup", when(location.next_backup)),
        ("Last backup", when(location.last_backup)),
        ("Encryption certificate", escape(location.encryption_cert_thumbprint or "none")),
    ]
    return Message(
        text=f"Backup configuration of {stamp}", blocks=[_section(f"*Backup configuration of {stamp}*"), _fields(pairs)]
    )


def unknown_stamp(name: str, known: list[str]) -> Message:
    return error_message(
        f"there is no stamp `{escape(name)}`. Known stamps: {', '.join(f'`{escape(k)}`' for k in known)}."
    )


def stamps(names: list[str], default: str) -> Message:
    lines = [f"• `{escape(n)}`" + (" (this channel's default)" if n == default else "") for n in names]
    text = (
        "*Stamps*\n" + "\n".join(lines) + "\nUse `/azs backup &lt;stamp&gt; ...` for another, or "
        "`/azs stamps use &lt;stamp&gt;` to change this channel's default."
    )
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def stamp_chosen(channel: str, stamp: str) -> Message:
    text = f"{mention_channel(channel)} now uses *{escape(stamp)}* when a command names no stamp."
    return Message(text=text.replace("*", ""), blocks=[_section(f":white_check_mark: {text}")])


def threads_set(channel: str, on: bool) -> Message:
    where = (
        "replies in the thread of each announcement (also sent to the channel)" if on else "new messages in the channel"
    )
    text = f"Outcomes in {mention_channel(channel)} will be {where}."
    return Message(text=text, blocks=[_section(f":white_check_mark: {text}")])


def watch_set(channel: str, stamp: str, mode: str) -> Message:
    where, stamp = mention_channel(channel), escape(stamp)
    text = {
        "all": f"{where} will hear about every backup that ends on *{stamp}* from now on, scheduled "
        "ones included, and about overdue backups.",
        "failures": f"{where} will hear about failed and partial backups on *{stamp}* from now on, "
        "and about overdue backups.",
        "off": f"{where} no longer watches *{stamp}*.",
    }[mode]
    return Message(text=text.replace("*", ""), blocks=[_section(f":eyes: {text}")])


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
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def cancel_impossible(stamp: str, running: JobFacts | None, stamp_running: Backup | None) -> Message:
    if running is not None:
        since = running.started_at or running.requested_at
        what = (
            f"The running backup is `{escape(running.backup_id or 'starting')}`, started by "
            f"{mention_user(running.requester)} at {when(since)} ({age(since)})."
        )
    elif stamp_running is not None:
        what = f"The stamp reports backup `{escape(stamp_running.backup_id)}` as {escape(stamp_running.status)}."
    else:
        what = "No backup is running now."
    text = (
        f"Azure Stack Hub cannot cancel, pause or stop an infrastructure backup once it has started; "
        f"it runs to its end (usually 20-40 minutes). {what}"
    )
    return Message(text=text, blocks=[_section(f":information_source: {text}")])


def preflight_refused(stamp: str, problems: list[Preflight]) -> Message:
    return error_message(f"I did not start a backup on {escape(stamp)}: " + " ".join(map(preflight_text, problems)))


def progress(job: JobFacts, now: float | None = None) -> Message:
    """The announcement, edited while the backup runs."""
    elapsed = human_duration((now or time.time()) - (job.started_at or job.requested_at))
    text = (
        f":hourglass_flowing_sand: {mention_user(job.requester)} started infrastructure backup "
        f"`{escape(job.backup_id)}` on *{escape(job.stamp)}*: running for {elapsed} (usually 20-40 minutes)."
    )
    return Message(text=text.replace("*", ""), blocks=[_section(text)])


def announcement_final(job: JobFacts, backup: Backup | None, error: str) -> Message:
    """The announcement's last edit: the result in one line."""
    return finished_backup(job.stamp, job.backup_id, backup, error, requester=job.requester, one_line=True)


def home(stamp_views: list[tuple[str, Message]]) -> dict[str, Any]:
    """The App Home tab: one section per stamp."""
    title = {"type": "plain_text", "text": clip("Infrastructure backups", HEADER_TEXT_LIMIT)}
    blocks: list[dict[str, Any]] = [{"type": "header", "text": title}]
    for _stamp, view in stamp_views:
        blocks += [{"type": "divider"}, *view.blocks]
    blocks.append(_context(f"Refreshed {when(time.time())}. Use `/azs help` in a channel for commands."))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS_HOME]}


def home_restricted() -> dict[str, Any]:
    """App Home for someone who may not read stamp details (``AZS_CHANNELS`` is set and they are no operator)."""
    title = {"type": "plain_text", "text": "Infrastructure backups"}
    text = (
        "Backup details are shown here to backup operators only. Use `/azs backup status` in a channel where "
        "the bot is enabled."
    )
    return {"type": "home", "blocks": [{"type": "header", "text": title}, _section(text)]}


def home_stamp(
    stamp: str,
    location: BackupLocation | None,
    latest: Backup | None,
    running: JobFacts | None,
    problem: str | None = None,
) -> Message:
    stamp = escape(stamp)
    if problem is not None or location is None:  # an error whose text is empty is still an error
        problem = escape(problem or "the stamp did not answer")
        return Message(text=f"{stamp}: {problem}", blocks=[_section(f"*{stamp}*\n:warning: {problem}")])
    last = f"{status_label(latest.status)}, {age(latest.created)}, took {time_taken(latest)}" if latest else "none yet"
    now_running = (
        f"`{escape(running.backup_id or 'starting')}` by {mention_user(running.requester)}, running for "
        f"{human_duration(time.time() - (running.started_at or running.requested_at))}"
        if running
        else "none"
    )
    pairs = [
        ("Last backup", last),
        ("Running", now_running),
        ("Scheduler", _on_off(location.scheduler_enabled)),
        ("Frequency", f"every {location.frequency_hours} h" if location.frequency_hours else "unknown"),
        ("Retention", f"{location.retention_days} days" if location.retention_days else "unknown"),
        ("Free capacity", escape(location.available_capacity or "unknown")),
    ]
    return Message(text=f"{stamp}: last backup {last}", blocks=[_section(f"*{stamp}*"), _fields(pairs)])


# --- delivery under faults (issue 10): markers, retried announcements, recovered and refused work ----------------


def _marked(message: Message, event_type: str, job: JobFacts) -> Message:
    marker = {"event_type": event_type, "event_payload": {"job_id": job.job_id, "backup_id": job.backup_id}}
    return Message(text=message.text, blocks=message.blocks, ok=message.ok, metadata=marker)


def completion_unannounced(job: JobFacts, backup: Backup | None, error: str, attempts: int) -> Message:
    """The outcome when the start announcement never reached the channel: it says so, since it stands alone."""
    message = completion(job, backup, error)
    note = _context(
        f"This backup's start announcement could not be posted (Slack refused it {attempts} times), "
        "so this result is not in a thread."
    )
    return Message(text=message.text, blocks=[*message.blocks, note], metadata=message.metadata)


def start_abandoned_notice(job: JobFacts, reason: str) -> Message:
    """:func:`start_abandoned`, tagged like an outcome: it is the job's one report."""
    return _marked(start_abandoned(job, reason), REPORT_EVENT, job)


def start_uncertain(stamp: str, status: int) -> Message:
    """``createBackup`` got an answer that does not say whether the stamp started the backup (5xx, gateway)."""
    text = (
        f"The stamp {escape(stamp)} answered the start request with an error that does not say whether the "
        f"backup started (HTTP {int(status)}). I will check the stamp's backups and report in this channel "
        "either way; nothing else can start there meanwhile."
    )
    return Message(text=text, blocks=[_section(f":hourglass: {text}")])


def busy(stamp: str) -> Message:
    """The stamp's work queue is full: refuse at once rather than answer minutes late."""
    text = (
        f"The bot is busy with earlier requests about {escape(stamp) or 'the bot'} "
        "(the stamp may be answering slowly). Nothing was done; try again in a minute."
    )
    return Message(text=text, blocks=[_section(f":hourglass: {text}")], ok=False)


def restarted_nothing_started(stamp: str) -> Message:
    """A Start click whose process died before acting on it, found too late to act on safely."""
    text = (
        f"The bot restarted before it could act on your click, so nothing was started on "
        f"{escape(stamp) or 'the stamp'}. "
        "Run `/azs backup` again if you still want a backup."
    )
    return Message(text=text, blocks=[_section(f":warning: {text}")], ok=False)


def start_unrecorded(stamp: str, backup_id: str) -> Message:
    """``createBackup`` worked but Redis failed recording it: the reconciler adopts the backup from the stamp."""
    text = (
        f"The stamp {escape(stamp)} started backup `{escape(backup_id)}`, but the bot's job store (Redis) "
        "failed while recording it. A worker will find it on the stamp and report it in this channel."
    )
    return Message(text=text, blocks=[_section(f":warning: {text}")])


def rate_limited(per_minute: int) -> Message:
    """One person sent more commands and clicks in a minute than ``AZS_USER_COMMANDS_PER_MINUTE``."""
    text = (
        f"You have sent more than {int(per_minute)} commands and clicks within a minute, the most the bot takes "
        "from one person (so nobody can crowd out the others). Nothing was done; try again in a minute."
    )
    return Message(text=text, blocks=[_section(f":hourglass: {text}")], ok=False)
