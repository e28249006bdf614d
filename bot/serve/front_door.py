"""What the web process checks before Bolt sees a request: the signature first, on the raw bytes, then the shape.

Bolt parses the body before it checks the signature and logs the body of a request it rejects, and it
answers 500 to bodies it cannot parse. Here a request is refused (401) unless it carries Slack's
signature over its exact bytes, made in the last five minutes; only then is the body decoded and
parsed, the way Bolt will parse it, so that whatever Bolt is given it can read (400 otherwise).
Nothing here logs or echoes a body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 1024 * 1024
"""Far above Slack's largest real payload (a few tens of KB); larger bodies get 413 unread."""
SIGNATURE_WINDOW_SECONDS = 300
"""Slack's replay window: a timestamp further than this from now is refused."""
_TIMESTAMP_DIGITS = 12


@dataclass(frozen=True)
class Refusal:
    """Why a request is turned away: the HTTP status and a short reason safe to log and to answer."""

    status: int
    reason: str


def check_signature(secret: bytes, headers: Mapping[str, str], body: bytes, now: float | None = None) -> Refusal | None:
    """``None`` when ``X-Slack-Signature`` is Slack's v0 HMAC of ``v0:{timestamp}:{body}`` and the time is fresh."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp or not signature:
        return Refusal(401, "missing signature headers")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _TIMESTAMP_DIGITS:
        return Refusal(401, "malformed timestamp")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return Refusal(401, "stale timestamp")
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not signature.isascii() or not hmac.compare_digest(expected, signature):
        return Refusal(401, "bad signature")
    return None


def check_body(body: bytes, content_type: str | None) -> Refusal | None:
    """``None`` when Bolt can parse ``body`` into an object (it mirrors Bolt's ``parse_body``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "body is not UTF-8")
    if not text:
        return None
    media_type = content_type.split(";")[0] if content_type else None  # as Bolt reads it: no strip, no lower
    try:
        if media_type == "application/json" or text.startswith("{"):
            parsed: object = json.loads(text)
        elif "payload" in text:
            payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
            parsed = {} if payload is None else json.loads(payload)
        else:
            parsed = dict(parse_qsl(text, keep_blank_values=True))
    except (ValueError, RecursionError):
        return Refusal(400, "body does not parse")
    if not isinstance(parsed, dict):
        return Refusal(400, "body is not an object")
    return None
