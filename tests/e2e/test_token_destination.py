"""Finding 1 of issue 17: the stamp's bearer token goes only to the configured ARM endpoint.

A hostile or confused stamp (or whoever can write a job hash in Redis) names an operation URL that the
standard library reads as the stamp but ``requests`` sends elsewhere (``https://attacker\\@stamp/...``),
or one with userinfo (``https://attacker@stamp/...``), or answers a poll with a redirect. An attacker
listener, trusted like the stamp (same CA), counts every connection it is offered: it must see none,
and the backup must still be followed, by id, to its posted outcome.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme

from bot.state.keys import job_key
from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim, completions, wait_until

StartWorker = Callable[..., BotProcess]


class Attacker(ThreadingHTTPServer):
    """A listener that records every connection and request it gets (and answers 404)."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _AttackerHandler)
        if context is not None:  # the handshake runs in the handler thread, after the connection is counted
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.connections = 0
        self.requests: list[tuple[str, str, bool]] = []
        self.scheme = "https" if context else "http"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed handshake or a reset: still counted, nothing to show."""


class _AttackerHandler(BaseHTTPRequestHandler):
    server: Attacker

    def do_GET(self) -> None:
        self.server.requests.append((self.command, self.path, "Authorization" in self.headers))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads ``requests``."""


@contextmanager
def attacker(stamp: StampSimulator, scheme: str) -> Iterator[Attacker]:
    """An attacker on 127.0.0.1 whose certificate the bot trusts (issued by the stamp's own CA)."""
    context = None
    if scheme == "https":
        state = Path(stamp.state_dir)
        ca = trustme.CA.from_pem((state / "ca.pem").read_bytes(), (state / "ca-key.pem").read_bytes())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = Attacker(context)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def hostile_origin(form: str, listener: Attacker, stamp: StampSimulator) -> str:
    """What the stamp names instead of itself: the standard library reads the host of both as the stamp."""
    stamp_authority = stamp.url.split("://", 1)[1]
    attacker_authority = listener.origin.split("://", 1)[1]
    separator = "\\@" if form == "backslash" else "@"
    return f"{listener.scheme}://{attacker_authority}{separator}{stamp_authority}"


@pytest.fixture
def restored(stamp: StampSimulator) -> Iterator[StampSimulator]:
    """The shared simulator, handed back naming itself in its operation URLs again."""
    yield stamp
    stamp.configure({"operation_origin": ""})


def outcome_posted(fake: FakeSlack) -> bool:
    return "Status: Succeeded" in json.dumps(completions(fake))


def assert_followed_by_id(stamp: StampSimulator, since: int) -> None:
    """The worker read the backup by id, the way ARM accepts (the strict simulator refused nothing)."""
    calls = stamp.requests_log[since:]
    assert [r for r in calls if r.kind == "backup" and r.status == 200 and "api-version=" in r.path]
    assert not [r for r in calls if r.status in (400, 405)], [(r.method, r.path, r.status) for r in calls]


FORMS = [("backslash", "https"), ("backslash", "http"), ("at", "https"), ("at", "http")]


@pytest.mark.parametrize("lro_style", ["async", "location"])
@pytest.mark.parametrize(("form", "scheme"), FORMS)
def test_a_hostile_operation_url_from_the_stamp_gets_no_request(
    slack: SlackClientSim,
    restored: StampSimulator,
    fake_slack: FakeSlack,
    start_worker: StartWorker,
    form: str,
    scheme: str,
    lro_style: str,
) -> None:
    stamp = restored
    stamp.lro_style, stamp.backup_seconds = lro_style, 2.0
    with attacker(stamp, scheme) as listener:
        stamp.configure({"operation_origin": hostile_origin(form, listener, stamp)})
        since = len(stamp.requests_log)
        slack.start_backup()
        start_worker()
        posted = wait_until(lambda: outcome_posted(fake_slack), timeout=30)
        assert (listener.connections, listener.requests) == (0, [])
    assert posted, json.dumps(completions(fake_slack))
    assert_followed_by_id(stamp, since)
    operations = [r for r in stamp.requests_log[since:] if r.kind in ("operationResults", "asyncOperation")]
    assert operations == []  # nor was the hostile URL's path sent to the stamp


@pytest.mark.parametrize(("form", "scheme"), FORMS)
def test_a_hostile_operation_url_in_a_job_hash_gets_no_request(
    slack: SlackClientSim,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    redis_client: redis.Redis,
    start_worker: StartWorker,
    form: str,
    scheme: str,
) -> None:
    stamp.backup_seconds = 2.0
    backup_id = slack.start_backup()
    [key] = redis_client.keys(job_key("*"))
    with attacker(stamp, scheme) as listener:
        path = f"{stamp._prefix()}/operationResults/{backup_id}?api-version=2018-09-01"
        hostile = hostile_origin(form, listener, stamp) + path
        redis_client.hset(key, mapping={"poll_url": hostile + "&IsAsyncOperation=1", "location_url": hostile})
        since = len(stamp.requests_log)
        start_worker()
        posted = wait_until(lambda: outcome_posted(fake_slack), timeout=30)
        assert (listener.connections, listener.requests) == (0, [])
    assert posted, json.dumps(completions(fake_slack))
    assert_followed_by_id(stamp, since)


def test_a_redirect_from_the_stamp_is_not_followed(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    """The stamp answers the operation poll with 302 to another host: nothing goes there, the backup is
    then read by id."""
    stamp.backup_seconds = 2.0
    backup_id = slack.start_backup()
    with attacker(stamp, "https") as listener:
        elsewhere = f"{listener.origin}{stamp._prefix()}/operationResults/{backup_id}?api-version=2018-09-01"
        stamp.inject(Fault(status=302, times=100, path_contains="operationResults", headers={"Location": elsewhere}))
        since = len(stamp.requests_log)
        start_worker()
        posted = wait_until(lambda: outcome_posted(fake_slack), timeout=30)
        assert (listener.connections, listener.requests) == (0, [])
    assert posted, json.dumps(completions(fake_slack))
    assert [r for r in stamp.requests_log[since:] if r.kind == "asyncOperation" and r.status == 302]
    assert_followed_by_id(stamp, since)
