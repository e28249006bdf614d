"""Running the product on one machine: a spawned redis-server, ``azs-bot`` child processes, the
environment they get, and signed Slack requests. The one copy used by ``azs-bot demo``, the tests and
the benchmark, so all three start the bot and drive it the same way Slack does.

It needs an installed product (``pip install -e .``), not a source checkout: processes run the
``azs-bot`` command from this interpreter's environment, from whatever directory the caller is in.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import requests
from slack_sdk.signature import SignatureVerifier

FOREIGN_PREFIXES = ("AZS_", "SLACK_", "REDIS_")
"""Variables of the calling environment the bot's processes never inherit: they could name production."""


FREE_PORTS = range(20_000, 32_768)
"""Below Linux's ephemeral range (32768-60999): a port the kernel hands to an outgoing connection (to Redis,
the simulator, Slack's stand-in) between our pick and the child's bind cannot collide with these."""
_handed_out: set[int] = set()
_picker = random.Random()
"""Its own generator: drawing from the module's would disturb tests that seed or watch it (hypothesis does)."""


def free_port() -> int:
    """A TCP port nothing on this machine holds, on any address, and not handed out before by this process.

    Asked of the wildcard address, which every web binds by default: a port free on 127.0.0.1 may still be
    held by a client socket on 127.0.0.2 (the tests' and the benchmark's other loopback addresses), even in
    TIME_WAIT, and then binding 0.0.0.0 to it fails.
    """
    for _ in range(200):
        port = _picker.choice(FREE_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {FREE_PORTS.start}-{FREE_PORTS.stop - 1}")


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
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                self.dir,
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
    """The headers Slack sends with ``body``: its v0 signature, by slack_sdk's own signer."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": str(signature),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def azs_bot_command(role: str) -> list[str]:
    """``azs-bot <role>`` as the Procfile runs it: the installed script beside this interpreter."""
    script = Path(sys.executable).parent / "azs-bot"
    found = str(script) if script.exists() else shutil.which("azs-bot")
    return [found, role] if found else [sys.executable, "-m", "bot.cli", role]


def bot_environment(
    stamp: Mapping[str, str],
    *,
    slack_api_url: str,
    redis_url: str,
    signing_secret: str,
    bot_token: str,
    operators: Sequence[str],
    stamp_name: str,
    poll_interval: float,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of the bot's processes: this one's, minus anything that could name production.

    ``stamp`` is a simulator's ``env()``. ``settings`` (tuning, e.g. from ``azs-bot demo --set``) comes
    before the stamp, Slack, Redis and operators, so it cannot redirect them.
    """
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(FOREIGN_PREFIXES)}
    env.update(settings or {})
    env.update(stamp)
    env.update(
        {
            "SLACK_BOT_TOKEN": bot_token,
            "SLACK_SIGNING_SECRET": signing_secret,
            "SLACK_API_URL": slack_api_url,
            "REDIS_URL": redis_url,
            "AZS_OPERATORS": ",".join(operators),
            "AZS_POLL_INTERVAL": str(poll_interval),
            "AZS_STAMP_NAME": stamp_name,
            "AZS_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            "REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem",  # the stamp's AZS_CA_BUNDLE must win over it
        }
    )
    return env


class ChildProcess:
    """A child in its own session (so it stops with all its children), writing to its own log file."""

    def __init__(
        self, name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path, *, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            list(command), env=dict(env), cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

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
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return int(self.process.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


class BotProcess(ChildProcess):
    """One ``azs-bot`` process (``web``, ``worker``, ``socket``), started as the Procfile does.

    ``command`` runs something else in that role instead (the benchmark's baseline web app).
    """

    def __init__(
        self, role: str, env: Mapping[str, str], log_dir: Path, *, command: Sequence[str] | None = None
    ) -> None:
        super().__init__(role, command or azs_bot_command(role), env, log_dir)
        self.role = role


class HasStampEnv(Protocol):
    """A stamp stand-in that says how to reach it (the simulator, the replay server)."""

    def env(self) -> dict[str, str]: ...


def write_stamps_file(path: Path, stamps: Mapping[str, HasStampEnv], **extra: str | int | float) -> str:
    """An ``AZS_STAMPS_FILE`` with one ``[[stamp]]`` per stand-in; ``extra`` (e.g. ``http_timeout=1``) goes in each."""
    lines = []
    for name, stamp in stamps.items():
        env = stamp.env()
        table = {
            "name": name,
            "arm_endpoint": env["AZS_ARM_ENDPOINT"],
            "client_id": env["AZS_CLIENT_ID"],
            "client_secret": env["AZS_CLIENT_SECRET"],
            "ca_bundle": env["AZS_CA_BUNDLE"],
            **extra,
        }
        lines += ["[[stamp]]", *(f"{key} = {json.dumps(value)}" for key, value in table.items()), ""]
    path.write_text("\n".join(lines))
    return str(path)


def launch_web(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    command: Sequence[str] | None = None,
    healthy: bool = False,
    timeout: float = 30.0,
) -> tuple[BotProcess, str]:
    """``azs-bot web`` (or ``command``) on a free port, once ``/readyz`` answers 200 (it can answer Slack).

    With ``healthy``, ``/healthz`` must answer 200 too (Redis and Slack's token fine); tests start webs whose
    Slack or Redis is broken without it.
    """
    for _ in range(3):  # another program may bind the port between our pick and the child's bind
        port = free_port()
        process = BotProcess("web", {**env, "PORT": str(port)}, log_dir, command=command)
        base = f"http://127.0.0.1:{port}"
        answered = wait_until(lambda: _answered(process, f"{base}/readyz", (200,)), timeout=timeout, interval=0.1)  # noqa: B023
        if answered and healthy:
            answered = wait_until(lambda: _answered(process, f"{base}/healthz", (200,)), timeout=timeout, interval=0.1)  # noqa: B023
        if answered and process.process.poll() is None:
            return process, base
        process.stop()
        if "Address already in use" not in process.log_tail():
            break
    raise RuntimeError(f"the web process was not ready within {timeout:.0f} s:\n{process.log_tail()}")


def _answered(process: ChildProcess, url: str, wanted: tuple[int, ...]) -> bool:
    """``url`` answers with a wanted status, or the process exited (no need to wait out the timeout)."""
    if process.process.poll() is not None:
        return True
    try:
        return requests.get(url, timeout=1).status_code in wanted
    except requests.RequestException:
        return False


def event_payload(message: Mapping[str, Any], event_type: str) -> dict[str, Any] | None:
    """The payload of a message's Slack metadata when it is marked ``event_type``: ids, not wording.

    ``message`` is a recorded post (Web API call or response_url body) or a stored channel message.
    """
    metadata = message.get("metadata") or {}
    if isinstance(metadata, str):  # a form-encoded post carries it as JSON text
        metadata = json.loads(metadata)
    payload = metadata.get("event_payload") if metadata.get("event_type") == event_type else None
    return payload if isinstance(payload, dict) else None


def trigger_id() -> str:
    """A fresh ``trigger_id`` as Slack makes one for every command and click (the bot dedupes by it)."""
    return f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def command_form(text: str, *, user: str, channel: str, response_url: str) -> dict[str, str]:
    """The fields Slack sends for ``/azs <text>`` (form-encoded over HTTP, a payload over Socket Mode)."""
    return {
        "command": "/azs",
        "text": text,
        "team_id": "T0001",
        "channel_id": channel,
        "user_id": user,
        "user_name": user.lower(),
        "response_url": response_url,
        "trigger_id": trigger_id(),
        "api_app_id": "A0001",
    }


def click_payload(action_id: str, *, user: str, channel: str, value: str, response_url: str) -> dict[str, Any]:
    """A ``block_actions`` payload for a button in an ephemeral message, as Slack sends it."""
    return {
        "type": "block_actions",
        "team": {"id": "T0001"},
        "user": {"id": user, "team_id": "T0001"},
        "api_app_id": "A0001",
        "channel": {"id": channel},
        "container": {"type": "message"},
        "trigger_id": trigger_id(),
        "response_url": response_url,
        "actions": [
            {"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": str(time.time())}
        ],
    }


class SlackRequests:
    """Sends what Slack sends: signed slash commands and button clicks to ``/slack/events``."""

    def __init__(self, base_url: str, secret: str, response_url: Callable[[str], str]) -> None:
        self.base_url = base_url
        self.secret = secret
        self.response_url = response_url

    def post(self, body: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(
            f"{self.base_url}/slack/events", data=body.encode(), headers=headers or sign(self.secret, body), timeout=10
        )

    def command(self, text: str, *, user: str, channel: str, hook: str | None = None) -> tuple[requests.Response, str]:
        """``/azs <text>``; returns the HTTP response (the ack) and the response_url hook id."""
        hook = hook or f"cmd{time.monotonic_ns()}"
        form = command_form(text, user=user, channel=channel, response_url=self.response_url(hook))
        return self.post(urlencode(form)), hook

    def click(
        self, action_id: str, *, user: str, channel: str, value: str = "", hook: str | None = None
    ) -> tuple[requests.Response, str]:
        """A ``block_actions`` payload for a button in an ephemeral message."""
        hook = hook or f"click{time.monotonic_ns()}"
        payload = click_payload(
            action_id, user=user, channel=channel, value=value, response_url=self.response_url(hook)
        )
        return self.post(urlencode({"payload": json.dumps(payload)})), hook
