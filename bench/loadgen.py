"""Load generator, run as its own process so the simulator and fake Slack in the benchmark process never hold
its GIL: ``senders`` threads each send ``count`` signed ``/azs`` commands back to back, one connection per
request as Slack does, and time each one until its HTTP response (the ack) is read. Prints JSON.

With ``--stalled N`` it first opens N connections that send part of a request and then nothing (half stop
inside the headers, half after them with the body missing), keeps them open while it measures, and opens a
new one whenever the server closes one.
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


def send(host: str, port: int, body: bytes, headers: dict[str, str]) -> tuple[float, int]:
    """One POST on a fresh connection; (seconds until the whole response was read, HTTP status)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", "/slack/events", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return time.perf_counter() - started, response.status
    finally:
        conn.close()


def stall(host: str, port: int, number: int) -> socket.socket:
    """One connection that sends part of a POST and then waits forever."""
    sock = socket.create_connection((host, port), timeout=5)
    if number % 2:
        sock.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/x-www-form-urlencoded"
            b"\r\nContent-Length: 1000\r\n\r\ncommand=/azs"
        )
    else:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slack-Sig")
    return sock


@contextlib.contextmanager
def stalled_connections(host: str, port: int, count: int) -> Iterator[list[int]]:
    """Hold ``count`` stalled connections open until the block ends; yields a one-item list: reopen count."""
    socks = [stall(host, port, n) for n in range(count)]
    reopened = [0]
    done = threading.Event()

    def keep() -> None:
        while not done.wait(0.2):
            readable, _, _ = select.select(socks, [], [], 0)
            for sock in readable:  # a stalled socket turns readable only when the server answers or closes
                index = socks.index(sock)
                sock.close()
                with contextlib.suppress(OSError):
                    socks[index] = stall(host, port, index)
                    reopened[0] += 1

    keeper = threading.Thread(target=keep, daemon=True)
    keeper.start()
    try:
        yield reopened
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
    args = parser.parse_args(argv)
    target = urlsplit(args.url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(args.senders)

    def sender(number: int) -> None:
        barrier.wait()
        for i in range(args.count):
            body = command_body(args.text, args.user, args.channel, f"{args.hooks}-{number}-{i}")
            headers = sign(args.secret, body)  # signed just before sending: Bolt rejects stale timestamps
            try:
                seconds, status = send(host, port, body.encode(), headers)
            except OSError as exc:
                with lock:
                    errors.append(type(exc).__name__)
                continue
            with lock:
                latencies.append(seconds)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(args.senders)]
    with stalled_connections(host, port, args.stalled) as reopened:
        time.sleep(0.5 if args.stalled else 0)  # let the server take them all in before measuring
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    json.dump(
        {"latencies": latencies, "statuses": statuses, "errors": errors, "wall": wall, "stalled_reopened": reopened[0]},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
