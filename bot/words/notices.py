"""What the watch posts about updates in a watched channel: backups paused by an update and resumed, no backup on the
new version yet (with the Start button), the update location unreadable, and a backup the stamp skipped."""

from __future__ import annotations

from typing import Any

from bot.model.backup import Backup
from bot.words.mrkdwn import Message, context, escape, human_duration, section, when
from bot.words.replies import START_ACTION_ID


def update_running(stamp: str, state: str | None, since: float) -> Message:
    """Once per channel per update: scheduled backups are skipped by design, so no overdue alarm meanwhile."""
    text = (
        f":construction: An update runs on *{escape(stamp)}* (update state `{escape(state or 'unknown')}`, seen "
        f"since {when(since)}). Scheduled backups are skipped by design while the update runs, and on-demand "
        "backups are blocked; I will not call backups overdue until the update state is clean again, and I will "
        "say when it is."
    )
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def update_ended(stamp: str, state: str | None, version: str | None, paused_seconds: float) -> Message:
    text = (
        f":white_check_mark: The update on *{escape(stamp)}* is over (update state `{escape(state or 'unknown')}`, "
        f"version `{escape(version or 'unknown')}`) after {human_duration(paused_seconds)}. Scheduled backups "
        "run again, and so does the overdue alarm."
    )
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def no_backup_on_version(stamp: str, version: str, newest: Backup | None, button_value: str) -> Message:
    """After the version changed: cloud recovery needs a backup at most one version older, so ask for one."""
    last = (
        f"The newest successful backup is `{escape(newest.backup_id)}` from {when(newest.created)}, made on version "
        f"`{escape(newest.stamp_version or 'unknown')}`."
        if newest
        else "There is no successful backup at all."
    )
    text = (
        f":arrows_counterclockwise: *{escape(stamp)}* now runs version `{escape(version)}` and has no successful "
        f"backup made on it yet. {last} Cloud recovery is not supported from a backup more than one version older "
        "than the stamp, so take one now rather than wait for the scheduler."
    )
    button: dict[str, Any] = {
        "type": "button",
        "action_id": START_ACTION_ID,
        "style": "primary",
        "text": {"type": "plain_text", "text": "Start backup"},
    }
    if button_value:  # Slack refuses an empty value; without one the click starts on the channel's stamp
        button["value"] = button_value[:2000]
    return Message(
        text=text.replace("*", ""),
        blocks=[section(text), {"type": "actions", "elements": [button]}, context("Only backup operators can start.")],
    )


def update_permission_missing(stamp: str, why: str) -> Message:
    """Once per stamp per channel: without the update state, an update looks like overdue backups."""
    text = (
        f":lock: I cannot read the update state of *{escape(stamp)}*: {escape(why)} Until that permission is granted, "
        "backups skipped during an update will be reported as overdue."
    )
    return Message(text=text.replace("*", ""), blocks=[section(text)])


def skipped_backup(stamp: str, backup: Backup) -> Message:
    """A ``Skipped`` backup: the stamp skipped a scheduled slot, by design during an update; not a failure."""
    text = (
        f":fast_forward: The stamp skipped scheduled backup `{escape(backup.backup_id)}` on *{escape(stamp)}* "
        f"({when(backup.created)}). The stamp skips scheduled backups by design while an update runs; this is "
        "not a failure."
    )
    return Message(text=text.replace("*", ""), blocks=[section(text)])
