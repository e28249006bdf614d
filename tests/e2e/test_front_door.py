"""The web process's front door under attack: oversized, malformed, unsigned and stalled requests.

Each test drives ``azs-bot web`` over raw sockets, the way an attacker on the public endpoint would,
and reads what the process wrote: every line JSON, no traceback, no request body.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from devkit.slack_fake import FakeSlack
from tests.conftest import SIGNING_SECRET
from tests.harness import BotProcess, SlackClientSim, free_port, sign, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]
MARKER = "BODYMARKER7f3a"
"""Put in every hostile body: it must never show up in a log line."""
FORM, JSON = "application/x-www-form-urlencoded", "application/json"
MALFORMED = {
    "truncated JSON": (JSON, b'{"type": "block_actions", "user": ' + MARKER.encode()),
    "JSON list": (JSON, b'["' + MARKER.encode() + b'"]'),
    "JSON list, charset given": (JSON + "; charset=utf-8", b'["' + MARKER.encode() + b'"]'),
    "payload with bad JSON": (FORM, b"payload=%7Bbad" + MARKER.encode()),
    "payload as a list": (FORM, b"payload=%5B1%5D&m=" + MARKER.encode()),
    "not UTF-8": (FORM, b"command=/azs&text=\xff\xfe\xc3(" + MARKER.encode()),
    "100,000 nested [": (JSON, b"[" * 100_000),
    "100,000 nested [ in a payload": (FORM, b"payload=" + b"%5B" * 100_000),
}


def host_port(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host.strip("[]"), int(port)


def raw_request(
    base: str, head: str, body: bytes = b"", timeout: float = 5.0, source: str | None = None
) -> tuple[int, bytes]:
    """Send bytes as given (from address ``source``, a 127.x address); return the status and what came back
    (0 if the server closed without a reply)."""
    bind = (source, 0) if source else None
    with socket.create_connection(host_port(base), timeout=timeout, source_address=bind) as sock:
        with contextlib.suppress(OSError):  # the server may answer (and close) before the body is sent
            sock.sendall(head.encode("latin-1") + body)
        return read_status(sock)


def read_status(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    parts = data.split(b" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), data


def post_head(
    length: int | None, headers: dict[str, str] | None = None, chunked: bool = False, content_type: str = FORM
) -> str:
    lines = ["POST /slack/events HTTP/1.1", "Host: bot", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return "\r\n".join(lines) + "\r\n\r\n"


def signed_head(body: bytes, timestamp: int | None = None, content_type: str = FORM) -> str:
    """Headers signed over the exact bytes (``sign`` signs text, which re-encodes non-UTF-8 bytes)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return post_head(
        len(body), {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}, content_type=content_type
    )


def rss_mib(process: BotProcess) -> float:
    """Resident memory of the web process and its children (waitress runs in one process)."""
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def assert_clean_log(process: BotProcess) -> None:
    """Every line the process wrote is one JSON object; none is a traceback or carries a request body."""
    text = process.log()
    assert MARKER not in text
    for line in text.splitlines():
        if line.strip():
            entry = json.loads(line)  # raises on a plain-text line
            assert "Traceback" not in line, entry
            assert entry.get("level") not in ("error", "critical"), entry


@pytest.fixture
def web_proc(start_web: StartWeb) -> tuple[BotProcess, SlackClientSim]:
    return start_web()


def test_oversized_bodies_get_413_unread_and_memory_stays_flat(web_proc: tuple[BotProcess, SlackClientSim]) -> None:
    process, slack = web_proc
    base = slack.base_url
    requests.get(f"{base}/healthz", timeout=5)
    before = rss_mib(process)
    twenty_mib = 20 * 1024 * 1024
    started = time.monotonic()
    # Declared too large: refused from the headers, before the body is read.
    status, _ = raw_request(base, post_head(twenty_mib), MARKER.encode() * 1000)
    assert status == 413 and time.monotonic() - started < 3
    # Chunked: refused once the chunks pass the cap; the client keeps sending until the server closes.
    with socket.create_connection(host_port(base), timeout=5) as sock:
        sock.sendall(post_head(None, chunked=True).encode())
        chunk = (MARKER * 6000).encode()[:262144]
        sent = 0
        with contextlib.suppress(OSError):
            while sent < twenty_mib:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
        assert read_status(sock)[0] == 413 and sent < 8 * 1024 * 1024
    # A flood of whole 20 MiB bodies: memory must not follow.
    body = MARKER.encode() * (twenty_mib // len(MARKER))
    for _ in range(10):
        raw_request(base, post_head(len(body)), body)
    assert requests.get(f"{base}/healthz", timeout=3).status_code == 200
    assert rss_mib(process) - before < 30, (before, rss_mib(process))
    assert_clean_log(process)


def test_many_bodies_just_under_the_cap_at_once_keep_memory_bounded(
    web_proc: tuple[BotProcess, SlackClientSim],
) -> None:
    process, slack = web_proc
    requests.get(f"{slack.base_url}/healthz", timeout=5)
    before = rss_mib(process)
    body = (MARKER.encode() * (1024 * 1024 // len(MARKER)))[: 1024 * 1024 - 64]
    statuses: list[int] = []

    def send(source: str) -> None:
        statuses.append(raw_request(slack.base_url, post_head(len(body)), body, timeout=30, source=source)[0])

    for _ in range(2):  # from 4 addresses: one may hold only AZS_CONNECTIONS_PER_ADDRESS (50) connections
        senders = [threading.Thread(target=send, args=(f"127.0.0.{2 + n % 4}",)) for n in range(100)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
    assert statuses == [401] * 200
    assert rss_mib(process) - before < 60, (before, rss_mib(process))
    assert_clean_log(process)


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_bodies_get_4xx_never_500(web_proc: tuple[BotProcess, SlackClientSim], name: str) -> None:
    process, slack = web_proc
    content_type, body = MALFORMED[name]
    unsigned = raw_request(slack.base_url, post_head(len(body), content_type=content_type), body)[0]
    signed = raw_request(slack.base_url, signed_head(body, content_type=content_type), body)[0]
    assert (unsigned, signed) == (401, 400)
    assert requests.get(f"{slack.base_url}/healthz", timeout=3).status_code == 200
    assert_clean_log(process)


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("soon", "v0=" + "0" * 64),
        ("", ""),
        ("12" * 20, "v0=00"),
        ("-5", "v0=00"),
        ("1e9", "v0=00"),
        ("\u0661\u0662", "v0=00"),
        ("now-301", None),
        ("now+400", None),
    ],
)
def test_bad_or_stale_signature_headers_get_401(
    web_proc: tuple[BotProcess, SlackClientSim], timestamp: str, signature: str | None
) -> None:
    process, slack = web_proc
    if timestamp.startswith("now"):  # relative to when the test runs, not when it was collected
        timestamp = str(int(time.time()) + int(timestamp[3:]))
    body = f"command=/azs&text=help&m={MARKER}"
    headers = {"X-Slack-Request-Timestamp": timestamp} if timestamp else {}
    if signature is None:  # correctly signed, but outside Slack's 5-minute window
        signature = sign(SIGNING_SECRET, body, int(timestamp))["X-Slack-Signature"]
    if signature:
        headers["X-Slack-Signature"] = signature
    head = post_head(len(body), headers).encode("utf-8").decode("latin-1")
    assert raw_request(slack.base_url, head, body.encode())[0] == 401
    assert_clean_log(process)


def test_a_signed_request_nobody_handles_is_logged_without_its_body(
    web_proc: tuple[BotProcess, SlackClientSim],
) -> None:
    """Bolt's 'Unhandled request' warning quotes the body (and suggests code from it); only its first words stay."""
    process, slack = web_proc
    body = json.dumps({"type": "event_callback", "event": {"type": MARKER, "user": MARKER}}).encode()
    assert raw_request(slack.base_url, signed_head(body, content_type=JSON), body)[0] == 404
    assert wait_until(lambda: "Unhandled request" in process.log(), timeout=5)
    assert_clean_log(process)


def test_other_paths_and_methods_get_404(web_proc: tuple[BotProcess, SlackClientSim]) -> None:
    process, slack = web_proc
    assert requests.get(f"{slack.base_url}/slack/events", timeout=5).status_code == 404
    assert requests.post(f"{slack.base_url}/anything", data=MARKER, timeout=5).status_code == 404
    assert_clean_log(process)


@contextlib.contextmanager
def stalled_connections(base: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` clients that send part of a request and then nothing (half of them stop inside the headers).

    They come from 127.0.0.2 and 127.0.0.3 (30 at most from each), not the signed requests' 127.0.0.1: one
    address may hold only its share of the connections (``AZS_CONNECTIONS_PER_ADDRESS``, 50).
    """
    socks = []
    try:
        for number in range(count):
            source = f"127.0.0.{2 + number // 30}"
            sock = socket.create_connection(host_port(base), timeout=5, source_address=(source, 0))
            if number % 2:
                sock.sendall(post_head(1000).encode() + b"command=/azs")
            else:
                sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slack-Sig")
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def test_stalled_clients_starve_neither_health_nor_acks_nor_replies(
    web_proc: tuple[BotProcess, SlackClientSim],
) -> None:
    process, slack = web_proc
    slack.command("help")  # warm: first Redis and Slack connections
    with stalled_connections(slack.base_url, 60):
        time.sleep(0.5)
        started = time.monotonic()
        assert requests.get(f"{slack.base_url}/healthz", timeout=3).status_code == 200
        response, _ = slack.command("help")
        assert response.status_code == 200 and "backup" in response.text
        assert time.monotonic() - started < 3
        # The after-ack pool waits (up to 2 s) while requests are in flight: stalled ones must not count.
        asked = time.monotonic()
        response, hook = slack.command("backup status")
        assert response.status_code == 200
        slack.wait_reply(hook, "", timeout=5)
        assert time.monotonic() - asked < 1.8
    assert_clean_log(process)


def stalled_from(address: str, base: str, count: int) -> list[socket.socket]:
    """``count`` connections from ``address`` (any 127.x address works on Linux loopback), each stalled."""
    socks = []
    for number in range(count):
        sock = socket.socket()
        sock.bind((address, 0))
        sock.settimeout(5)
        sock.connect(host_port(base))  # the listen backlog completes it even when the server accepts no more
        with contextlib.suppress(OSError):  # the server may already have closed it
            sock.sendall(post_head(1000).encode() + b"command=/azs" if number % 2 else b"POST /slack/events HTTP/1.1")
        socks.append(sock)
    return socks


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_one_address_cannot_hold_every_connection_slot(web_proc: tuple[BotProcess, SlackClientSim]) -> None:
    """500 stalled sockets from one address used to fill the server (9.5 s for a signed command from another)."""
    process, slack = web_proc
    slack.command("help")  # warm
    socks = stalled_from("127.0.0.2", slack.base_url, 500)
    try:
        started = time.monotonic()
        response, _ = slack.command("help")  # from 127.0.0.1
        assert response.status_code == 200 and "backup" in response.text
        assert time.monotonic() - started < 2.0
        assert wait_until(lambda: sum(not closed_by_server(s) for s in socks) <= 50, timeout=3)
    finally:
        for sock in socks:
            sock.close()
    assert_clean_log(process)


def test_one_stalled_unsigned_request_does_not_hold_back_replies(web_proc: tuple[BotProcess, SlackClientSim]) -> None:
    """The after-ack pool waits while requests are in flight; an unsigned one whose body never comes is not one."""
    _, slack = web_proc
    _, hook = slack.command("backup status")
    slack.wait_reply(hook, "", timeout=10)  # warm
    with stalled_connections(slack.base_url, 2):  # the second one has sent its headers, not its body
        time.sleep(0.5)
        asked = time.monotonic()
        response, hook = slack.command("backup status")
        assert response.status_code == 200
        slack.wait_reply(hook, "", timeout=5)
        assert time.monotonic() - asked < 1.8  # held back, it would take 2 s or more


def test_a_request_that_trickles_in_is_cut_off(web_proc: tuple[BotProcess, SlackClientSim]) -> None:
    """A client sending a byte every second never finishes a request: the server hangs up after ~10 s."""
    _, slack = web_proc
    with socket.create_connection(host_port(slack.base_url), timeout=2) as sock:
        head = post_head(1000).encode()
        sock.sendall(head)
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 16 and not closed:
            try:
                sock.sendall(b"x")
                sock.settimeout(1.0)
                closed = sock.recv(1024) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
        assert closed and 8 < time.monotonic() - started < 16


def test_web_binds_an_ipv6_literal(bot_env: dict[str, str], tmp_path: Path, fake_slack: FakeSlack) -> None:
    port = free_port()
    process = BotProcess("web", {**bot_env, "HOST": "::1", "PORT": str(port)}, tmp_path)
    try:

        def answering() -> bool:
            try:
                return requests.get(f"http://[::1]:{port}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        assert wait_until(answering, timeout=30), process.log()
    finally:
        process.stop()
    assert_clean_log(process)
