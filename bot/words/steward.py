"""How answers read from the stamp's snapshot say how old they are, and the backup history, page by page.

A read command answers from the snapshot the worker keeps (:mod:`bot.state.snapshots`), not from the stamp, so
every such answer says when the stamp was read ("as of 2m ago") and, when the snapshot is stale, that it is, with
its age and the stamp's last error. The history (``/azs backup history [days] [page N]``) is what the bot recorded
itself (:mod:`bot.state.history`), kept long after the stamp deleted the backups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.model.backup import Backup, Outcome
from bot.model.history import HistoryEntry
from bot.model.snapshot import SnapshotView
from bot.model.update import UpdateClass, UpdateLocation
from bot.words.backups import status_label
from bot.words.mrkdwn import (
    MAX_BLOCKS_MESSAGE,
    SECTION_TEXT_LIMIT,
    Message,
    context,
    escape,
    human_duration,
    section,
    when,
)

HISTORY_PAGE_SIZE = 25
"""History entries per page: one line each (about 150 characters), so a page is a few sections, far below
Slack's 50 blocks and 3,000 characters a section."""

_HISTORY_STATUS = {
    Outcome.SUCCEEDED: ":white_check_mark: succeeded",
    Outcome.PARTIAL: ":warning: partial",
    Outcome.FAILED: ":x: failed",
    Outcome.RUNNING: ":hourglass_flowing_sand: running",
    Outcome.DELETED: ":wastebasket: deleted",
}


def freshness(view: SnapshotView | None) -> str:
    """One line under an answer from the snapshot: its age, and whether (and why) it is stale."""
    if view is None or view.age is None:
        return ":grey_question: The stamp has not been read yet."
    age = f"as of {human_duration(view.age)} ago"
    if not view.stale:
        return f"Read from the stamp {age}."
    snapshot = view.snapshot
    why = "the stamp has not been read again since"
    if snapshot.error and snapshot.error_at is not None:
        part = escape(snapshot.error_part or "stamp")
        why = f"the last read ({part}, {when(snapshot.error_at)}) failed: {escape(snapshot.error)}"
    return f":warning: *Stale*: {age}; {why}."


def with_freshness(message: Message, view: SnapshotView | None) -> Message:
    """``message`` with the snapshot's age under it (in the blocks and the fallback text)."""
    line = freshness(view)
    blocks = [*message.blocks[: MAX_BLOCKS_MESSAGE - 1], context(line)]
    text = f"{message.text} ({line.replace('*', '').replace(':warning: ', '')})"
    return Message(text=text, blocks=blocks, ok=message.ok, metadata=message.metadata)


def update_line(update: UpdateLocation | None, kind: UpdateClass, denied: str | None = None) -> str:
    """The stamp's update state in one line (status, App Home, the dr card)."""
    if update is None:
        return "not readable: " + escape(denied) if denied else "unknown"
    state, version = escape(update.state or "unknown"), escape(update.current_version or "unknown")
    if kind is UpdateClass.RUNNING:
        return (
            f":construction: an update is running ({state}); the stamp skips scheduled backups and refuses "
            f"on-demand ones until it ends. Version {version}."
        )
    if kind is UpdateClass.FAILED:
        return (
            f":construction: the last update did not finish ({state}); backups count as paused until the update "
            f"state is clean again. Version {version}."
        )
    return f"{state}, version {version}" + (
        f", last updated {when(update.last_updated)}" if update.last_updated else ""
    )


def history_status(entry: HistoryEntry) -> str:
    """``Skipped`` reads as skipped and ``PartialSucceeded`` as partial; an unknown status as it is."""
    if entry.outcome is Outcome.SKIPPED:
        known = entry.status.strip().lower() == "skipped"
        return ":fast_forward: skipped" if known else f":grey_question: {escape(entry.status)}"
    return _HISTORY_STATUS[entry.outcome]


def _ready(entry: HistoryEntry) -> str:
    ready = entry.is_cloud_recovery_ready is True and entry.completely_uploaded is not False
    if entry.is_cloud_recovery_ready is None:
        return "recovery-ready unknown"
    return "recovery-ready" if ready and entry.outcome is Outcome.SUCCEEDED else "not recovery-ready"


def history_line(entry: HistoryEntry) -> str:
    versions = escape(entry.stamp_version or "version unknown")
    if entry.oem_version:
        versions += f" (OEM {escape(entry.oem_version)})"
    return (
        f"{history_status(entry)} `{escape(entry.backup_id)}` · {when(entry.created_at or entry.first_seen)} · "
        f"{human_duration(entry.duration_seconds) if entry.duration_seconds else 'duration unknown'} · "
        f"{escape(entry.kind or 'kind unknown')} · {versions} · {_ready(entry)}"
    )


def _sections(lines: Sequence[str], head: str) -> list[dict[str, Any]]:
    """``head`` and ``lines`` in as few sections as Slack's 3,000 characters a section allow."""
    blocks, text = [], head
    for line in lines:
        if len(text) + 1 + len(line) > SECTION_TEXT_LIMIT:
            blocks.append(section(text))
            text = line
        else:
            text = f"{text}\n{line}"
    blocks.append(section(text))
    return blocks


def history_page(
    stamp: str,
    entries: Sequence[HistoryEntry],
    *,
    days: int,
    page: int,
    total: int,
    more: bool,
    kept_days: int,
    asked_days: int,
) -> Message:
    """One page of the history, newest first, with how to ask for the next one."""
    stamp = escape(stamp)
    if not entries:
        text = f"No backups recorded on {stamp} in the last {days} days" + (f" (page {page})" if page > 1 else "")
        return Message(text=text + ".", blocks=[section(f"{text}.")])
    first = (page - 1) * HISTORY_PAGE_SIZE + 1
    head = f"*Backup history of {stamp}*, last {days} days, newest first: {first}-{first + len(entries) - 1} of {total}"
    blocks = _sections([history_line(e) for e in entries], head)
    notes = [f"Kept {kept_days} days by the bot, whether or not the stamp still has them."]
    if asked_days > days:
        notes.append(f"You asked for {asked_days} days; the bot keeps {kept_days} (`AZS_HISTORY_DAYS`).")
    if more:
        notes.append(f"More: `/azs backup {stamp} history {days} page {page + 1}`.")
    blocks.append(context(" ".join(notes)))
    fallback = f"Backup history of {stamp}, last {days} days: {len(entries)} of {total} backups shown (page {page})."
    return Message(text=fallback, blocks=blocks[:MAX_BLOCKS_MESSAGE])


def from_history(message: Message, first_seen: float) -> Message:
    """A backup the stamp no longer lists, shown as the bot recorded it."""
    line = f"From the bot's history (first seen {when(first_seen)}): the stamp no longer lists this backup."
    return Message(text=f"{message.text} ({line})", blocks=[*message.blocks, context(line)], ok=message.ok)


def stamp_status(following: Message, stamp: str, running: Backup | None, latest: Backup | None, update: str) -> Message:
    """The stamp as last read, under the backups the bot follows (``following``, :func:`bot.words.replies.status`):
    what runs there, its last backup, its update state (``update``: :func:`update_line`'s words)."""
    on_stamp = (
        f"{status_label(running.status)} `{escape(running.backup_id)}`, created {when(running.created)}"
        if running
        else "none"
    )
    last = f"{status_label(latest.status)} `{escape(latest.backup_id)}`, {when(latest.created)}" if latest else "none"
    text = f"*On {escape(stamp)}*\nRunning on the stamp: {on_stamp}\nLast backup: {last}\nUpdate: {update}"
    return Message(
        text=f"{following.text} {text.replace('*', '')}",
        blocks=[*following.blocks[: MAX_BLOCKS_MESSAGE - 2], section(text)],
    )
