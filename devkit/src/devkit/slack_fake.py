"""Local stand-in for Slack's Web API and ``response_url`` webhooks.

Tests, ``azs-bot demo`` and the benchmark need a Slack that answers like the real one (rate limits and errors
included) without network or real tokens, and that records everything the bot sent so it can be asserted on or
printed. Point ``slack_sdk.WebClient(base_url=fake.api_url)`` at it.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from devkit.slack_files import FileUploads, UploadedFile, public

_FIRST_TS = 1_700_000_000_000_100  # microseconds: the first ts is "1700000000.000100"
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "channels:history",
    "groups:history",
    "usergroups:read",
    "files:write",
)
"""A token's scopes unless :meth:`FakeSlack.set_scopes` says otherwise: the ones slack/manifest.json asks for."""
Reply = tuple[int, dict[str, str], dict[str, Any]]


@dataclass(frozen=True)
class AppIdentity:
    """Who a bot token speaks for: Slack stamps each message an app posts with its ``bot_id`` and ``app_id``
    (and the bot user in ``user``), and ``auth.test`` answers a bot token with its ``user_id`` and ``bot_id``."""

    app_id: str
    bot_id: str
    user_id: str
    name: str


@dataclass
class Recorded:
    """One request the fake received; kept so tests and the demo can see exactly what the bot sent."""

    kind: str  # "api" or "response_url"
    method: str  # Web API method, or the hook id for response_url posts
    payload: dict[str, Any]
    at: float
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class SlackFault:
    """A scripted failure for one Web API method, to drive the bot's retry and error paths."""

    method: str
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    times: int = 1
    delay: float = 0.0
    delay_after: float = 0.0
    """Seconds to wait after the call took effect and before answering: a reply lost in a crash."""


class _Server(ThreadingHTTPServer):
    """HTTP server that knows its FakeSlack and keeps stderr quiet about clients hanging up."""

    daemon_threads = True
    request_queue_size = 128  # the benchmark opens many connections at once; 5 would drop SYNs

    def __init__(self, address: tuple[str, int], fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gives up mid-response (timeouts, retries) is normal here; real bugs still print."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into FakeSlack calls; all state lives in FakeSlack."""

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: tests and the demo print their own view of the traffic."""

    def do_POST(self) -> None:
        """Serve /api/<method> and /hooks/<id>; GET is accepted too, as Slack does."""
        fake = cast(_Server, self.server).fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if parts.path.startswith("/upload/"):  # step 2 of a file upload: raw bytes, whatever the content type
            status, said = fake._receive_upload(parts.path[8:], body)
            self._send(status, said, "text/plain", {})
            return
        payload = {**_parse_form(parts.query), **_parse_body(body, self.headers.get("Content-Type") or "")}
        if parts.path.startswith("/api/"):
            auth = self.headers.get("Authorization") or ""
            status, headers, answer = fake._api(parts.path[5:], payload, auth)
            self._send(status, json.dumps(answer).encode(), "application/json; charset=utf-8", headers)
        elif parts.path.startswith("/hooks/"):
            fake._record("response_url", parts.path[7:], payload, time.time(), {})
            self._send(200, b"ok", "text/html", {})
        else:
            self._send(404, b"not_found", "text/plain", {})

    do_GET = do_POST

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class FakeSlack:
    """Slack Web API + response_url fake served from a daemon thread, with a lock around all state."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_user_id: str = "UBOT",
        team_id: str = "T0001",
        app_id: str = "A0001",
        bot_id: str = "B0001",
    ) -> None:
        self.host = host
        self.port = port
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.identity = AppIdentity(app_id=app_id, bot_id=bot_id, user_id=bot_user_id, name="azs-bot")
        """The app of every token not registered with :meth:`add_app` (the bot under test)."""
        self._apps: dict[str, AppIdentity] = {}
        self._scopes: dict[str, tuple[str, ...]] = {}
        self.usergroup_members: dict[str, list[str]] = {}
        self.socket_url: str | None = None  # what apps.connections.open hands out
        self._lock = threading.RLock()
        self._records: list[Recorded] = []
        self._messages: list[dict[str, Any]] = []
        self._broadcast: set[str] = set()  # ts of thread replies also shown in the channel
        self._faults: list[SlackFault] = []
        self._uploads = FileUploads()
        self._ts = _FIRST_TS
        self._url: str | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeSlack:
        """Bind (port 0 picks a free port) and serve in a daemon thread so tests never hang on exit."""
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
            self.port = int(self._server.server_address[1])
            self._url = f"http://{self.host}:{self.port}"
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"fake-slack-{self.port}",
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket at once, so the port is free for the next test."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        """Base URL; only known after start() because port 0 is resolved at bind time."""
        if self._url is None:
            raise RuntimeError("FakeSlack.start() has not been called")
        return self._url

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL / WebClient(base_url=...) should be set to."""
        return self.url + "/api/"

    def response_url(self, hook_id: str | None = None) -> str:
        """A fresh response_url for slash-command / action payloads; posts to it land in hook_posts()."""
        return f"{self.url}/hooks/{hook_id or uuid.uuid4().hex[:12]}"

    def calls(self, method: str | None = None) -> list[Recorded]:
        """Web API calls received, oldest first, optionally for one method."""
        with self._lock:
            return [r for r in self._records if r.kind == "api" and method in (None, r.method)]

    def hook_posts(self, hook_id: str | None = None) -> list[Recorded]:
        """response_url posts received, oldest first, optionally for one hook id."""
        with self._lock:
            return [r for r in self._records if r.kind == "response_url" and hook_id in (None, r.method)]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Copies of the channel messages as they stand now (chat.update applied), oldest first."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages if channel in (None, m["channel"])]

    def uploaded_files(self, channel: str | None = None) -> list[UploadedFile]:
        """Files shared through the upload flow (bytes and SHA-256), oldest first, optionally in one channel."""
        with self._lock:
            found = [f for f in self._uploads.files.values() if f.shared and channel in (None, f.channel)]
            return [copy.deepcopy(f) for f in found]

    def wait_for(self, predicate: Callable[[FakeSlack], bool], timeout: float = 10.0) -> bool:
        """Poll for effects of work done after ack() (lazy listeners, workers); True if seen in time."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def add_app(self, token: str, identity: AppIdentity) -> None:
        """Another app in the workspace: what is posted with ``token`` carries its ids, not the bot's."""
        with self._lock:
            self._apps[token] = identity

    def set_scopes(self, token: str, scopes: tuple[str, ...]) -> None:
        """The scopes ``token`` was granted, which ``auth.test`` reports in ``x-oauth-scopes`` as Slack does."""
        with self._lock:
            self._scopes[token] = tuple(scopes)

    def inject(self, fault: SlackFault) -> None:
        """Queue a fault; the first matching one with times > 0 is used (and decremented) per call."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Forget recordings, messages, faults and scopes; ts keeps increasing so old ts never match new messages."""
        with self._lock:
            self._records.clear()
            self._messages.clear()
            self._broadcast.clear()
            self._faults.clear()
            self._scopes.clear()
            self._uploads = FileUploads()

    def _api(self, method: str, body: dict[str, Any], auth: str) -> Reply:
        """Auth check, then a queued fault if any, then the canned answer; every outcome is recorded."""
        at, status, headers = time.time(), 200, {}
        token = str(auth[7:].strip() if auth.lower().startswith("bearer ") else body.get("token") or "")
        authed = bool(token)
        fault = self._take_fault(method) if authed else None
        if not authed:
            answer: dict[str, Any] = {"ok": False, "error": "not_authed"}
        elif fault is not None and (fault.status != 200 or fault.error):
            time.sleep(fault.delay)
            status = fault.status
            headers = {} if fault.retry_after is None else {"Retry-After": str(int(fault.retry_after))}
            default = "ratelimited" if status == 429 else "fatal_error"
            answer = {"ok": False, "error": fault.error or default}
        else:
            time.sleep(fault.delay if fault else 0)
            with self._lock:
                answer = self._answer(method, body, self._apps.get(token, self.identity), token)
                if method == "auth.test":  # Slack lists the token's scopes in a header, comma and space separated
                    headers["x-oauth-scopes"] = ", ".join(self._scopes.get(token, BOT_SCOPES))
            time.sleep(fault.delay_after if fault else 0)
        self._record("api", method, body, at, answer)
        return status, headers, answer

    def _record(self, kind: str, method: str, payload: dict[str, Any], at: float, answer: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(Recorded(kind, method, payload, at, answer))

    def _take_fault(self, method: str) -> SlackFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _answer(self, method: str, p: dict[str, Any], app: AppIdentity, token: str = "") -> dict[str, Any]:
        """Canned Slack behaviour per method (caller holds the lock); unknown methods just succeed."""
        if method.startswith("files."):
            return self._files(method, p, app, token)
        if method == "auth.test":  # a bot token's answer, as Slack documents it (no app_id)
            return {
                "ok": True,
                "url": "https://fake.slack.com/",
                "team": "Fake",
                "user": app.name,
                "team_id": self.team_id,
                "user_id": app.user_id,
                "bot_id": app.bot_id,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            return self._post_message(p, app)
        if method == "chat.update":
            found = [m for m in self._messages if m["channel"] == p.get("channel") and m["ts"] == p.get("ts")]
            if not found:
                return {"ok": False, "error": "message_not_found"}
            msg = found[0]
            if "text" in p:
                msg["text"] = str(p["text"] or "")
            if "blocks" in p:  # Slack keeps omitted blocks; [] clears them
                msg["blocks"] = _decode(p["blocks"]) or []
            if "metadata" in p:
                msg["metadata"] = _decode(p["metadata"]) or None
            return {
                "ok": True,
                "channel": msg["channel"],
                "ts": msg["ts"],
                "text": msg["text"],
                "message": self._public(msg, True),
            }
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "conversations.open":
            users = p.get("users") or ""
            first = str((users if isinstance(users, list) else users.split(","))[0]).strip()
            if not first:
                return {"ok": False, "error": "users_list_not_supplied"}
            return {"ok": True, "channel": {"id": "D" + str(first)}}
        if method == "usergroups.users.list":
            members = self.usergroup_members.get(str(p.get("usergroup") or ""))
            if members is None:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(members)}
        if method == "views.publish":
            return {"ok": True, "view": {"id": "V0001", "type": "home"}}
        if method == "conversations.history":
            return self._history(p)
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url or "ws://127.0.0.1:1/"}
        return {"ok": True}

    def _receive_upload(self, file_id: str, body: bytes) -> tuple[int, bytes]:
        with self._lock:
            status, answer = self._uploads.receive(file_id, body)
        self._record("upload", file_id, {"length": len(body)}, time.time(), {"status": status})
        return status, answer

    def _files(self, method: str, p: dict[str, Any], app: AppIdentity, token: str) -> dict[str, Any]:
        """The upload flow (devkit/slack_files.py); the legacy files.upload is closed to new apps."""
        if method == "files.getUploadURLExternal":
            return self._uploads.get_upload_url(p, self.url, self._scopes.get(token, BOT_SCOPES))
        if method != "files.completeUploadExternal":
            return {"ok": False, "error": "method_deprecated" if method == "files.upload" else "unknown_method"}
        channel = str(p.get("channel_id") or "")
        if not channel:  # the bot always shares what it uploads; a private upload is not this fake's business
            return {"ok": False, "error": "invalid_arguments"}
        answer, files = self._uploads.complete(p)
        if files:
            comment = str(p.get("initial_comment") or "")
            share = {"channel": channel, "text": comment, "thread_ts": p.get("thread_ts"), "files": True}
            msg = self._post_message(share, app)
            stored = self._messages[-1]
            stored["files"] = [public(f) for f in files]
            stored["upload"] = True
            for found in files:
                found.channel, found.initial_comment, found.message_ts = channel, comment, str(msg["ts"])
        return answer

    def _post_message(self, p: dict[str, Any], app: AppIdentity) -> dict[str, Any]:
        channel = str(p.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        text, blocks = str(p.get("text") or ""), _decode(p.get("blocks")) or []
        if not text and not blocks and not p.get("attachments") and not p.get("files"):
            return {"ok": False, "error": "no_text"}
        msg = {
            "channel": channel,
            "ts": self._next_ts(),
            "text": text,
            "blocks": blocks,
            "thread_ts": str(p["thread_ts"]) if p.get("thread_ts") else None,
            "user": app.user_id,
            "bot_id": app.bot_id,
            "app_id": app.app_id,
            "bot_name": app.name,
            "metadata": _decode(p.get("metadata")) or None,
        }
        self._messages.append(msg)
        if str(p.get("reply_broadcast")).lower() in ("true", "1"):
            self._broadcast.add(str(msg["ts"]))
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": self._public(msg, True)}

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        """Newest first, top-level messages only (plus broadcast replies), like Slack."""
        channel = p.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        inclusive = str(p.get("inclusive")).lower() in ("true", "1")
        # Decimal, not float: floats lose the microseconds of a ts at this magnitude.
        low, high = Decimal(str(p.get("oldest") or 0)), Decimal(str(p.get("latest") or 10**10))
        found = [
            m
            for m in reversed(self._messages)
            if m["channel"] == channel
            and (m["thread_ts"] in (None, m["ts"]) or m["ts"] in self._broadcast)
            and (low <= Decimal(m["ts"]) <= high if inclusive else low < Decimal(m["ts"]) < high)
        ]
        limit = int(p.get("limit") or 100)
        with_meta = str(p.get("include_all_metadata")).lower() in ("true", "1")
        return {
            "ok": True,
            "messages": [self._public(m, with_meta) for m in found[:limit]],
            "has_more": len(found) > limit,
            "pin_count": 0,
        }

    def _next_ts(self) -> str:
        """Strictly increasing ts strings from the wall clock, as Slack's are: ordering and oldest/latest
        filters behave like Slack's, including an ``oldest`` computed from a unix time."""
        with self._lock:
            value = self._ts = max(self._ts + 100, int(time.time() * 1_000_000))
        return f"{value // 1_000_000}.{value % 1_000_000:06d}"

    def _public(self, msg: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
        """The message as Slack's API shows an app's post (type, the bot user, bot_id, app_id, bot_profile,
        text, ts...), omitting empty fields."""
        out: dict[str, Any] = {
            "type": "message",
            "user": msg["user"],
            "bot_id": msg["bot_id"],
            "app_id": msg["app_id"],
            "text": msg["text"],
            "ts": msg["ts"],
            "team": self.team_id,
            "bot_profile": {
                "id": msg["bot_id"],
                "app_id": msg["app_id"],
                "name": msg["bot_name"],
                "team_id": self.team_id,
            },
        }
        if msg["blocks"]:
            out["blocks"] = copy.deepcopy(msg["blocks"])
        if msg["thread_ts"]:
            out["thread_ts"] = msg["thread_ts"]
        if msg.get("files"):
            out["files"], out["upload"] = copy.deepcopy(msg["files"]), True
        if with_metadata and msg["metadata"]:
            out["metadata"] = copy.deepcopy(msg["metadata"])
        return out


def _parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON or form body as a dict; {} when empty, multipart (file uploads) or not a JSON object."""
    if "json" in content_type.lower():
        data = _decode(body.decode("utf-8", "replace"))
        return data if isinstance(data, dict) else {}
    return {} if "multipart" in content_type.lower() else _parse_form(body.decode("utf-8", "replace"))


def _parse_form(text: str) -> dict[str, Any]:
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _decode(value: Any) -> Any:
    """Form bodies carry blocks/metadata/view as JSON strings; decode them so stored messages look alike."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def render_message(msg: dict[str, Any]) -> str:
    """Plain-text view of a message payload, so the demo can print what a Slack user would see."""
    blocks = _decode(msg.get("blocks")) or []
    lines = [line for block in blocks for line in _render_block(block)]
    if not blocks and msg.get("text"):
        lines.append(str(msg["text"]))  # Slack shows text only when there are no blocks
    return "\n".join(lines)


def _render_block(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = _text(block.get("text"))
        return [title, "=" * max(len(title), 3)]
    if kind == "divider":
        return ["-" * 40]
    if kind == "section":
        out = [_text(block.get("text"))] if block.get("text") else []
        out += [_text(f) for f in block.get("fields") or []]
        if block.get("accessory"):
            out.append(_element(block["accessory"]))
        return out
    if kind == "context":
        return ["  ".join(_element(e) for e in block.get("elements") or [])]
    if kind == "actions":
        return [" ".join(_element(e) for e in block.get("elements") or [])]
    if kind == "image":
        return [f"[image: {block.get('alt_text', '')}]"]
    return [f"[{kind} block]"]


def _element(el: dict[str, Any]) -> str:
    kind = str(el.get("type") or "")
    if kind in ("mrkdwn", "plain_text"):
        return _text(el)
    if kind == "button":
        return f"[ {_text(el.get('text'))} ]"
    if kind == "image":
        return f"[image: {el.get('alt_text', '')}]"
    if "select" in kind:
        label = _text((el.get("initial_option") or {}).get("text") or el.get("placeholder")) or "Select"
        return f"[ {label} v ]"
    return f"[{kind}]"


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return obj if isinstance(obj, str) else ""
