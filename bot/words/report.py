"""The monthly report's words: the summary message that goes with the uploaded files (per stamp: RPO
compliance, the largest gap, failures and how long until the next good backup, settings and versions that
changed, update windows) and the SHA-256 of each file. Every value from a stamp is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.model.report import Failure, ReportFile, SettingChange, StampCompliance
from bot.words.mrkdwn import MAX_BLOCKS_MESSAGE, MAX_TEXT, Message, context, escape, human_duration, section, when

MAX_LISTED = 5
"""Failures and changes listed per stamp; the CSV has every backup."""
REPORT_EVENT = "azs_backup_monthly_report"


def month_name(month: str) -> str:
    """``2026-07`` -> ``July 2026``."""
    return datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC).strftime("%B %Y")


def percent(ratio: float) -> str:
    """Rounded down to one decimal, so 99.96 % never reads as 100 %."""
    tenths = int(ratio * 1000) / 10
    return f"{tenths:.1f} %"


def compliance_line(c: StampCompliance) -> str:
    """The figure and how it was counted, or why there is none."""
    if not c.has_data:
        return "no backup recorded this month: no compliance figure (the bot saw nothing to count)"
    freq = f"{c.frequency_hours:g} h" + (
        " (assumed: the stamp's default; frequency not known)" if c.frequency_assumed else ""
    )
    excluded = f"; {c.periods_excluded} left out for update windows" if c.periods_excluded else ""
    if c.ratio is None:
        return f"no whole period of {freq} has ended yet{excluded}"
    return (
        f"RPO compliance *{percent(c.ratio)}*: {c.periods_covered} of {c.periods_expected} periods of {freq} "
        f"had a good backup{excluded}"
    )


def _failure(f: Failure) -> str:
    after = (
        f"next good backup {human_duration(f.recovered_after)} later"
        if f.recovered_after is not None
        else "no good backup since"
    )
    return f"`{escape(f.backup_id)}` {escape(f.status)} at {when(f.created)}: {after}"


def stamp_text(c: StampCompliance) -> str:
    lines = [f"*{escape(c.stamp)}*: {compliance_line(c)}", *_counts(c)]
    lines += _listed("Failure", [_failure(f) for f in c.failures])
    lines += _listed("Setting changed", [_setting(s) for s in c.setting_changes])
    lines += _listed("Version", [f"{escape(v.before)} → {escape(v.after)} at {when(v.at)}" for v in c.version_changes])
    lines += _listed(
        "Update window", [f"{when(w.start)} to {when(w.end) if w.end else 'still running'}" for w in c.windows]
    )
    if not c.setting_changes:
        lines.append("No backup setting changed.")
    return "\n".join(lines)


def _counts(c: StampCompliance) -> list[str]:
    lines = []
    if c.has_data:
        lines.append(
            f"Backups: {c.succeeded} succeeded, {c.partial} partly succeeded, {c.failed} failed, {c.other} other"
        )
    if c.largest_gap is not None:
        g = c.largest_gap
        lines.append(
            f"Largest gap without a good backup: {human_duration(g.seconds)} ({when(g.start)} to {when(g.end)})"
        )
    return lines


def _setting(s: SettingChange) -> str:
    return f"{escape(s.setting)} {escape(s.before or 'not seen')} → {escape(s.after or 'none')} at {when(s.at)}"


def _listed(label: str, items: Sequence[str]) -> list[str]:
    shown = [f"• {label}: {item}" for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        shown.append(f"• and {len(items) - MAX_LISTED} more (every backup is in the CSV)")
    return shown


def file_line(file: ReportFile) -> str:
    return f"`{escape(file.name)}` SHA-256 `{file.sha256}`"


def summary(
    month: str, stamps: Sequence[StampCompliance], files: Sequence[ReportFile], chart_missing: str | None
) -> Message:
    """The message posted with the files (``chart_missing``: why there is no chart, when there is none)."""
    head = f":bar_chart: *Backup report for {month_name(month)}* (UTC)"
    blocks = [section(head)]
    for c in stamps[: MAX_BLOCKS_MESSAGE - 4]:
        blocks.append(section(stamp_text(c)))
    notes = [file_line(f) for f in files]
    if chart_missing:
        notes.append(f"No chart: {escape(chart_missing)}")
    notes.append("How compliance is counted: docs/reporting.md")
    blocks.append(context("\n".join(notes)))
    text = "\n\n".join([head, *(stamp_text(c) for c in stamps), *notes]).replace("*", "")
    return Message(text=text, blocks=blocks, metadata={"event_type": REPORT_EVENT, "event_payload": {"month": month}})


def caption(
    month: str,
    stamps: Sequence[StampCompliance],
    files: Sequence[ReportFile],
    chart_missing: str | None,
    tail: str = "",
) -> str:
    """The upload's initial comment (Slack shows it above the files): the month and each file's SHA-256 first, so
    they survive whatever the number of stamps, then each stamp's figures while they fit Slack's message size
    (the rest is in the CSV), then ``tail`` (the monthly schedule's tag)."""
    head = [f"Backup report for {month_name(month)} (UTC)", *(f"{f.name} SHA-256 {f.sha256}" for f in files)]
    if chart_missing:
        head.append(f"No chart: {escape(chart_missing)}")
    room = MAX_TEXT - len("\n".join(head)) - len(tail) - 120  # the "more stamps" line and separators
    body: list[str] = []
    for index, c in enumerate(stamps):
        text = stamp_text(c).replace("*", "")
        if len(text) + 2 > room:
            body.append(f"... and {len(stamps) - index} more stamp(s): every backup is in the CSV.")
            break
        body.append(text)
        room -= len(text) + 2
    parts = ["\n".join(head), *body, "How compliance is counted: docs/reporting.md"]
    return "\n\n".join(parts + ([tail] if tail else []))


def scheduled_tail(tag: str) -> str:
    """The last line of a report the monthly schedule sent: ``tag`` (``report:monthly:2026-11``) as a word of its
    own, so a retry finds the upload in the channel (an upload carries no metadata)."""
    return f"Sent by this channel's monthly report schedule ({tag})"


def no_stamps() -> Message:
    text = ":information_source: No stamp to report on: none is configured or named."
    return Message(text=text, blocks=[section(text)], ok=False)


def uploaded(month: str, stamps: Sequence[str], files: Sequence[ReportFile]) -> Message:
    """The operator's reply once the files are in the channel."""
    names = ", ".join(escape(s) for s in stamps)
    text = f":white_check_mark: The backup report for {month_name(month)} ({names}) is in this channel."
    sums = "\n".join(file_line(f) for f in files)
    return Message(text=f"{text}\n{sums}", blocks=[section(text), context(sums)])


def upload_failed(month: str, error: str) -> Message:
    """Slack refused the files: the usual causes, in the order an operator checks them."""
    text = (
        f":warning: I could not upload the backup report for {month_name(month)}: Slack said `{escape(error)}`. "
        "The app needs the `files:write` scope (reinstall it after adding the scope) and must be in this channel."
    )
    return Message(text=text, blocks=[section(text)], ok=False)


def month_out_of_range(month: str, *, not_started: bool) -> Message:
    """A month the report cannot cover: one that has not started, or one before any stamp kept a backup."""
    why = "has not started yet" if not_started else "is before any backup this bot could have seen"
    text = (
        f":information_source: {month_name(month)} {why}. "
        "Usage: `/azs backup report [YYYY-MM] [stamp|all]` (last month when no month is given)."
    )
    return Message(text=text, blocks=[section(text)], ok=False)


def not_set_up() -> Message:
    text = ":warning: This process was started without the report's stores; ask an admin."
    return Message(text=text, blocks=[section(text)], ok=False)
