"""Notification lag: from the moment the stamp finished a backup (``sim.finished_at``) to the moment the
completion ``chat.postMessage`` reached Slack, with ``azs-bot web`` and ``azs-bot worker`` as the Procfile runs
them, ``AZS_POLL_INTERVAL=2``.

First with the stamp's ``Retry-After: 1`` (shorter than the interval, so the interval rules), K backups one
after the other; then with ``Retry-After: 5`` (longer, so it must rule): lag, and how often the worker
polled the operation URL.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from typing import Any

from bench.common import (
    CHANNEL,
    OPERATOR,
    SIGNING_SECRET,
    STAMP,
    Section,
    verdict,
)
from bench.lab import Lab
from bot.words.posts import ANNOUNCE_EVENT, REPORT_EVENT
from bot.words.replies import START_ACTION_ID
from devkit.localrun import BotProcess, SlackRequests, event_payload, launch_web, wait_until
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack

POLL_INTERVAL = 2.0
BACKUPS = 5
# ~3 s each, staggered by 0.4 s, so the end of each backup falls at a different point of the poll cycle.
BACKUP_SECONDS = tuple(3.0 + 0.4 * k for k in range(BACKUPS))
LONG_RETRY_AFTER = 5
LONG_BACKUP_SECONDS = (11.0, 13.5)


@dataclass
class Followed:
    backup_id: str
    lag: float
    polls: list[float]  # when the stamp answered each GET of this backup's operation URL


def marked_backup_id(payload: dict[str, Any], event_type: str) -> str | None:
    """The backup id a message marked ``event_type`` carries in its metadata."""
    marked = event_payload(payload, event_type)
    return str(marked["backup_id"]) if marked else None


def start_and_follow(client: SlackRequests, slack: FakeSlack, sim: StampSimulator) -> Followed:
    """Click "Start backup" as an operator, then wait for the completion message in Slack."""
    response, hook = client.click(START_ACTION_ID, user=OPERATOR, channel=CHANNEL, value=STAMP)
    if response.status_code != 200:
        raise RuntimeError(f"the click was refused: HTTP {response.status_code}")

    def announced() -> str | None:
        return next(
            (i for i in (marked_backup_id(p.payload, ANNOUNCE_EVENT) for p in slack.hook_posts(hook)) if i), None
        )

    if not wait_until(lambda: announced() is not None, timeout=20):
        raise RuntimeError(f"no backup was started: {[p.payload for p in slack.hook_posts(hook)]}")
    backup_id = str(announced())

    def completion_at() -> float | None:
        return next(
            (c.at for c in slack.calls("chat.postMessage") if marked_backup_id(c.payload, REPORT_EVENT) == backup_id),
            None,
        )

    if not wait_until(lambda: completion_at() is not None, timeout=sim.backup_seconds + 30, interval=0.02):
        raise RuntimeError(f"backup {backup_id} was never reported")
    followed = [
        r
        for r in sim.requests_log
        if r.method == "GET" and r.kind in ("operationResults", "asyncOperation") and backup_id in r.path
    ]
    # Polls are the GETs of the URL the bot follows; once that says "done", the bot reads the final backup from
    # the other operation URL right away (final-state-via: location), which is not a poll.
    polls = [r.time for r in followed if r.kind == followed[0].kind] if followed else []
    return Followed(backup_id, float(completion_at() or 0.0) - sim.finished_at[backup_id], polls)


def run(lab: Lab) -> Section:
    lab.flush_redis()
    sim = lab.simulator(retry_after=1, backup_seconds=BACKUP_SECONDS[0], lro_style="async")
    env = lab.bot_env(sim, poll_interval=POLL_INTERVAL)
    processes: list[BotProcess] = []
    try:
        web, base = launch_web(env, lab.log_dir, healthy=True)
        processes.append(web)
        processes.append(BotProcess("worker", env, lab.log_dir))
        client = SlackRequests(base, SIGNING_SECRET, lab.slack.response_url)
        short = []
        for seconds in BACKUP_SECONDS:
            sim.backup_seconds = seconds
            short.append(start_and_follow(client, lab.slack, sim))
        sim.retry_after = LONG_RETRY_AFTER
        polls_before = sim.count("GET", "operationResults")
        long = []
        for seconds in LONG_BACKUP_SECONDS:
            sim.backup_seconds = seconds
            long.append(start_and_follow(client, lab.slack, sim))
        polls_long = sim.count("GET", "operationResults") - polls_before
    finally:
        for process in processes:
            process.stop()
        sim.stop()
        lab.slack.clear()
    return section(short, long, polls_long)


def section(short: list[Followed], long: list[Followed], polls_long: int) -> Section:
    out = Section(
        "2. Notification lag: stamp finished -> completion chat.postMessage received",
        [
            "Retry-After",
            "poll interval",
            "backups",
            "lag min s",
            "lag median s",
            "lag max s",
            "target",
            "met",
            "polls per backup",
            "shortest gap between polls s",
        ],
    )
    for retry_after, runs in ((1, short), (LONG_RETRY_AFTER, long)):
        lags = [r.lag for r in runs]
        bound = max(POLL_INTERVAL, retry_after) + 1.0
        gaps = [b - a for r in runs for a, b in itertools.pairwise(r.polls)]
        out.rows.append(
            [
                f"{retry_after} s",
                f"{POLL_INTERVAL:.0f} s",
                str(len(runs)),
                f"{min(lags):.2f}",
                f"{statistics.median(lags):.2f}",
                f"{max(lags):.2f}",
                f"<= {bound:.0f} s ({'interval' if retry_after < POLL_INTERVAL else 'Retry-After'} + 1 s)",
                verdict(max(lags) <= bound),
                " / ".join(str(len(r.polls)) for r in runs),
                f"{min(gaps):.2f}" if gaps else "-",
            ]
        )
    gaps_long = [b - a for r in long for a, b in itertools.pairwise(r.polls)]
    out.notes += [
        f"Backups of {', '.join(f'{s:.1f}' for s in BACKUP_SECONDS)} s (Retry-After 1) and "
        f"{', '.join(f'{s:.1f}' for s in LONG_BACKUP_SECONDS)} s (Retry-After {LONG_RETRY_AFTER}), one after "
        "the other, each started by a signed click on 'Start backup' sent to azs-bot web; azs-bot worker polls.",
        f"Lags (s): Retry-After 1: {', '.join(f'{r.lag:.2f}' for r in short)}; Retry-After {LONG_RETRY_AFTER}: "
        f"{', '.join(f'{r.lag:.2f}' for r in long)}.",
        f"Retry-After {LONG_RETRY_AFTER}: {polls_long} GETs of operationResults in all; the worker never polled "
        f"sooner than Retry-After: {verdict(all(g >= LONG_RETRY_AFTER - 0.05 for g in gaps_long))} "
        f"(gaps {', '.join(f'{g:.2f}' for g in gaps_long)} s).",
    ]
    return out
