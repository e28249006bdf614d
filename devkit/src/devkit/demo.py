"""``azs-bot demo``: the whole product on this machine, narrated in the terminal.

It starts the stamp simulator, its own ``redis-server``, a local Slack Web API, the web app (waitress)
and the worker; then plays an operator typing ``/azs backup`` and clicking "Start backup" through the
real HTTP endpoint, and prints what Slack would show until the backup is reported. It ends with the evidence:
this month's report (``/azs backup report``, uploaded through Slack's file upload flow) and a digest the worker's
scheduler sends (set for the current minute, so it is due at once); their files are copied from the local Slack
into a directory of the demo's own (``azs-demo-files-*`` under the system's temporary directory, kept so they can
be opened) and printed with their SHA-256.

Sealed: run on a production host it must not touch production. It never uses ``REDIS_URL``, and the
bot's processes get none of the ``AZS_*``, ``SLACK_*`` or ``REDIS_*`` variables of the environment it
was started from; ``--set NAME=VALUE`` passes one of the tuning settings in :data:`TUNING` on purpose, and
nothing else (no stamps, credentials, endpoints, Redis, Slack or operators).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.words.digest import DIGEST_EVENT
from bot.words.replies import START_ACTION_ID
from devkit.localrun import (
    BotProcess,
    RedisServer,
    SlackRequests,
    bot_environment,
    event_payload,
    launch_web,
    wait_until,
)
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack, render_message

OPERATOR, CHANNEL = "UDEMOOP", "CDEMO"
TUNING = (
    "AZS_POLL_INTERVAL",
    "AZS_LEASE_SECONDS",
    "AZS_START_GRACE_SECONDS",
    "AZS_BACKUP_TIMEOUT",
    "AZS_MAX_RETRY_AFTER",
    "AZS_HTTP_TIMEOUT",
    "AZS_WATCH_INTERVAL",
    "AZS_SNAPSHOT_INTERVAL",
    "AZS_MAX_BACKUP_AGE_HOURS",
    "AZS_PROGRESS_INTERVAL",
    "AZS_WORK_THREADS",
    "AZS_JOB_RETENTION_DAYS",
    "AZS_SLACK_RETRY_SECONDS",
)
"""What ``--set`` may change: how fast and how long the demo's own parts work, never what they talk to. An
allow-list, so a setting added later (an endpoint, a file, a credential) stays out until it is put here."""


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
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="AZS_NAME=VALUE",
        type=tuning_setting,
        help="pass one tuning setting to the demo's bot processes (repeatable): " + ", ".join(TUNING) + "; the "
        "stamp, credentials, Redis, Slack and operators stay the demo's own",
    )
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="azs-demo-")))
        sim = StampSimulator(
            backup_seconds=args.backup_seconds,
            outcome=args.outcome,
            retry_after=1,
            reported_duration="PT21M15.0081024S",
            state_dir=str(workdir / "sim"),
        )
        sim.start()
        stack.callback(sim.stop)
        say(f"• Stamp simulator (AD FS, TLS with its own CA): {sim.url}")
        slack = FakeSlack().start()
        stack.callback(slack.stop)
        say(f"• Local Slack Web API: {slack.api_url}")
        redis_url = stack.enter_context(redis_for_demo())
        secret = secrets.token_hex(16)
        env = bot_environment(
            sim.env(),
            slack_api_url=slack.api_url,
            redis_url=redis_url,
            signing_secret=secret,
            bot_token="xoxb-demo-" + secrets.token_hex(6),
            operators=[OPERATOR],
            stamp_name="demo-stamp",
            poll_interval=1,
            settings={"AZS_WATCH_INTERVAL": "2", "AZS_SNAPSHOT_INTERVAL": "2", **dict(args.set)},
        )
        try:
            web, base = launch_web(env, workdir, healthy=True)
        except RuntimeError as exc:
            say(str(exc))
            return 1
        stack.callback(web.stop)
        worker = BotProcess("worker", env, workdir)
        stack.callback(worker.stop)
        say(f"• Web app (waitress) on {base}, worker polling every second\n")
        return play(SlackRequests(base, secret, slack.response_url), slack, sim)
    return 0


def tuning_setting(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` for a name in :data:`TUNING`; anything else is refused, saying what may be set."""
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"AZS_[A-Z0-9_]+", name):
        raise argparse.ArgumentTypeError(f"expected AZS_NAME=VALUE, got {text[:80]!r}")
    if name not in TUNING:
        raise argparse.ArgumentTypeError(
            f"{name} cannot be set in the demo: it only takes tuning settings ({', '.join(TUNING)}); its stamp, "
            "credentials, Redis, Slack and operators are its own"
        )
    return name, value


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
    return report_and_digest(client, slack)


def report_and_digest(client: SlackRequests, slack: FakeSlack) -> int:
    """The evidence from the same backups: this month's report on demand, and a digest from the worker."""
    month = datetime.now(UTC).strftime("%Y-%m")
    say(f"\n<@{OPERATOR}> types:  /azs backup report {month}")
    _, hook = client.command(f"backup report {month}", user=OPERATOR, channel=CHANNEL)
    if not wait_until(lambda: bool(slack.uploaded_files(CHANNEL)) and bool(slack.hook_posts(hook)), timeout=60):
        say("The report was not uploaded; see the web log.")
        return 1
    show(f"#{CHANNEL} (the upload's message)", next(m for m in slack.messages(CHANNEL) if m.get("upload")))
    at = this_minute()
    say(f"\n<@{OPERATOR}> types:  /azs backup digest daily {at}   (this minute, UTC: due at once)")
    _, hook = client.command(f"backup digest daily {at}", user=OPERATOR, channel=CHANNEL)
    if not wait_until(lambda: any(event_payload(m, DIGEST_EVENT) for m in slack.messages(CHANNEL)), timeout=45):
        say("No digest was posted; see the worker log.")
        return 1
    digest = next(m for m in slack.messages(CHANNEL) if event_payload(m, DIGEST_EVENT))
    show(f"#{CHANNEL} (the worker's digest)", digest)
    keep_files(slack, render_message(digest))
    return 0


def this_minute() -> str:
    """The current UTC minute, with time left in it for the command to land within it."""
    second = datetime.now(UTC).second
    if second > 50:
        say(f"  (waiting {61 - second} s for the next minute, so the digest is set within the minute it is due)")
        time.sleep(61 - second)
    return datetime.now(UTC).strftime("%H:%M")


def keep_files(slack: FakeSlack, digest: str) -> Path:
    """Copy what the channel received into a new directory of the demo's own, and say where and their SHA-256."""
    out = Path(tempfile.mkdtemp(prefix="azs-demo-files-"))
    kept = {Path(f.name).name: f.content or b"" for f in slack.uploaded_files(CHANNEL)}
    kept["digest.txt"] = digest.encode()
    say(f"\nThe report's files and the digest, as the channel received them (kept in {out}):")
    for name, content in kept.items():
        path = out / name
        path.write_bytes(content)
        say(f"  {path}  SHA-256 {hashlib.sha256(content).hexdigest()}")
    return out


def sim_last_backup(sim: StampSimulator) -> str:
    finished = sim.finished_at
    return max(finished, key=lambda k: finished[k]) if finished else ""


if __name__ == "__main__":
    sys.exit(main())
