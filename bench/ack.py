"""Ack latency of ``/azs backup status`` and ``/azs backup`` under 1, 16 and 64 concurrent senders, for the bot's
web process (``azs-bot web``) and a bare ack-only Bolt app under the same gunicorn options, measured in
alternating rounds of one run.

Ack latency is the time until the HTTP response to the signed POST is read (what Slack's 3 s limit is about).
The reply that the bot sends later through ``response_url`` is not the ack; the benchmark only waits for all of
a cell's replies before the next cell, so no cell is measured while another target still works.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TypedDict

from bench.common import (
    CHANNEL,
    OPERATOR,
    ROOT,
    SIGNING_SECRET,
    ChildProcess,
    Section,
    bot_env,
    percentile,
    simulator_http,
    start_web,
    verdict,
)
from bench.lab import Lab
from bot import web
from bot.localrun import free_port, wait_until
from bot.settings import Settings, load_settings

TARGET_RATIO = 1.2
COMMANDS = (("backup status", "/azs backup status"), ("backup", "/azs backup"))
# (concurrent senders, requests per sender per round); ROUNDS rounds per cell, the targets' order reversed
# every other round. 1 x 100 x 2 = 200, 16 x 7 x 2 = 224 and 64 x 2 x 2 = 256 samples per cell.
LEVELS = ((1, 100), (16, 7), (64, 2))
ROUNDS = 2
TARGETS: dict[str, list[str] | None] = {
    "bot": None,  # azs-bot web, as the Procfile runs it
    "bare": [sys.executable, "-m", "bench.bare_app"],
}


class LoadResult(TypedDict):
    latencies: list[float]
    statuses: dict[str, int]
    errors: list[str]
    wall: float


@dataclass
class Cell:
    target: str
    text: str
    senders: int
    latencies: list[float] = field(default_factory=list)  # seconds
    replies_done: list[float] = field(default_factory=list)  # seconds from a round's start to its last reply
    statuses: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """The options ``bot.web.serve`` gives gunicorn (what both the bot and the bare app run with)."""
    captured: dict[str, Any] = {}

    class Capture(web.GunicornServer):
        def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
            captured.update(options)

        def run(self) -> None:
            """Capture only."""

    saved = web.GunicornServer
    web.GunicornServer = Capture  # type: ignore[misc]
    try:
        web.serve(settings)
    finally:
        web.GunicornServer = saved  # type: ignore[misc]
    return captured


class AckBench:
    def __init__(self, lab: Lab, bases: dict[str, str]) -> None:
        self.lab = lab
        self.bases = bases
        self.sequence = 0

    def load(self, target: str, text: str, senders: int, count: int) -> tuple[LoadResult, str]:
        """Run the load generator once; returns its result and the response_url prefix its requests used."""
        self.sequence += 1
        prefix = f"ack{self.sequence}"
        command = [sys.executable, "-m", "bench.loadgen", "--url", self.bases[target], "--secret", SIGNING_SECRET,
                   "--text", text, "--senders", str(senders), "--count", str(count), "--user", OPERATOR,
                   "--channel", CHANNEL, "--hooks", self.lab.slack.response_url(prefix)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=300)
        result: LoadResult = json.loads(done.stdout)
        return result, prefix

    def drain(self, prefix: str, expected: int) -> list[float]:
        """Wait until every ``response_url`` reply of a round has arrived; returns their arrival times."""

        def arrivals() -> list[float]:
            return [r.at for r in self.lab.slack.hook_posts() if r.method.startswith(prefix + "-")]

        wait_until(lambda: len(arrivals()) >= expected, timeout=180, interval=0.1)
        return arrivals()

    def round(self, cell: Cell, count: int) -> None:
        started = time.time()
        result, prefix = self.load(cell.target, cell.text, cell.senders, count)
        cell.latencies += result["latencies"]
        cell.errors += result["errors"]
        for status, n in result["statuses"].items():
            cell.statuses[status] = cell.statuses.get(status, 0) + n
        if cell.target != "bare":  # the bare app sends no reply
            arrivals = self.drain(prefix, cell.senders * count)
            cell.replies_done.append(max(arrivals, default=started) - started)
        self.lab.slack.clear()
        time.sleep(0.3)


def run(lab: Lab) -> Section:
    lab.flush_redis()
    sim = lab.simulator(retry_after=1, backup_seconds=3600)
    env = bot_env(sim.env(), lab.slack.api_url, lab.redis_server.url, poll_interval=30)
    processes: list[ChildProcess] = []
    try:
        bases = {}
        for target, command in TARGETS.items():
            process, bases[target] = start_web({**env, "PORT": str(free_port())}, lab.log_dir,
                                               command=command, name=target)
            processes.append(process)
        bench = AckBench(lab, bases)
        for target in TARGETS:  # warm-up: imports, first Redis and stamp connections, the token
            for text, _ in COMMANDS:
                bench.round(Cell(target, text, 4), 10)
        table: list[dict[str, Cell]] = []
        for senders, count in LEVELS:
            for text, _ in COMMANDS:
                cells = {target: Cell(target, text, senders) for target in TARGETS}
                for number in range(ROUNDS):
                    for target in (list(TARGETS) if number % 2 == 0 else list(TARGETS)[::-1]):
                        bench.round(cells[target], count)
                table.append(cells)
        arm = sum(1 for r in sim.requests_log if r.kind in ("backupLocation", "backups"))
    finally:
        for process in processes:
            process.stop()
        sim.stop()
    settings = load_settings(env)
    options = gunicorn_options(settings)
    shown = ", ".join(f"{k}={options[k]}" for k in ("worker_class", "workers", "threads", "timeout") if k in options)
    return section(table, arm, shown, settings.work_threads)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def section(table: list[dict[str, Cell]], arm_reads: int, gunicorn: str, work_threads: int) -> Section:
    out = Section("1. Ack latency (ms): azs-bot web vs bare Bolt app, same gunicorn options",
                  ["senders", "command", "n", "bot p50", "bot p99", "bare p50", "bare p99", "bot/bare p99",
                   f"<= {TARGET_RATIO}x", "bot replies done s"])
    problems = []
    for cells in table:
        bot, bare = cells["bot"], cells["bare"]
        bare_p99 = percentile(bare.latencies, 99)
        ratio = percentile(bot.latencies, 99) / bare_p99
        out.rows.append([
            str(bot.senders), dict(COMMANDS)[bot.text], f"{len(bot.latencies)}/{len(bare.latencies)}",
            ms(percentile(bot.latencies, 50)), ms(percentile(bot.latencies, 99)),
            ms(percentile(bare.latencies, 50)), ms(bare_p99), f"{ratio:.2f}", verdict(ratio <= TARGET_RATIO),
            "/".join(f"{s:.1f}" for s in bot.replies_done)])
        for cell in cells.values():
            if cell.errors or set(cell.statuses) != {"200"}:
                problems.append(f"{cell.target} {cell.text} x{cell.senders}: HTTP statuses {cell.statuses}, "
                                f"errors {cell.errors[:3]}")
    out.notes += [
        f"n = samples bot/bare. Each cell: {ROUNDS} rounds; in a round each sender sends its requests back to "
        "back, one TCP connection per request, from a separate load-generator process. The targets alternate "
        "round by round (bot then bare, then the reverse).",
        "'replies done': seconds from the start of each round until the last response_url reply of that round "
        "arrived; the next round starts only then, so no target is measured while another still works.",
        f"gunicorn options from bot.web.serve, for both: {gunicorn}; the bot's work pool (after the ack): "
        f"{work_threads} thread(s) (AZS_WORK_THREADS). The bare app is bench/bare_app.py (an App with one /azs "
        "listener that only acks) served by bot.web.serve itself.",
        f"Each /azs backup reply reads the stamp twice (backup location + backup list): {arm_reads} reads in "
        f"all, from the stamp simulator ({simulator_http()}).",
        *problems,
    ]
    return out
