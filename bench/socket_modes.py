"""Socket Mode clients under Slack's faults: late acks, recovery time and CPU while recovering.

``python -m bench.socket_modes [--quick] [--adapters a,b] [--pings 10,5]``

Each row is one client (``bench/socket_client.py``: a bare ack-only Bolt app behind one of Bolt's Socket Mode
adapters, or this project's runner) with one ping interval, against the project's Socket Mode test server
(``devkit.socket_server``) and the fake Web API for ``apps.connections.open``. Every scenario starts a fresh
client and server, so a client that never recovered from one fault does not spoil the next. Loopback only.

Columns: ``late`` = envelopes not acked within Slack's 3 s (or never) out of those sent; ``recovery`` = from the
fault until an envelope sent on a new connection was acked (``never`` = not within the limit); ``cpu`` = CPU
seconds the client burnt meanwhile (a client waiting on a timer burns ~0; one spinning burns ~recovery).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devkit.localrun import ChildProcess
from devkit.slack_fake import FakeSlack
from devkit.socket_server import Outcome, ScenarioPlayer, SocketModeServer

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ("builtin", "websocket_client", "aiohttp", "websockets", "azs-bot")

Scenario = tuple[str, Callable[[ScenarioPlayer], Outcome]]


def scenarios(quick: bool) -> list[Scenario]:
    limit = 20.0 if quick else 90.0
    return [
        ("steady", lambda p: p.steady(10 if quick else 30)),
        ("refresh", lambda p: p.refreshes(3 if quick else 5)),
        ("warning+refresh", lambda p: p.refreshes(2 if quick else 5, warning=True)),
        ("drop", lambda p: p.drop(reset=False, limit=limit)),
        ("drop+reset", lambda p: p.drop(reset=True, limit=limit)),
        ("half-open", lambda p: p.half_open(limit=limit)),
        ("redelivery", lambda p: p.redelivery()),
    ]


def start_client(adapter: str, ping: float, api_url: str, log_dir: Path) -> ChildProcess:
    """One ``bench.socket_client`` process, logging to a file in ``log_dir``."""
    command = [sys.executable, "-m", "bench.socket_client", adapter, str(ping), api_url]
    return ChildProcess(f"{adapter}-{ping:g}", command, os.environ, log_dir, cwd=ROOT)


def play(
    adapter: str, ping: float, name: str, scenario: Callable[[ScenarioPlayer], Outcome], fake: FakeSlack, log_dir: Path
) -> Outcome:
    server = SocketModeServer().start()
    fake.socket_url = server.url
    client = start_client(adapter, ping, fake.api_url, log_dir)
    try:
        try:
            server.wait_connection(2 if adapter == "azs-bot" else 1, timeout=20)
        except TimeoutError:
            return Outcome(name, notes=[f"never connected (log: {client.log_path})"])
        time.sleep(0.5)  # let the client finish its own start-up (first ping, listeners) before the fault
        return scenario(ScenarioPlayer(server, pid=client.process.pid))
    finally:
        client.kill()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer envelopes and a 20 s recovery limit")
    parser.add_argument("--adapters", default=",".join(ADAPTERS), help="comma-separated, from: " + ", ".join(ADAPTERS))
    parser.add_argument("--pings", default="10,5", help="ping intervals in seconds, comma-separated")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    args = parser.parse_args(argv)
    adapters = [a for a in args.adapters.split(",") if a]
    unknown = set(adapters) - set(ADAPTERS)
    if unknown:
        parser.error(f"unknown adapters: {', '.join(sorted(unknown))}")
    chosen = [s for s in scenarios(args.quick) if not args.only or s[0] in args.only.split(",")]
    log_dir = Path(tempfile.mkdtemp(prefix="azs-socket-bench-"))
    fake = FakeSlack().start()
    started = time.monotonic()
    try:
        for adapter in adapters:
            for ping in (float(p) for p in args.pings.split(",") if p):
                print(f"\n## {adapter}, ping every {ping:g}s\n\n{ScenarioPlayer.HEADER}", flush=True)
                for name, scenario in chosen:
                    print(play(adapter, ping, name, scenario, fake, log_dir).row(), flush=True)
    finally:
        fake.stop()
    print(f"\n{time.monotonic() - started:.0f}s; client logs in {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
