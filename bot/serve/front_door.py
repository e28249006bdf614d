"""What the web process checks before Bolt sees a request: the signature first, on the raw bytes, then the
shape, then whether it was seen before.

Bolt parses the body before it checks the signature and logs the body of a request it rejects, and it
answers 500 to bodies it cannot parse. Here a request is refused (401) unless it carries Slack's
signature over its exact bytes, made in the last five minutes; only then is the body decoded and
parsed, the way Bolt will parse it, so that whatever Bolt is given it can read (400 otherwise).

A signed request stays valid for the whole window, so whoever captured one could send it again, and
Slack itself resends an event it thinks was lost (``X-Slack-Retry-Num``: same event, new timestamp,
so a new signature). :class:`ReplayGuard` remembers signatures and Slack's own delivery ids
(``event_id``, ``trigger_id``) in Redis, shared by every web process: a request seen before is answered
200 (so Slack stops retrying) and not acted on. Nothing here logs or echoes a body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import redis

from bot.config.limits import DELIVERY_MEMORY_SECONDS, SIGNATURE_MEMORY_SECONDS, SIGNATURE_WINDOW_SECONDS
from bot.ops import outage
from bot.state import keys

log = logging.getLogger(__name__)

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
    parsed = parse_body(body, content_type)
    return parsed if isinstance(parsed, Refusal) else None


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any] | Refusal:
    """The object Bolt will read from ``body`` (an interaction's ``payload``, decoded), or why it cannot."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "body is not UTF-8")
    if not text:
        return {}
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
    return parsed


def delivery_ids(parsed: Mapping[str, Any]) -> list[str]:
    """Slack's own ids for what a request delivers, which a retry repeats under a new signature.

    ``event_id`` for events, ``trigger_id`` for slash commands and interactions (Slack makes one per
    command or click); a click without one is named by its user and ``action_ts``.
    """
    found = [f"{kind}:{parsed[kind]}" for kind in ("event_id", "trigger_id") if _usable(parsed.get(kind))]
    if not found and isinstance(parsed.get("actions"), list) and parsed["actions"]:
        action, user = parsed["actions"][0], parsed.get("user")
        stamp = action.get("action_ts") if isinstance(action, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else None
        if _usable(stamp) and _usable(user_id):
            found.append(f"action:{user_id}:{stamp}")
    return found


def _usable(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 256


# Claim a request: its signature, then each of its Slack delivery ids (one script: cheaper than a pipeline,
# on the ack's path). KEYS: the signature's key, the ids' keys. ARGV: their TTLs.
# Returns 0 (first sighting, all claimed), 1 (the signature was seen: a replay) or 2 (an id was: a retry).
_CLAIM = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 1 end
local verdict = 0
for i = 2, #KEYS do
  if not redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) then verdict = 2 end
end
return verdict
"""
_VERDICTS = (None, "replay", "retry")


class ReplayGuard:
    """Claims each signature and Slack delivery id once, in Redis, for every web process.

    A small memory in the process stands in front of Redis, so a copy reaching the same process is
    refused even while Redis is down. Across processes an outage fails open (the request is acted on):
    refusing everything would also silence the "Redis is not answering" replies, and what a second copy
    could do twice needs Redis itself: a start takes the stamp's lock and records its job (named after
    the click, so a replayed click finds it) before the stamp is called. While the process knows Redis
    is down (:data:`bot.ops.outage.REDIS`) it does not wait for it here, on the ack's path.
    """

    def __init__(self, client: redis.Redis | None, memory: int = 4096) -> None:
        self.client = client
        self._claim = client.register_script(_CLAIM) if client is not None else None
        self.memory = memory
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen_before(self, signature: str, ids: Sequence[str]) -> str | None:
        """``None`` for a first sighting (now claimed); else ``replay`` or ``retry``: answer it, do nothing."""
        names = [keys.replay_key(signature), *(keys.delivery_key(_digest(i)) for i in ids)]
        remembered = self._remember(names)
        if remembered is not None:
            return remembered
        if self._claim is None or outage.REDIS.down:
            return None
        try:
            verdict = int(self._claim(keys=names, args=[SIGNATURE_MEMORY_SECONDS, DELIVERY_MEMORY_SECONDS]))
        except redis.RedisError as exc:
            outage.REDIS.failed(exc)
            return None
        return _VERDICTS[verdict]

    def forget(self, ids: Sequence[str]) -> None:
        """Release the delivery ids of a request the bot failed to handle, so Slack's retry is acted on.

        The signature stays claimed: the same bytes again are a replay whatever happened to the first.
        """
        names = [keys.delivery_key(_digest(i)) for i in ids]
        with self._lock:
            for name in names:
                self._seen.pop(name, None)
        if self.client is not None and names:
            try:
                self.client.delete(*names)
            except redis.RedisError as exc:
                outage.REDIS.failed(exc)

    def _remember(self, names: list[str]) -> str | None:
        """The in-process memory: a verdict when it knows one of ``names``, else it notes them all."""
        now = time.monotonic()
        with self._lock:
            while self._seen and (
                len(self._seen) > self.memory or next(iter(self._seen.values())) < now - SIGNATURE_MEMORY_SECONDS
            ):
                self._seen.popitem(last=False)
            verdict = _verdict([name not in self._seen for name in names])
            if verdict is None:
                self._seen.update(dict.fromkeys(names, now))
            return verdict


def _verdict(claimed: list[bool]) -> str | None:
    """From whether the signature (first) and each delivery id were new: ``None``, ``replay`` or ``retry``."""
    if not claimed[0]:
        return "replay"
    return None if all(claimed[1:]) else "retry"


def _digest(delivery_id: str) -> str:
    return hashlib.sha256(delivery_id.encode()).hexdigest()[:40]
