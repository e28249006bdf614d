"""Property test of the front door: hypothesis builds hostile requests (headers, signatures, bodies) and sends
them to a running ``azs-bot web``. Whatever it sends: no 5xx, no traceback and no body in the log, and
the process still answers ``/healthz`` with its memory where it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.localrun import launch_web
from tests.e2e.test_front_door import FORM, JSON, assert_clean_log, host_port, raw_request, rss_mib, signed_head
from tests.harness import BotProcess

HEADER_NAME = st.text(
    alphabet=st.characters(min_codepoint=0x41, max_codepoint=0x7A, categories=("Lu", "Ll")), min_size=1, max_size=20
)
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
BODIES = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=512).map(lambda t: t.encode("utf-8", "surrogatepass")),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    JSON_VALUES.map(lambda v: b"payload=" + quote(json.dumps(v)).encode()),
    st.dictionaries(
        st.sampled_from(["command", "text", "payload", "type", "user_id", "x"]), st.text(max_size=30), max_size=4
    ).map(lambda d: urlencode(d).encode()),
    st.integers(1, 200_000).map(lambda n: b"[" * n),
    st.integers(1, 50_000).map(lambda n: b"payload=" + b"%7B%22a%22%3A" * n),
)
CONTENT_TYPES = st.sampled_from([FORM, JSON, "text/plain", "", "application/json; charset=utf-8", "multipart/x"])
TIMESTAMPS = st.one_of(
    st.just("now"), st.just("stale"), st.just("future"), st.text(max_size=14), st.integers(-(10**15), 10**15).map(str)
)


@pytest.fixture(scope="module")
def fuzz_web(bot_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, str]]:
    process, base = launch_web(bot_env, tmp_path_factory.mktemp("fuzz"))
    yield process, base
    process.stop()


def head_for(body: bytes, content_type: str, timestamp: str, signature: str, extra: dict[str, str]) -> str:
    now = int(time.time())
    if signature == "valid" and timestamp in ("now", "stale", "future"):
        when = {"now": now, "stale": now - 400, "future": now + 400}[timestamp]
        head = signed_head(body, when, content_type)
    else:
        ts = {"now": str(now), "stale": str(now - 400), "future": str(now + 400)}.get(timestamp, timestamp)
        headers = {"X-Slack-Request-Timestamp": ts} if signature != "missing" else {}
        if signature not in ("missing", "valid"):
            headers["X-Slack-Signature"] = signature
        lines = [
            "POST /slack/events HTTP/1.1",
            "Host: bot",
            f"Content-Type: {content_type}",
            *(f"{k}: {v}" for k, v in headers.items()),
            f"Content-Length: {len(body)}",
        ]
        head = "\r\n".join(lines) + "\r\n\r\n"
    extras = "".join(f"X-Fuzz-{k}: {v}\r\n" for k, v in extra.items())
    return head[:-2] + extras + "\r\n"


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    body=BODIES,
    content_type=CONTENT_TYPES,
    timestamp=TIMESTAMPS,
    signature=st.one_of(st.sampled_from(["valid", "missing"]), st.text(max_size=80).map(lambda t: t.strip())),
    extra=st.dictionaries(HEADER_NAME, HEADER_VALUE, max_size=3),
)
def test_no_request_gets_a_5xx(
    fuzz_web: tuple[BotProcess, str],
    body: bytes,
    content_type: str,
    timestamp: str,
    signature: str,
    extra: dict[str, str],
) -> None:
    _, base = fuzz_web
    if b"response_url" in body or b"http" in body.lower():
        return  # a signed body naming a URL would make the bot call it; the fuzz stays on loopback
    head = head_for(body, content_type, timestamp, signature, extra)
    try:
        head.encode("latin-1")
    except UnicodeEncodeError:
        head = head.encode("utf-8").decode("latin-1")  # send the UTF-8 bytes as they are
    status, answer = raw_request(base, head, body)
    assert 200 <= status < 500, (status, answer[:200])


def test_after_the_fuzz_the_process_is_healthy_and_its_log_clean(fuzz_web: tuple[BotProcess, str]) -> None:
    """Runs after the property test (same module, same process): health, memory, log."""
    process, base = fuzz_web
    assert host_port(base)
    nested = b"[" * 900_000

    def flood() -> None:
        for _ in range(20):
            raw_request(base, head_for(nested, JSON, "now", "valid", {}), nested)

    flood()  # the first flood grows the allocator's per-thread arenas; bounded means a second one does not
    before = rss_mib(process)
    flood()
    assert requests.get(f"{base}/healthz", timeout=3).status_code == 200
    assert rss_mib(process) - before < 30
    assert_clean_log(process)


@settings(max_examples=400, deadline=None)
@given(body=BODIES, content_type=st.one_of(st.none(), CONTENT_TYPES))
def test_whatever_the_front_door_lets_through_bolt_can_parse(body: bytes, content_type: str | None) -> None:
    """The front door parses as Bolt does: a body it accepts never makes Bolt's parser raise or return a non-object."""
    from slack_bolt.request.internals import parse_body

    from bot.serve.front_door import check_body

    if check_body(body, content_type) is None:
        assert isinstance(parse_body(body.decode("utf-8"), (content_type or "").split(";")[0] or None), dict)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=512), offset=st.integers(-400, 400), tamper=st.booleans())
def test_signature_check_agrees_with_slacks_verifier(body: bytes, offset: int, tamper: bool) -> None:
    """Same verdict as slack_sdk's SignatureVerifier on every body, timestamp and signature it can judge."""
    from slack_sdk.signature import Clock, SignatureVerifier

    from bot.serve.front_door import check_signature
    from tests.conftest import SIGNING_SECRET

    now = time.time()

    class Frozen(Clock):
        def now(self) -> float:
            return now

    ts = str(int(now) + offset)
    verifier = SignatureVerifier(SIGNING_SECRET, clock=Frozen())
    text = body.decode("latin-1")  # slack_sdk signs text as UTF-8: sign those bytes on both sides
    signature = verifier.generate_signature(timestamp=ts, body=text) or ""
    if tamper:
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    headers = {"x-slack-request-timestamp": ts, "x-slack-signature": signature}
    ours = check_signature(SIGNING_SECRET.encode(), headers, text.encode("utf-8"), now=now) is None
    assert ours == verifier.is_valid(body=text, timestamp=ts, signature=signature)
