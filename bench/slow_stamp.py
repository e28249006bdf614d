"""Slow-stamp fairness: how long the reply to ``/azs backup fast`` (the Start card, which reads its stamp live)
takes while stamp ``slow`` answers each call in 6 s with three ``/azs backup slow`` cards queued, against the same
reply with no slow stamp, measured in alternating rounds of one run against ``azs-bot web`` (two stamps, from
``AZS_STAMPS_FILE``). The card is the command that still asks the stamp: reads answer from the snapshot (table 8).

Reply latency is from sending the signed command to the fake Slack receiving its ``response_url`` post. Before
per-stamp lanes, the after-ack pool had one thread for everything, and the fast stamp's reply waited for the
slow stamp's queue (over 15 s).
"""

from __future__ import annotations

import time

from bench.common import CHANNEL, OPERATOR, SIGNING_SECRET, Section, percentile, verdict
from bench.lab import Lab
from devkit.localrun import BotProcess, SlackRequests, launch_web, wait_until, write_stamps_file
from devkit.simulator import Fault
from devkit.slack_fake import FakeSlack

TARGET_RATIO = 1.2
SLOW_SECONDS = 6.0
QUEUED = 3
ROUNDS = 2
SAMPLES_PER_ROUND = 3


def reply_seconds(client: SlackRequests, slack: FakeSlack, text: str, timeout: float = 30.0) -> float:
    """Send ``/azs <text>``; seconds until the operator sees the answer: the ack itself when it carries it (``help``,
    a read the snapshot answers), else the ``response_url`` post; ``inf`` if none came in ``timeout``."""
    began = time.time()  # the fake stamps its records with time.time()
    response, hook = client.command(text, user=OPERATOR, channel=CHANNEL)
    if response.status_code != 200:
        raise RuntimeError(f"/azs {text} was refused: HTTP {response.status_code}")
    if response.content.strip():
        return time.time() - began
    if not wait_until(lambda: bool(slack.hook_posts(hook)), timeout=timeout, interval=0.01):
        return float("inf")
    return slack.hook_posts(hook)[0].at - began


def run(lab: Lab) -> Section:
    lab.flush_redis()
    slow, fast = lab.simulator(retry_after=0), lab.simulator(retry_after=0)
    env = lab.bot_env(slow, poll_interval=2.0)
    env["AZS_STAMPS_FILE"] = write_stamps_file(lab.log_dir / "slow-stamp.toml", {"slow": slow, "fast": fast})
    processes: list[BotProcess] = []
    baseline: list[float] = []
    contended: list[float] = []
    try:
        web, base = launch_web(env, lab.log_dir, healthy=True)
        processes.append(web)
        client = SlackRequests(base, SIGNING_SECRET, lab.slack.response_url)
        for text in ("backup fast", "backup slow"):  # log in to both stamps first
            reply_seconds(client, lab.slack, text)
        for _ in range(ROUNDS):
            baseline += [reply_seconds(client, lab.slack, "backup fast") for _ in range(SAMPLES_PER_ROUND)]
            slow.inject(Fault(status=0, delay=SLOW_SECONDS, times=QUEUED))
            for _ in range(QUEUED):
                client.command("backup slow", user=OPERATOR, channel=CHANNEL)
            time.sleep(0.2)
            contended += [reply_seconds(client, lab.slack, "backup fast") for _ in range(SAMPLES_PER_ROUND)]
            wait_until(lambda: slow.state()["pending_faults"] == 0, timeout=QUEUED * SLOW_SECONDS + 10)
            time.sleep(SLOW_SECONDS + 1)  # the last slow call drains before the next baseline
    finally:
        for process in processes:
            process.stop()
        slow.stop()
        fast.stop()
        lab.slack.clear()
    return section(baseline, contended)


def section(baseline: list[float], contended: list[float]) -> Section:
    out = Section(
        "5. Slow stamp: reply about a fast stamp while another stamp answers in 6 s",
        ["scenario", "n", "p50 ms", "max ms", "contended/baseline max", f"<= {TARGET_RATIO}x"],
    )
    ratio = max(contended) / max(baseline) if baseline and contended else float("nan")
    for name, values in (("no slow stamp", baseline), (f"slow stamp, {QUEUED} commands queued", contended)):
        out.rows.append(
            [
                name,
                str(len(values)),
                f"{1000 * percentile(values, 50):.0f}",
                f"{1000 * max(values):.0f}",
                f"{ratio:.2f}" if values is contended else "-",
                verdict(ratio <= TARGET_RATIO) if values is contended else "-",
            ]
        )
    out.notes += [
        f"{ROUNDS} rounds of {SAMPLES_PER_ROUND} baseline replies then {SAMPLES_PER_ROUND} contended ones; in each "
        f"contended round stamp 'slow' delays its next {QUEUED} calls by {SLOW_SECONDS:.0f} s and {QUEUED} "
        "'/azs backup slow' are sent first.",
        "Reply = the fake Slack receiving the response_url post, measured from sending the signed command.",
        "The work after the ack runs in one lane per stamp (AZS_WORK_THREADS threads each, default 1).",
    ]
    return out
