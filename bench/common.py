"""What every benchmark shares: its names, the machine's details and tables (processes and the bot's environment
come from :mod:`devkit.localrun`, as in the tests and the demo)."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devkit import simulator

ROOT = Path(__file__).resolve().parent.parent
OPERATOR = "UBENCHOP"
CHANNEL = "CBENCH"
STAMP = "bench-stamp"
BOT_TOKEN = "xoxb-bench-" + secrets.token_hex(8)
SIGNING_SECRET = "bench-signing-" + secrets.token_hex(8)


def simulator_http() -> str:
    """How the stamp simulator treats connections (it has changed before; notes must not assume)."""
    return "keep-alive" if simulator._Handler.protocol_version == "HTTP/1.1" else "HTTP/1.0"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); ``q`` in 0..100."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rss_mb() -> float:
    """This process's resident set size now (VmRSS), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def machine_info() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    redis_version = (
        subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False)
        .stdout.split(" v=")[-1]
        .split()[0]
    )
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": nproc or str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "redis-server": redis_version,
        "code": code_version(),
    }


def code_version() -> str:
    """The commit measured, and whether bot/ or handlers/ differed from it (others edit them meanwhile)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "bot", "handlers")
    return f"{head}, bot/ and handlers/ {'with uncommitted changes' if dirty else 'as committed'}"


@dataclass
class Section:
    """One measurement's table plus the notes needed to read it."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h) for i, h in enumerate(self.headers)
        ]
        line = "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))
        out = [f"== {self.title}", line, "  ".join("-" * w for w in widths)]
        out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in self.rows]
        out += [f"  * {note}" for note in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        out = [
            f"## {self.title}",
            "",
            "| " + " | ".join(self.headers) + " |",
            "|" + "|".join(" --- " for _ in self.headers) + "|",
        ]
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            out += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(out)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
