"""``azs-bot demo``: the whole product on this machine, narrated in the terminal.

It starts the stamp simulator, its own ``redis-server``, a local Slack Web API, the web app (gunicorn)
and the worker; then plays an operator typing ``/azs backup`` and clicking "Start backup" through the
real HTTP endpoint, and prints what Slack would show until the backup is reported.

Sealed: run on a production host it must not touch production. It never uses ``REDIS_URL``, and the
bot's processes get none of the ``AZS_*``, ``SLACK_*`` or ``REDIS_*`` variables of the environment it
was started from; ``--set NAME=VALUE`` passes an ``AZS_*`` setting on purpose.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests

from bot.localrun import BotProcess, RedisServer, SlackRequests, free_port, wait_until
from bot.messages import START_ACTION_ID
from bot.simulator import StampSimulator
from bot.slack_fake import FakeSlack, render_message

OPERATOR, CHANNEL = "UDEMOOP", "CDEMO"
FOREIGN_PREFIXES = ("AZS_", "SLACK_", "REDIS_")
"""Variables of the calling environment the demo's processes never inherit: they could name production."""


def say(text: str) -> None:
    print(text, flush=True)


def show(title: str, message: dict[str, Any]) -> None:
    say(f"\n┌─ {title}")
    for line in render_message(message).splitlines():
        say(f"│ {line}")
    say("└─")


@contextmanager
def redis_for_demo() -> Iterator[str]:
    """A private redis-server, whatever ``REDIS_URL`` says (the demo must never write to a shared Redis)."""
    try:
        server = RedisServer()
    except RuntimeError as exc:
        raise SystemExit(f"azs-bot demo: the demo needs its own Redis, and {exc}.") from None
    server.start()
    say(f"• Redis: spawned redis-server on port {server.port}")
    try:
        yield server.url
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azs-bot demo", description=__doc__.splitlines()[0])
    parser.add_argument("--backup-seconds", type=float, default=8.0, help="how long the simulated backup runs")
    parser.add_argument("--outcome", default="Succeeded", choices=["Succeeded", "PartialSucceeded", "Failed"])
    parser.add_argument("--set", action="append", default=[], metavar="AZS_NAME=VALUE", type=_setting,
                        help="pass one AZS_* setting to the demo's bot processes (repeatable; the stamp, "
                        "Redis, Slack and operators stay the demo's own)")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="azs-demo-")))
        sim = StampSimulator(backup_seconds=args.backup_seconds, outcome=args.outcome, retry_after=1,
                             reported_duration="PT21M15.0081024S", state_dir=str(workdir / "sim"))
        sim.start()
        stack.callback(sim.stop)
        say(f"• Stamp simulator (AD FS, TLS with its own CA): {sim.url}")
        slack = FakeSlack().start()
        stack.callback(slack.stop)
        say(f"• Local Slack Web API: {slack.api_url}")
        redis_url = stack.enter_context(redis_for_demo())
        secret, port = secrets.token_hex(16), free_port()
        # --set comes first: it cannot redirect the demo's stamp, Redis, Slack or operators.
        env = {**sealed_environment(), **dict(args.set), **sim.env(),
               "SLACK_BOT_TOKEN": "xoxb-demo-" + secrets.token_hex(6),
               "SLACK_SIGNING_SECRET": secret, "SLACK_API_URL": slack.api_url, "REDIS_URL": redis_url,
               "AZS_OPERATORS": OPERATOR, "AZS_POLL_INTERVAL": "1", "AZS_STAMP_NAME": "demo-stamp",
               "AZS_WATCH_INTERVAL": "2", "AZS_METRICS_PORT": "0",
               "PORT": str(port), "PYTHONUNBUFFERED": "1"}
        web = BotProcess("web", env, workdir)
        stack.callback(web.stop)
        worker = BotProcess("worker", env, workdir)
        stack.callback(worker.stop)
        base = f"http://127.0.0.1:{port}"
        if not wait_until(lambda: _healthy(base), timeout=30):
            say(web.log())
            return 1
        say(f"• Web app (gunicorn) on {base}, worker polling every second\n")
        return play(SlackRequests(base, secret, slack.response_url), slack, sim)
    return 0


def sealed_environment() -> dict[str, str]:
    """This process's environment without anything that could point the bot at production."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(FOREIGN_PREFIXES)}


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"AZS_[A-Z0-9_]+", name):
        raise argparse.ArgumentTypeError(f"expected AZS_NAME=VALUE, got {text!r}")
    return name, value


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def play(client: SlackRequests, slack: FakeSlack, sim: StampSimulator) -> int:
    """The operator's side of the story, printed as Slack would show it."""
    say(f"<@{OPERATOR}> types:  /azs backup")
    started = time.monotonic()
    response, hook = client.command("backup", user=OPERATOR, channel=CHANNEL)
    say(f"  (Slack got the ack in {(time.monotonic() - started) * 1000:.0f} ms, HTTP {response.status_code})")
    if not wait_until(lambda: bool(slack.hook_posts(hook)), timeout=15):
        say("No confirmation arrived; see the web log.")
        return 1
    show("only visible to you", slack.hook_posts(hook)[-1].payload)
    say(f"\n<@{OPERATOR}> clicks [ Start backup ]")
    client.click(START_ACTION_ID, user=OPERATOR, channel=CHANNEL, value="demo-stamp")
    if not wait_until(lambda: bool(slack.messages(CHANNEL)), timeout=15):
        say("The backup was not announced; see the web log.")
        return 1
    show(f"#{CHANNEL}", slack.messages(CHANNEL)[0])
    say(f"\n... the stamp runs the backup ({sim.backup_seconds:.0f} s here, 20-40 minutes on a real stamp) ...")
    if not wait_until(lambda: any(m.get("thread_ts") for m in slack.messages(CHANNEL)), timeout=120):
        say("No completion was posted; see the worker log.")
        return 1
    done = next(m for m in slack.messages(CHANNEL) if m.get("thread_ts"))
    show(f"#{CHANNEL} (in the thread, also sent to the channel)", done)
    ended = sim.finished_at.get(sim_last_backup(sim), 0.0)
    posted = next(c.at for c in slack.calls("chat.postMessage") if c.payload.get("thread_ts"))
    if ended:
        say(f"\nReported {posted - ended:.1f} s after the stamp finished the backup.")
    return watch_scheduled_failure(client, slack, sim)


def watch_scheduled_failure(client: SlackRequests, slack: FakeSlack, sim: StampSimulator) -> int:
    """The other half: nobody started this one, and it failed."""
    say(f"\n<@{OPERATOR}> types:  /azs backup watch")
    _, hook = client.command("backup watch", user=OPERATOR, channel=CHANNEL)
    if not wait_until(lambda: bool(slack.hook_posts(hook)), timeout=15):
        say("The watch was not confirmed; see the web log.")
        return 1
    show("only visible to you", slack.hook_posts(hook)[-1].payload)
    say("\n... overnight, the stamp's scheduler runs a backup, and it fails ...")
    before = len(slack.messages(CHANNEL))
    failed = sim.run_scheduled_backup("Failed")
    if not wait_until(lambda: any(failed in str(m) for m in slack.messages(CHANNEL)[before:]), timeout=30):
        say("The failed scheduled backup was not reported; see the worker log.")
        return 1
    show(f"#{CHANNEL}", next(m for m in slack.messages(CHANNEL)[before:] if failed in str(m)))
    return 0


def sim_last_backup(sim: StampSimulator) -> str:
    finished = sim.finished_at
    return max(finished, key=lambda k: finished[k]) if finished else ""


if __name__ == "__main__":
    sys.exit(main())
