"""The App Home tab: one section per stamp, or a short note for someone who may not see stamp details."""

from __future__ import annotations

import time
from typing import Any

from bot.model.backup import Backup
from bot.model.facts import JobFacts
from bot.model.location import BackupLocation
from bot.words.backups import schedule_facts, status_label, time_taken
from bot.words.mrkdwn import (
    HEADER_TEXT_LIMIT,
    MAX_BLOCKS_HOME,
    Message,
    age,
    clip,
    context,
    escape,
    fields,
    human_duration,
    mention_user,
    section,
    when,
)


def home(stamp_views: list[tuple[str, Message]]) -> dict[str, Any]:
    """The App Home tab: one section per stamp."""
    title = {"type": "plain_text", "text": clip("Infrastructure backups", HEADER_TEXT_LIMIT)}
    blocks: list[dict[str, Any]] = [{"type": "header", "text": title}]
    for _stamp, view in stamp_views:
        blocks += [{"type": "divider"}, *view.blocks]
    blocks.append(context(f"Refreshed {when(time.time())}. Use `/azs help` in a channel for commands."))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS_HOME]}


def home_restricted() -> dict[str, Any]:
    """App Home for someone who may not read stamp details (``AZS_CHANNELS`` is set and they are no operator)."""
    title = {"type": "plain_text", "text": "Infrastructure backups"}
    text = (
        "Backup details are shown here to backup operators only. Use `/azs backup status` in a channel where "
        "the bot is enabled."
    )
    return {"type": "home", "blocks": [{"type": "header", "text": title}, section(text)]}


def home_stamp(
    stamp: str,
    location: BackupLocation | None,
    latest: Backup | None,
    running: JobFacts | None,
    problem: str | None = None,
    lines: tuple[str, ...] = (),
) -> Message:
    """``lines``: the bot's own words under the facts (the readiness, the update state, the snapshot's age)."""
    stamp = escape(stamp)
    if problem is not None or location is None:  # an error whose text is empty is still an error
        problem = escape(problem or "the stamp did not answer")
        return Message(text=f"{stamp}: {problem}", blocks=[section(f"*{stamp}*\n:warning: {problem}")])
    last = f"{status_label(latest.status)}, {age(latest.created)}, took {time_taken(latest)}" if latest else "none yet"
    pairs = [("Last backup", last), ("Running", _running(running)), *schedule_facts(location)]
    blocks = [section(f"*{stamp}*"), fields(pairs)]
    if lines:
        blocks.append(context("\n".join(lines)))
    return Message(text=f"{stamp}: last backup {last}", blocks=blocks)


def _running(job: JobFacts | None) -> str:
    if job is None:
        return "none"
    return (
        f"`{escape(job.backup_id or 'starting')}` by {mention_user(job.requester)}, running for "
        f"{human_duration(time.time() - (job.started_at or job.requested_at))}"
    )
