"""Ack latency of ``/azs backup status`` and ``/azs backup`` under 1, 16 and 64 concurrent senders, for the bot's
web process (``azs-bot web``) and a bare ack-only Bolt app under the same server and options, measured in
alternating rounds of one run. A second, identical bare app is measured in the same rounds: bare vs bare is
the noise floor that a bot/bare ratio must be read against. One more row repeats a cell with 60 stalled
connections (clients that sent part of a request and then nothing) held open against each target.

Table 1b: the bot alone, the same cell unloaded and with 500 stalled connections from one other address
(127.0.0.4), in alternating rounds: one address may hold only its share of the server's connections
(``AZS_CONNECTIONS_PER_ADDRESS``), so the senders (each from its own address) are still served.

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
    Section,
    percentile,
    simulator_http,
    verdict,
)
from bench.lab import Lab
from bot.config.limits import LIMITS
from bot.config.settings import load_settings
from bot.serve import web
from devkit.localrun import BotProcess, launch_web, wait_until

TARGET_RATIO = 1.2
COMMANDS = (("backup status", "/azs backup status"), ("backup", "/azs backup"))
# (concurrent senders, requests per sender per round); ROUNDS rounds per cell, the targets' order reversed
# every other round. 1 x 100 x 2 = 200, 16 x 7 x 2 = 224 and 64 x 2 x 2 = 256 samples per cell.
LEVELS = ((1, 100), (16, 7), (64, 2))
ROUNDS = 2
STALLED = 60
STALLED_CELL = (16, 7, "backup status")  # senders, requests per sender per round, command
STALLED_FROM = "127.0.0.2,127.0.0.3"  # 30 each: every one is held (the per-address share is 50)
ONE_ADDRESS = 500
ONE_ADDRESS_FROM = "127.0.0.4"
ONE_ADDRESS_ROUNDS = 3
TARGETS: dict[str, list[str] | None] = {
    "bot": None,  # azs-bot web, as the Procfile runs it
    "bare": [sys.executable, "-m", "bench.bare_app"],
    "bare2": [sys.executable, "-m", "bench.bare_app"],  # the same app again: the noise floor
}


class LoadResult(TypedDict):
    latencies: list[float]
    statuses: dict[str, int]
    answered_in_ack: int
    errors: list[str]
    wall: float
    stalled_reopened: int
    stalled_closed: int


@dataclass
class Cell:
    target: str
    text: str
    senders: int
    stalled: int = 0
    stalled_from: str = STALLED_FROM
    reopen: bool = True
    latencies: list[float] = field(default_factory=list)  # seconds
    replies_done: list[float] = field(default_factory=list)  # seconds from a round's start to its last reply
    statuses: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stalled_reopened: int = 0
    stalled_closed: list[int] = field(default_factory=list)  # per round: those the server closed


def server_options() -> dict[str, Any]:
    """The options ``bot.serve.web.serve`` gives waitress (what both the bot and the bare app run with)."""
    return dict(web.SERVER_OPTIONS)


class AckBench:
    def __init__(self, lab: Lab, bases: dict[str, str]) -> None:
        self.lab = lab
        self.bases = bases
        self.sequence = 0

    def load(self, cell: Cell, count: int) -> tuple[LoadResult, str]:
        """Run the load generator once; returns its result and the response_url prefix its requests used."""
        self.sequence += 1
        prefix = f"ack{self.sequence}"
        command = [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            self.bases[cell.target],
            "--secret",
            SIGNING_SECRET,
            "--text",
            cell.text,
            "--senders",
            str(cell.senders),
            "--count",
            str(count),
            "--user",
            OPERATOR,
            "--channel",
            CHANNEL,
            "--hooks",
            self.lab.slack.response_url(prefix),
            "--stalled",
            str(cell.stalled),
            "--stalled-from",
            cell.stalled_from,
            *([] if cell.reopen else ["--no-reopen"]),
        ]
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
        result, prefix = self.load(cell, count)
        cell.latencies += result["latencies"]
        cell.errors += result["errors"]
        cell.stalled_reopened += result["stalled_reopened"]
        cell.stalled_closed.append(result["stalled_closed"])
        for status, n in result["statuses"].items():
            cell.statuses[status] = cell.statuses.get(status, 0) + n
        if cell.target == "bot":  # the bare apps send no reply
            arrivals = self.drain(prefix, cell.senders * count - result["answered_in_ack"])
            cell.replies_done.append(max(arrivals, default=started) - started)
        self.lab.slack.clear()
        time.sleep(0.3)


def run(lab: Lab) -> tuple[Section, Section]:
    lab.flush_redis()
    sim = lab.simulator(retry_after=1, backup_seconds=3600)
    env = lab.bot_env(sim, poll_interval=30)
    env["AZS_USER_COMMANDS_PER_MINUTE"] = str(
        int(LIMITS["AZS_USER_COMMANDS_PER_MINUTE"].high)
    )  # one user sends every request
    processes: list[BotProcess] = []
    try:
        bases = {}
        for target, command in TARGETS.items():
            process, bases[target] = launch_web(env, lab.log_dir, command=command, healthy=True)
            processes.append(process)
        bench = AckBench(lab, bases)
        # Warm-up: imports, the token, and the connections and threads a burst needs (Redis connections, Bolt's
        # listener threads are made on first use): at the widest level, or the first such cell would pay for them.
        widest = max(senders for senders, _ in LEVELS)
        for target in TARGETS:
            for text, _ in COMMANDS:
                bench.round(Cell(target, text, 4), 10)
                bench.round(Cell(target, text, widest), 1)
        table: list[dict[str, Cell]] = []
        cells_to_run = [(senders, count, text, 0) for senders, count in LEVELS for text, _ in COMMANDS]
        cells_to_run.append((*STALLED_CELL, STALLED))
        for senders, count, text, stalled in cells_to_run:
            cells = {target: Cell(target, text, senders, stalled) for target in TARGETS}
            for number in range(ROUNDS):
                for target in list(TARGETS) if number % 2 == 0 else list(TARGETS)[::-1]:
                    bench.round(cells[target], count)
            table.append(cells)
        one_address = one_address_cells(bench)
        arm = sum(1 for r in sim.requests_log if r.kind in ("backupLocation", "backups"))
    finally:
        for process in processes:
            process.stop()
        sim.stop()
    settings = load_settings(env)
    options = server_options()
    shown = ", ".join(
        f"{k}={options[k]}"
        for k in ("threads", "connection_limit", "channel_timeout", "max_request_body_size")
        if k in options
    )
    return section(table, arm, shown, settings.work_threads), one_address_section(
        one_address, settings.connections_per_address
    )


def one_address_cells(bench: AckBench) -> tuple[Cell, Cell]:
    """The bot unloaded, and with 500 stalled sockets from one address, in alternating rounds."""
    senders, count, text = STALLED_CELL
    unloaded = Cell("bot", text, senders)
    loaded = Cell("bot", text, senders, ONE_ADDRESS, stalled_from=ONE_ADDRESS_FROM, reopen=False)
    for number in range(ONE_ADDRESS_ROUNDS * 2):
        bench.round(unloaded if number % 2 == 0 else loaded, count)
    return unloaded, loaded


def one_address_section(cells: tuple[Cell, Cell], per_address: int) -> Section:
    unloaded, loaded = cells
    out = Section(
        "1b. Ack latency (ms) with one address holding 500 stalled connections, vs unloaded, same run",
        ["senders", "command", "stalled conns (one address)", "n", "p50", "p99", "p99 / unloaded p99", "<= 1.2x"],
    )
    base_p99 = percentile(unloaded.latencies, 99)
    for cell in cells:
        ratio = percentile(cell.latencies, 99) / base_p99
        out.rows.append(
            [
                str(cell.senders),
                dict(COMMANDS)[cell.text],
                str(cell.stalled),
                str(len(cell.latencies)),
                ms(percentile(cell.latencies, 50)),
                ms(percentile(cell.latencies, 99)),
                f"{ratio:.2f}",
                verdict(ratio <= TARGET_RATIO) if cell is loaded else "-",
            ]
        )
    out.notes += [
        f"{ONE_ADDRESS_ROUNDS} rounds each, alternating (unloaded first). In a loaded round the load generator "
        f"first opens {ONE_ADDRESS} stalled connections from {ONE_ADDRESS_FROM} (half inside the headers, half "
        "with the body missing) and does not replace those the server closes; the senders each come from their "
        "own address (127.0.1.x) and send signed commands back to back, one connection per request.",
        f"The server lets one address hold {per_address} connections (AZS_CONNECTIONS_PER_ADDRESS) and closes the "
        f"rest as it accepts them: closed per loaded round {loaded.stalled_closed}. Before this share, the 500 "
        "filled connection_limit and a signed /azs help from another address waited 9.5 s in the listen backlog.",
        *(
            f"{cell.stalled or 'unloaded'}: HTTP statuses {cell.statuses}, errors {cell.errors[:3]}"
            for cell in cells
            if cell.errors or set(cell.statuses) != {"200"}
        ),
    ]
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def section(table: list[dict[str, Cell]], arm_reads: int, server: str, work_threads: int) -> Section:
    out = Section(
        "1. Ack latency (ms): azs-bot web vs bare Bolt app, same server (waitress) and options",
        [
            "senders",
            "command",
            "stalled conns",
            "n",
            "bot p50",
            "bot p99",
            "bare p50",
            "bare p99",
            "bot/bare p99",
            f"<= {TARGET_RATIO}x",
            "bare2 p99",
            "bare/bare2 p99 (noise)",
            "bot replies done s",
        ],
    )
    problems = []
    for cells in table:
        bot, bare, bare2 = cells["bot"], cells["bare"], cells["bare2"]
        bare_p99 = percentile(bare.latencies, 99)
        ratio = percentile(bot.latencies, 99) / bare_p99
        noise = bare_p99 / percentile(bare2.latencies, 99)
        out.rows.append(
            [
                str(bot.senders),
                dict(COMMANDS)[bot.text],
                str(bot.stalled),
                f"{len(bot.latencies)}/{len(bare.latencies)}/{len(bare2.latencies)}",
                ms(percentile(bot.latencies, 50)),
                ms(percentile(bot.latencies, 99)),
                ms(percentile(bare.latencies, 50)),
                ms(bare_p99),
                f"{ratio:.2f}",
                verdict(ratio <= TARGET_RATIO),
                ms(percentile(bare2.latencies, 99)),
                f"{noise:.2f}",
                "/".join(f"{s:.1f}" for s in bot.replies_done),
            ]
        )
        for cell in cells.values():
            if cell.errors or set(cell.statuses) != {"200"}:
                problems.append(
                    f"{cell.target} {cell.text} x{cell.senders}: HTTP statuses {cell.statuses}, "
                    f"errors {cell.errors[:3]}"
                )
    stalled_reopened = {t: c.stalled_reopened for t, c in table[-1].items()}
    out.notes += [
        f"n = samples bot/bare/bare2. Each cell: {ROUNDS} rounds; in a round each sender sends its requests back to "
        "back, one TCP connection per request, from a separate load-generator process. The targets take turns "
        "round by round (bot, bare, bare2, then the reverse).",
        "bare2 is a second copy of the bare app: 'bare/bare2 p99' is what two identical apps differ by in this run, "
        "the noise floor for 'bot/bare p99'.",
        f"'stalled conns': during that row's rounds the load generator holds {STALLED} connections open to the "
        f"target from {STALLED_FROM} (round robin), half stopped inside the headers, half after the headers with "
        "the body missing, and opens a new one whenever the server closes one (its request deadline); reopened "
        f"per target: {stalled_reopened}. Each sender sends from its own address (127.0.1.x), as Slack does from "
        "many.",
        "'replies done': seconds from the start of each round until the last response_url reply of that round "
        "arrived; the next round starts only then, so no target is measured while another still works.",
        f"Server options from bot.serve.web.SERVER_OPTIONS, for all three: {server}; "
        "the bot's work pool (after the ack): "
        f"{work_threads} thread(s) (AZS_WORK_THREADS). The bare apps are bench/bare_app.py (an App with one /azs "
        "listener that only acks, Bolt checking the signature) served by bot.serve.web.serve itself.",
        f"Each /azs backup reply reads the stamp twice (backup location + backup list): {arm_reads} reads in "
        f"all, from the stamp simulator ({simulator_http()}).",
        *problems,
    ]
    return out
