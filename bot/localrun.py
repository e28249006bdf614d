"""Running the product on one machine: a spawned redis-server, ``azs-bot`` child processes and
signed Slack requests. Used by ``azs-bot demo``, the tests and the benchmark, so all three drive
the bot the same way Slack does.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

AZS_BOT = [sys.executable, "-m", "bot.cli"]
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, which can be stopped and restarted.

    ``persistent`` turns on the append-only file (fsync on every write), as production should.
    """

    def __init__(self, *, persistent: bool = False) -> None:
        self.persistent = persistent
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (on Debian/Ubuntu: apt-get install -y redis-server)")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="azs-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir,
             "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: redis_answers(self.url), timeout=10):
            raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def redis_answers(url: str) -> bool:
    """True when a Redis at ``url`` answers PING (plain TCP URLs only; enough for local runs)."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except (redis.RedisError, ValueError):
        return False


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature over the exact body bytes."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded"}


class BotProcess:
    """One ``azs-bot`` child process (web or worker) writing to its own log file."""

    def __init__(self, role: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.role = role
        self.log_path = log_dir / f"{role}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen([*AZS_BOT, role], env=dict(env), cwd=PROJECT_ROOT, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._log.close()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return int(self.process.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class SlackRequests:
    """Sends what Slack sends: signed slash commands and button clicks to ``/slack/events``."""

    def __init__(self, base_url: str, secret: str, response_url: Callable[[str], str]) -> None:
        self.base_url = base_url
        self.secret = secret
        self.response_url = response_url

    def post(self, body: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(f"{self.base_url}/slack/events", data=body.encode(),
                             headers=headers or sign(self.secret, body), timeout=10)

    def command(self, text: str, *, user: str, channel: str, hook: str | None = None) -> tuple[requests.Response, str]:
        """``/azs <text>``; returns the HTTP response (the ack) and the response_url hook id."""
        hook = hook or f"cmd{time.monotonic_ns()}"
        form = {"command": "/azs", "text": text, "team_id": "T0001", "channel_id": channel, "user_id": user,
                "user_name": user.lower(), "response_url": self.response_url(hook), "trigger_id": "1.2.3",
                "api_app_id": "A0001"}
        return self.post(urlencode(form)), hook

    def click(self, action_id: str, *, user: str, channel: str, value: str = "",
              hook: str | None = None) -> tuple[requests.Response, str]:
        """A ``block_actions`` payload for a button in an ephemeral message."""
        hook = hook or f"click{time.monotonic_ns()}"
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user, "team_id": "T0001"},
            "api_app_id": "A0001", "channel": {"id": channel}, "container": {"type": "message"},
            "trigger_id": "1.2.3", "response_url": self.response_url(hook),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "action_ts": str(time.time())}]}
        return self.post(urlencode({"payload": json.dumps(payload)})), hook
