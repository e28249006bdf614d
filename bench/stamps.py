"""A farm of stamp simulators: ``--count`` StampSimulators in one process (one server thread each), controlled
with one-line commands on stdin, each answered by one JSON line on stdout.

It runs apart from the poller being measured so that 200 servers' accept loops and TLS work do not share the
poller's GIL (real stamps are other machines), and so that the poller's RSS is its own.

Commands: ``counts`` (requests per ``"METHOD kind"`` over all stamps), ``finish`` (end running backups),
``quit``. The first line printed lists each simulator's ``AZS_*`` environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from devkit import simulator
from devkit.simulator import StampSimulator


def counts(sims: list[StampSimulator]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for sim in sims:
        total.update(f"{r.method} {r.kind}" for r in sim.requests_log)
    return dict(total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--state-dir", required=True, help="shared CA and client certificate")
    parser.add_argument("--retry-after", type=int, default=0)
    parser.add_argument("--backup-seconds", type=float, default=86400.0)
    parser.add_argument(
        "--close",
        action="store_true",
        help="answer HTTP/1.0, one request per connection (the simulator keeps connections alive)",
    )
    args = parser.parse_args(argv)
    if args.close:
        simulator._Handler.protocol_version = "HTTP/1.0"
    sims = [
        StampSimulator(state_dir=args.state_dir, retry_after=args.retry_after, backup_seconds=args.backup_seconds)
        for _ in range(args.count)
    ]
    for sim in sims:
        sim.start()
    print(json.dumps({"envs": [sim.env() for sim in sims]}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "counts":
            print(json.dumps(counts(sims)), flush=True)
        elif command == "finish":
            print(json.dumps({"finished": sum(1 for sim in sims if sim.finish_running())}), flush=True)
        elif command == "quit":
            break
        else:
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    # No sim.stop(): each waits out a 50 ms serve_forever poll; the servers are daemon threads and the
    # process exits now, closing every socket.
    return 0


if __name__ == "__main__":
    sys.exit(main())
