"""What every benchmark shares: the bot's processes started as the Procfile does, its environment, and tables."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bot import simulator
from bot.localrun import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
OPERATOR = "UBENCHOP"
CHANNEL = "CBENCH"
STAMP = "bench-stamp"
BOT_TOKEN = "xoxb-bench-" + secrets.token_hex(8)
SIGNING_SECRET = "bench-signing-" + secrets.token_hex(8)


def azs_bot_command(role: str) -> list[str]:
    """``azs-bot <role>``, the Procfile's command, from this interpreter's environment."""
    script = Path(sys.executable).parent / "azs-bot"
    found = str(script) if script.exists() else shutil.which("azs-bot")
    return [found, role] if found else [sys.executable, "-m", "bot.cli", role]


class ChildProcess:
    """A child in its own session (so it can be stopped with all its children), logging to a file."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(list(command), env=dict(env), cwd=ROOT, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def bot_env(sim_env: Mapping[str, str], slack_api_url: str, redis_url: str, *, poll_interval: float,
            port: int | None = None) -> dict[str, str]:
    """The environment ``tests/conftest.py`` gives the bot, with the benchmark's own names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZS_", "SLACK_"))}
    env.update(sim_env)
    env.update({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack_api_url,
        "REDIS_URL": redis_url, "AZS_OPERATORS": OPERATOR, "AZS_POLL_INTERVAL": str(poll_interval),
        "AZS_STAMP_NAME": STAMP, "AZS_METRICS_PORT": "0", "PYTHONUNBUFFERED": "1",
        "REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem",  # AZS_CA_BUNDLE must win over it, as in the tests
        "PORT": str(port or free_port()),
    })
    return env


def start_web(env: Mapping[str, str], log_dir: Path, command: Sequence[str] | None = None,
              name: str = "web") -> tuple[ChildProcess, str]:
    """Start a web process (``azs-bot web`` unless told otherwise); return it once it answers."""
    process = ChildProcess(name, command or azs_bot_command("web"), env, log_dir)
    base = f"http://127.0.0.1:{env['PORT']}"

    def answering() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code < 500
        except requests.RequestException:
            return False

    if not wait_until(answering, timeout=40, interval=0.1):
        process.stop()
        raise RuntimeError(f"{name} did not start:\n{process.log_tail()}")
    return process, base


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
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                                   check=False).stdout.split(" v=")[-1].split()[0]
    return {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": nproc or str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release(), "redis-server": redis_version, "code": code_version()}


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
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
                  for i, h in enumerate(self.headers)]
        line = "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))
        out = [f"== {self.title}", line, "  ".join("-" * w for w in widths)]
        out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in self.rows]
        out += [f"  * {note}" for note in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"## {self.title}", "", "| " + " | ".join(self.headers) + " |",
               "|" + "|".join(" --- " for _ in self.headers) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            out += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(out)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
