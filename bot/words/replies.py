"""Answers to commands and clicks, shown only to whoever asked: help, refusals, errors, the Start card, and what
each command says it did.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.model.backup import Backup
from bot.model.facts import AuditEntry, JobFacts, Problem, Trouble
from bot.model.location import BackupLocation, Preflight
from bot.words.backups import on_off, status_label, target
from bot.words.mrkdwn import (
    Message,
    age,
    clip,
    escape,
    fields,
    human_duration,
    mention_channel,
    mention_user,
    section,
    when,
)

START_ACTION_ID = "backup_start"
OTHER_STAMP = "`/azs backup &lt;stamp&gt; ...`: any of the above on another stamp"


def help_message(usage: Sequence[tuple[str, str]], problem: Problem | None = None) -> Message:
    """The usage (rows of the command table: how it is written, what it does; ``help`` last) and what was not
    understood. The rows are the bot's own mrkdwn: a literal "<" or ">" in them is written as an entity."""
    rows = [*usage[:-1], (OTHER_STAMP, ""), *usage[-1:]]
    lines = "\n".join(f"• {how}: {does}" if does else f"• {how}" for how, does in rows)
    text = "*Usage*\n" + lines
    lead = f":information_source: {_problem(problem)}\n\n" if problem else ""
    return Message(text=(lead + text).replace("*", ""), blocks=[section(lead + text)])


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
    return Message(text=f"Sorry: {text}", blocks=[section(f":warning: {text}")], ok=False)


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
        return Message(text="The audit trail is empty.", blocks=[section("The audit trail is empty.")])
    lines = [
        f"{when(e.at)} · {mention_user(e.user)} in {mention_channel(e.channel)} · {escape(e.stamp)} · "
        f"`{escape(e.action)}` → {escape(e.outcome)}{_repeats(e)}"
        for e in entries
    ]
    text = "*Audit trail* (latest first)\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def _repeats(entry: AuditEntry) -> str:
    """A refusal counted on one entry: " (17 times in 43 s)"."""
    if entry.count <= 1:
        return ""
    span = max(0.0, entry.at - (entry.first_at or entry.at))
    return f" ({entry.count} times in {span:.0f} s)"


def preflight_text(problem: Preflight) -> str:
    """One pre-flight reason in the bot's words, the stamp's values in it escaped."""
    if problem.kind == "unconfigured":
        return (
            "The backup location is not configured (it needs a target share or blob container and an "
            "encryption certificate; see Set-AzsBackupConfiguration)."
        )
    if problem.kind == "update":
        return (
            f"An update is running on the stamp (update state {escape(problem.status)}): Azure Stack Hub skips "
            "scheduled backups and refuses on-demand ones until the update ends. Try again once it has."
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
        ("Scheduler", on_off(location.scheduler_enabled)),
        ("Target", target(location, "-")),
    ]
    head = section(
        f"*Start an infrastructure backup on {stamp}?* It takes 20-40 minutes and cannot be cancelled once started."
    )
    if reasons:
        return Message(
            text=f"A backup cannot start on {stamp} now: " + " ".join(reasons),
            blocks=[head, fields(pairs), section(":no_entry: " + " ".join(reasons))],
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
        blocks=[head, fields(pairs), {"type": "actions", "elements": [button]}],
    )


def starting(stamp: str) -> Message:
    text = f"Starting a backup on {escape(stamp)}..."
    return Message(text=text, blocks=[section(f":hourglass: {text}")])


def already_running(job: JobFacts) -> Message:
    since = job.started_at or job.requested_at
    what = f"backup `{escape(job.backup_id)}`" if job.backup_id else "a backup (still being started)"
    text = (
        f"A backup is already running on *{escape(job.stamp)}*: {what}, started by "
        f"{mention_user(job.requester)} at {when(since)} ({age(since)}). Azure Stack Hub runs one backup at a "
        "time; nothing new was started."
    )
    return Message(text=text.replace("*", ""), blocks=[section(f":no_entry: {text}")])


def start_unknown(stamp: str) -> Message:
    text = (
        f"The stamp {escape(stamp)} did not answer the start request in time. I will check whether the backup "
        "started and report in this channel either way."
    )
    return Message(text=text, blocks=[section(f":hourglass: {text}")])


def start_refused(stamp: str, error: str) -> Message:
    """A Start click whose start the stamp refused, told by the process that took the click over."""
    return error_message(f"the backup on {escape(stamp)} did not start:", error or "the stamp refused it")


def start_blocked_by_update(stamp: str, error: object) -> Message:
    """``createBackup`` refused because an update (or a hardware replacement) runs on the stamp."""
    return error_message(
        f"the backup on {escape(stamp)} did not start: an update (or a hardware replacement) is running, and "
        "Azure Stack Hub refuses on-demand backups until it ends. Nothing was started; start one once the update "
        "is done. The stamp said:",
        error,
    )


def no_such_backup(stamp: str, backup_id: str) -> Message:
    return error_message(f"the stamp {escape(stamp)} has no backup `{escape(backup_id)}`.")


def stamp_call_failed(what: str, stamp: str, error: object) -> Message:
    """``what`` is the bot's own words (from the command table); ``error`` is the stamp's answer."""
    return error_message(f"I could not {what} on {escape(stamp)}:", error)


def redis_down() -> Message:
    """Redis did not answer while a command or click was being answered."""
    return error_message(
        "the bot's job store (Redis) is not answering, so nothing was started or read. "
        "Try again in a minute; if it persists, check the Redis service."
    )


def not_a_backup_id() -> Message:
    return error_message("a backup id is a GUID, such as 3f2504e0-4f89-11d3-9a0c-0305e82c3301.")


def unexpected_failure(what: str) -> Message:
    return error_message(f"something went wrong while trying to {what}; the details are in the bot's log.")


def status(jobs: Sequence[JobFacts], now: float | None = None) -> Message:
    running = [j for j in jobs if j.backup_id or j.state == "starting"]
    if not running:
        return Message(text="No backup is running.", blocks=[section("No backup started from Slack is running.")])
    lines = [
        f"• *{escape(j.stamp)}*: `{escape(j.backup_id or 'starting')}` by {mention_user(j.requester)}, "
        f"running for {human_duration((now or time.time()) - (j.started_at or j.requested_at))}"
        for j in running
    ]
    text = "*Running backups*\n" + "\n".join(lines)
    return Message(text=text.replace("*", ""), blocks=[section(text)])


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
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def stamp_chosen(channel: str, stamp: str) -> Message:
    text = f"{mention_channel(channel)} now uses *{escape(stamp)}* when a command names no stamp."
    return Message(text=text.replace("*", ""), blocks=[section(f":white_check_mark: {text}")])


def threads_set(channel: str, on: bool) -> Message:
    where = (
        "replies in the thread of each announcement (also sent to the channel)" if on else "new messages in the channel"
    )
    text = f"Outcomes in {mention_channel(channel)} will be {where}."
    return Message(text=text, blocks=[section(f":white_check_mark: {text}")])


def watch_set(channel: str, stamp: str, mode: str) -> Message:
    where, stamp = mention_channel(channel), escape(stamp)
    text = {
        "all": f"{where} will hear about every backup that ends on *{stamp}* from now on, scheduled "
        "ones included, and about overdue backups.",
        "failures": f"{where} will hear about failed and partial backups on *{stamp}* from now on, "
        "and about overdue backups.",
        "off": f"{where} no longer watches *{stamp}*.",
    }[mode]
    return Message(text=text.replace("*", ""), blocks=[section(f":eyes: {text}")])


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
    return Message(text=text, blocks=[section(f":information_source: {text}")])


def preflight_refused(stamp: str, problems: list[Preflight]) -> Message:
    return error_message(f"I did not start a backup on {escape(stamp)}: " + " ".join(map(preflight_text, problems)))


def start_uncertain(stamp: str, status: int) -> Message:
    """``createBackup`` got an answer that does not say whether the stamp started the backup (5xx, gateway)."""
    text = (
        f"The stamp {escape(stamp)} answered the start request with an error that does not say whether the "
        f"backup started (HTTP {int(status)}). I will check the stamp's backups and report in this channel "
        "either way; nothing else can start there meanwhile."
    )
    return Message(text=text, blocks=[section(f":hourglass: {text}")])


def busy(stamp: str) -> Message:
    """The stamp's work queue is full: refuse at once rather than answer minutes late."""
    text = (
        f"The bot is busy with earlier requests about {escape(stamp) or 'the bot'} "
        "(the stamp may be answering slowly). Nothing was done; try again in a minute."
    )
    return Message(text=text, blocks=[section(f":hourglass: {text}")], ok=False)


def restarted_nothing_started(stamp: str) -> Message:
    """A Start click whose process died before acting on it, found too late to act on safely."""
    text = (
        f"The bot restarted before it could act on your click, so nothing was started on "
        f"{escape(stamp) or 'the stamp'}. "
        "Run `/azs backup` again if you still want a backup."
    )
    return Message(text=text, blocks=[section(f":warning: {text}")], ok=False)


def start_unrecorded(stamp: str, backup_id: str) -> Message:
    """``createBackup`` worked but Redis failed recording it: the reconciler adopts the backup from the stamp."""
    text = (
        f"The stamp {escape(stamp)} started backup `{escape(backup_id)}`, but the bot's job store (Redis) "
        "failed while recording it. A worker will find it on the stamp and report it in this channel."
    )
    return Message(text=text, blocks=[section(f":warning: {text}")])


def rate_limited(per_minute: int) -> Message:
    """One person sent more commands and clicks in a minute than ``AZS_USER_COMMANDS_PER_MINUTE``."""
    text = (
        f"You have sent more than {int(per_minute)} commands and clicks within a minute, the most the bot takes "
        "from one person (so nobody can crowd out the others). Nothing was done; try again in a minute."
    )
    return Message(text=text, blocks=[section(f":hourglass: {text}")], ok=False)
