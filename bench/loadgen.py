"""Load generator, run as its own process so the simulator and fake Slack in the benchmark process never hold
its GIL: ``senders`` threads each send ``count`` signed ``/azs`` commands back to back, one connection per
request as Slack does, and time each one until its HTTP response (the ack) is read. Prints JSON.

With ``--stalled N`` it first opens N connections that send part of a request and then nothing (half stop
inside the headers, half after them with the body missing), keeps them open while it measures, and opens a
new one whenever the server closes one (``--no-reopen``: it only counts those). They come from the addresses
in ``--stalled-from`` (round robin), and each sender from its own address (127.0.1.<sender + 1>): the web
lets one address hold only ``AZS_CONNECTIONS_PER_ADDRESS`` connections, and Slack's requests come from many.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

from devkit.localrun import command_form, sign


def command_body(text: str, user: str, channel: str, response_url: str) -> str:
    return urlencode(command_form(text, user=user, channel=channel, response_url=response_url))


def sender_address(number: int) -> str:
    return f"127.0.1.{number % 250 + 1}"


def send(host: str, port: int, body: bytes, headers: dict[str, str], source: str) -> tuple[float, int, bool]:
    """One POST on a fresh connection; (seconds until the whole response was read, HTTP status, whether the ack
    carried the answer: a read answered from the snapshot sends nothing to the ``response_url``)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))
    try:
        conn.request("POST", "/slack/events", body=body, headers=headers)
        response = conn.getresponse()
        answered = bool(response.read().strip())
        return time.perf_counter() - started, response.status, answered
    finally:
        conn.close()


def stall(host: str, port: int, number: int, source: str) -> socket.socket:
    """One connection from ``source`` that sends part of a POST and then waits forever."""
    sock = socket.create_connection((host, port), timeout=5, source_address=(source, 0))
    with contextlib.suppress(OSError):  # the server may close it at once (the address holds its share)
        if number % 2:
            sock.sendall(
                b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/x-www-form-urlencoded"
                b"\r\nContent-Length: 1000\r\n\r\ncommand=/azs"
            )
        else:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slack-Sig")
    return sock


@contextlib.contextmanager
def stalled_connections(
    host: str, port: int, count: int, sources: list[str], reopen: bool = True
) -> Iterator[dict[str, int]]:
    """Hold ``count`` stalled connections open until the block ends; yields counts: reopened, closed by the server."""
    socks = [stall(host, port, n, sources[n % len(sources)]) for n in range(count)]
    counts = {"reopened": 0, "closed": 0}
    done = threading.Event()

    def keep() -> None:
        while not done.wait(0.2):
            readable, _, _ = select.select([s for s in socks if s.fileno() >= 0], [], [], 0)
            for sock in readable:  # a stalled socket turns readable only when the server answers or closes
                index = socks.index(sock)
                sock.close()
                counts["closed"] += 1
                if reopen:
                    with contextlib.suppress(OSError):
                        socks[index] = stall(host, port, index, sources[index % len(sources)])
                        counts["reopened"] += 1

    keeper = threading.Thread(target=keep, daemon=True)
    keeper.start()
    try:
        yield counts
    finally:
        done.set()
        keeper.join()
        for sock in socks:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="base URL of the web process")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--text", required=True, help="what follows /azs")
    parser.add_argument("--senders", type=int, required=True)
    parser.add_argument("--count", type=int, required=True, help="requests per sender")
    parser.add_argument("--user", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--hooks", required=True, help="response_url prefix; the request number is appended")
    parser.add_argument("--stalled", type=int, default=0, help="connections held open, stalled, while measuring")
    parser.add_argument("--stalled-from", default="127.0.0.2", help="comma-separated addresses they come from")
    parser.add_argument("--no-reopen", action="store_true", help="do not replace those the server closes")
    args = parser.parse_args(argv)
    target = urlsplit(args.url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    answered_in_ack = 0
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(args.senders)

    def sender(number: int) -> None:
        nonlocal answered_in_ack
        barrier.wait()
        for i in range(args.count):
            body = command_body(args.text, args.user, args.channel, f"{args.hooks}-{number}-{i}")
            headers = sign(args.secret, body)  # signed just before sending: Bolt rejects stale timestamps
            try:
                seconds, status, answered = send(host, port, body.encode(), headers, sender_address(number))
            except OSError as exc:
                with lock:
                    errors.append(type(exc).__name__)
                continue
            with lock:
                latencies.append(seconds)
                statuses[status] = statuses.get(status, 0) + 1
                answered_in_ack += answered

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(args.senders)]
    sources = args.stalled_from.split(",")
    with stalled_connections(host, port, args.stalled, sources, reopen=not args.no_reopen) as stalled:
        time.sleep(0.5 if args.stalled else 0)  # let the server take them all in before measuring
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    json.dump(
        {
            "latencies": latencies,
            "statuses": statuses,
            "answered_in_ack": answered_in_ack,
            "errors": errors,
            "wall": wall,
            "stalled_reopened": stalled["reopened"],
            "stalled_closed": stalled["closed"],
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
