"""The steward's costs: how fast a read command answers about a slow stamp, and what the bot asks a stamp for
when nobody types.

Table 8: reply latency (signed command sent -> ``response_url`` post received by the fake Slack) of
``/azs backup list``, ``status`` and ``config`` while the stamp answers every call in 6 s, against ``/azs help``
(which never asks the stamp), alternating in rounds of one run against ``azs-bot web`` and ``azs-bot worker``.
Read commands answer from the worker's snapshot, so they should not wait for the stamp; before the snapshot, each
one asked the stamp live and took at least one 6 s call.

Table 9: the requests one stamp receives from ``azs-bot web`` and ``azs-bot worker`` over a quiet window, with no
command typed, without and with a channel watching the stamp, counted by the simulator, and that rate per hour.
The window runs with a short ``AZS_SNAPSHOT_INTERVAL`` and ``AZS_WATCH_INTERVAL`` so it is over in seconds; the per
hour figure scales the count per interval to the default intervals, which holds because each refresh asks the
same fixed set of requests (the table shows the requests per refresh, measured).
"""

from __future__ import annotations

import time
from collections import Counter

from bench.common import SIGNING_SECRET, STAMP, Section, percentile, verdict
from bench.lab import Lab
from bench.slow_stamp import reply_seconds
from bot.config.settings import Settings
from bot.state import keys
from devkit.localrun import BotProcess, SlackRequests, launch_web, wait_until
from devkit.simulator import Fault, StampSimulator

TARGET_RATIO = 1.2
SLOW_SECONDS = 6.0
ROUNDS = 3
READS = ("backup list", "backup status", "backup config")
QUIET_INTERVAL = 2.0
QUIET_WINDOW = 20.0
LOGIN_KINDS = ("token", "openid", "metadata")


def _snapshot_ready(lab: Lab) -> bool:
    client = lab.redis()
    try:
        return bool(client.exists(keys.snapshot_key(STAMP)))
    finally:
        client.close()


def _start(lab: Lab, sim: StampSimulator, **settings: str) -> tuple[list[BotProcess], SlackRequests]:
    env = lab.bot_env(sim, poll_interval=2.0)
    env.update(settings)
    web, base = launch_web(env, lab.log_dir, healthy=True)
    worker = BotProcess("worker", env, lab.log_dir)
    return [web, worker], SlackRequests(base, SIGNING_SECRET, lab.slack.response_url)


def read_latency(lab: Lab) -> Section:
    """Table 8."""
    lab.flush_redis()
    sim = lab.simulator(retry_after=0)
    processes: list[BotProcess] = []
    samples: dict[str, list[float]] = {text: [] for text in ("help", *READS)}
    snapshot = False
    try:
        processes, client = _start(lab, sim, AZS_SNAPSHOT_INTERVAL="5")
        snapshot = wait_until(lambda: _snapshot_ready(lab), timeout=30, interval=0.2)
        for text in READS:  # log in and warm up before the stamp slows down
            reply_seconds(client, lab.slack, text)
        sim.inject(Fault(status=0, delay=SLOW_SECONDS, times=10**6))
        for _ in range(ROUNDS):
            for text in samples:
                samples[text].append(reply_seconds(client, lab.slack, text, timeout=60))
    finally:
        sim.clear_faults()
        for process in processes:
            process.stop()
        sim.stop()
        lab.slack.clear()
    out = Section(
        "8. Read commands about a stamp that answers every call in 6 s, vs /azs help",
        ["command", "n", "p50 ms", "max ms", "max / help max", f"<= {TARGET_RATIO}x"],
    )
    help_max = max(samples["help"])
    for text, values in samples.items():
        ratio = max(values) / help_max
        out.rows.append(
            [
                f"/azs {text}",
                str(len(values)),
                f"{1000 * percentile(values, 50):.0f}",
                f"{1000 * max(values):.0f}",
                "-" if text == "help" else f"{ratio:.2f}",
                "-" if text == "help" else verdict(ratio <= TARGET_RATIO),
            ]
        )
    out.notes += [
        f"{ROUNDS} rounds, each command once per round in turn; every ARM call to the stamp is delayed "
        f"{SLOW_SECONDS:.0f} s (simulator fault) after a warm-up at full speed.",
        "A snapshot was in Redis before the first command" if snapshot else "No snapshot appeared within 30 s.",
    ]
    return out


def _quiet_counts(lab: Lab, *, watch: bool) -> tuple[Counter[str], float, int]:
    """Requests by kind the stamp saw over the quiet window, the window's length and the reads of the stamp in it
    (counted as backup lists: each read of the stamp lists its backups once)."""
    lab.flush_redis()
    sim = lab.simulator(retry_after=0)
    processes: list[BotProcess] = []
    interval = str(QUIET_INTERVAL)
    try:
        processes, client = _start(lab, sim, AZS_SNAPSHOT_INTERVAL=interval, AZS_WATCH_INTERVAL=interval)
        if watch:
            reply_seconds(client, lab.slack, "backup watch all")
        wait_until(lambda: _snapshot_ready(lab), timeout=30, interval=0.2)
        time.sleep(2 * QUIET_INTERVAL)  # logins and first reads settle
        before = len(sim.requests_log)
        began = time.monotonic()
        time.sleep(QUIET_WINDOW)
        window = time.monotonic() - began
        seen = sim.requests_log[before:]
    finally:
        for process in processes:
            process.stop()
        sim.stop()
        lab.slack.clear()
    counts = Counter(record.kind for record in seen)
    refreshes = counts.get("backups", 0)  # every refresh (and, before the snapshot, every watch turn) lists once
    return counts, window, max(1, refreshes)


def quiet_requests(lab: Lab) -> Section:
    """Table 9."""
    out = Section(
        "9. Requests to one stamp with nobody typing",
        ["watching channel", "window s", "requests", "by kind", "per refresh", "per hour at the defaults"],
    )
    default = _default_interval()
    for watch in (False, True):
        counts, window, refreshes = _quiet_counts(lab, watch=watch)
        total = sum(counts.values())
        per_refresh = total / refreshes
        out.rows.append(
            [
                "yes" if watch else "no",
                f"{window:.0f}",
                str(total),
                ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "-",
                f"{per_refresh:.1f}",
                f"{per_refresh * 3600 / default:.0f}",
            ]
        )
    out.notes += [
        f"AZS_SNAPSHOT_INTERVAL and AZS_WATCH_INTERVAL {QUIET_INTERVAL:.0f} s for the window; per hour = per refresh x "
        f"3600 / {default:.0f} s (the default snapshot interval; the watch interval where the tree has no snapshot).",
        "Counted by the simulator: every request with its kind (ARM reads, logins).",
    ]
    return out


def _default_interval() -> float:
    """The cadence at which a quiet bot reads a stamp by default: its snapshot refresh (the watch's before it)."""
    return float(getattr(Settings, "snapshot_interval", Settings.watch_interval))


def run(lab: Lab) -> tuple[Section, Section]:
    return read_latency(lab), quiet_requests(lab)
