"""An HTTPS replay of recorded ``createBackup`` sessions, for driving the real bot against real traffic.

The recordings (``tests/fixtures/recordings``, copied from ``shared/azs-recordings``) hold what real
stamps answered the PowerShell module. :class:`ReplayStamp` answers the bot with the same status
codes, headers and bodies in the same order, and refuses (and remembers) any request that is not the
next recorded one. A small AD FS stands in front, so the bot's real MSAL flow runs; its requests and
the pre-flight reads are the only extras, each counted by kind so a test can say which it allows.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import trustme

from devkit.simulator import MISSING_API_VERSION
from tests.harness import FIXTURES

RECORDINGS = FIXTURES / "recordings"
AUDIENCE = "https://adminmanagement.replay.local/5e0a1f3c-2d4b-4c6e-8f7a-9b1c2d3e4f50"
CLIENT_ID, CLIENT_SECRET = "replay-client", "replay-" + secrets.token_hex(8)
KEPT_HEADERS = ("Location", "Azure-AsyncOperation", "Retry-After", "Content-Type")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True)
class Exchange:
    """One recorded request and the stamp's answer (only the headers a client acts on are kept)."""

    method: str
    uri: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return request_key(self.method, self.uri)

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("Retry-After")
        return float(value) if value else None


@dataclass(frozen=True)
class Session:
    """One recorded ``createBackup`` session, plus the bodies the bot's extra reads are answered with."""

    name: str
    build: str
    source: str
    api_version: str
    subscription: str
    region: str
    exchanges: tuple[Exchange, ...]
    location_body: bytes
    backups_body: bytes
    by_id_body: bytes | None = None
    """``GET backups/{id}`` (the documented fallback read); ``None`` answers 404, as for an unknown id."""
    by_id_running: int = 0
    """How many by-id reads first answer with the backup still ``Running`` (unrecorded: an assumption)."""

    @property
    def backup_id(self) -> str:
        return str(_GUID.findall(self.exchanges[0].headers["Location"])[-1]).lower()

    @property
    def needed(self) -> int:
        """Exchanges a client needs: up to the final 200 on ``Location`` (the module repeated that GET)."""
        for index, exchange in enumerate(self.exchanges):
            if index and exchange.status == 200 and "isasyncoperation" not in exchange.uri.lower():
                return index + 1
        return len(self.exchanges)

    def final_backup(self) -> dict[str, Any]:
        """The recorded Backup resource the session ended with (for by-id reads and expectations)."""
        for exchange in reversed(self.exchanges):
            body = _json_or_none(exchange.body)
            if isinstance(body, dict) and "backupInfo" in (body.get("properties") or {}):
                return body
        assert self.by_id_body is not None, f"{self.name} ends without a backup"
        return dict(json.loads(self.by_id_body))


UPDATE_RECORDINGS = RECORDINGS / "update-admin"


@dataclass(frozen=True)
class UpdateSession:
    """Recorded reads of one stamp's update location (``Microsoft.Update.Admin``), replayed in order."""

    name: str
    source: str
    api_version: str
    subscription: str
    region: str
    exchanges: tuple[Exchange, ...]

    def as_session(self) -> Session:
        """A backup session with no recorded backup traffic, so :class:`ReplayStamp` can serve these reads."""
        return Session(self.name, "", self.source, "2018-09-01", self.subscription, self.region, (), b"", b"")


def _update_session(name: str, source: str, exchanges: list[Exchange]) -> UpdateSession:
    path = urlsplit(exchanges[0].uri).path
    return UpdateSession(
        name,
        source,
        dict(parse_qsl(urlsplit(exchanges[0].uri).query))["api-version"],
        path.split("/subscriptions/")[1].split("/")[0],
        path.rstrip("/").rsplit("/", 1)[-1],
        tuple(exchanges),
    )


def update_location_sessions() -> list[UpdateSession]:
    """Every recorded GET of one update location: two in 2018 (api-version 2016-05-01, ``resourcegroups`` and
    ``Redmond``), one in 2022 (2021-07-01, ``resourceGroups`` and ``redmond``)."""
    old = json.loads((UPDATE_RECORDINGS / "2018_TestGetUpdateLocation.json").read_text())["Entries"]
    gets = [
        Exchange(e["RequestMethod"], e["RequestUri"], int(e["StatusCode"]), {}, str(e["ResponseBody"]).encode())
        for e in old
        if not e["RequestUri"].split("?")[0].endswith("/")  # the list (trailing slash) is not a location read
    ]
    new = json.loads((UPDATE_RECORDINGS / "2022_Get-AzsUpdateLocation.Recording.json").read_text())
    recorded = [
        Exchange(
            e["Request"]["Method"],
            e["Request"]["RequestUri"],
            int(e["Response"]["StatusCode"]),
            {},
            _recorded_body(e["Response"].get("Content")),
        )
        for e in new.values()
    ]
    return [
        _update_session("2018 TestGetUpdateLocation", "sessions-2018/TestGetUpdateLocation.json", gets),
        _update_session("2022 Get-AzsUpdateLocation", "sessions-2022/Get-AzsUpdateLocation.Recording.json", recorded),
    ]


def request_key(method: str, uri: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """What identifies a request regardless of host: ARM paths are case-insensitive, the query is a set."""
    split = urlsplit(uri)
    query = tuple(sorted((k.lower(), v.lower()) for k, v in parse_qsl(split.query)))
    return method.upper(), split.path.lower().rstrip("/"), query


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _recorded_body(content: str | None) -> bytes:
    """The recorder kept JSON as text and anything else (e.g. the literal ``null``) as base64."""
    if content is None:
        return b""
    try:
        json.loads(content)
        return content.encode()
    except ValueError:
        return base64.b64decode(content)


def _spec_body(name: str) -> bytes:
    """A body from an official swagger example (``responses.200.body``), as bytes."""
    document = json.loads((FIXTURES / name).read_text())
    return json.dumps(document["responses"]["200"]["body"]).encode()


def load_1809() -> Session:
    """The ASDK 1809 session, transcribed (order, URIs, codes, Location/Retry-After and the final body)."""
    document = json.loads((RECORDINGS / "1809_Start-Backup.Transcribed.json").read_text())
    exchanges = tuple(
        Exchange(
            x["method"],
            x["uri"],
            int(x["status"]),
            {k: str(v) for k, v in (x.get("headers") or {}).items()},
            b"" if x.get("body") is None else json.dumps(x["body"]).encode(),
        )
        for x in document["exchanges"]
    )
    return Session(
        "1809 ASDK Start-Backup",
        "1.1809.0.45",
        document["source"],
        "2018-09-01",
        "0004fee6-aec7-40be-8b4e-197a7eca2e0f",
        "local",
        exchanges,
        _spec_body("spec_backup_location_get.json"),
        _spec_body("spec_backups_list.json"),
    )


def load_module_session(file: str, test: str, build: str) -> Session:
    """The ``createBackup`` part of one test in an ``Azs.Backup.Admin`` recording (a restore follows it)."""
    document = json.loads((RECORDINGS / file).read_text())
    exchanges: list[Exchange] = []
    operation = ""
    for key, entry in document.items():
        if f"+{test}+" not in key:
            continue
        request, response = entry["Request"], entry["Response"]
        uri = str(request["RequestUri"])
        if exchanges and operation not in uri.lower():
            break  # the restore that follows is another operation
        headers = {name: str(values[0]) for name, values in response["Headers"].items() if name in KEPT_HEADERS}
        exchanges.append(
            Exchange(
                request["Method"], uri, int(response["StatusCode"]), headers, _recorded_body(response.get("Content"))
            )
        )
        if not operation:
            operation = "operationresults/" + _GUID.findall(headers["Location"])[-1].lower()
    first = exchanges[0].uri
    subscription = first.split("/subscriptions/")[1].split("/")[0]
    region = first.split("/backupLocations/")[1].split("/")[0]
    api_version = dict(parse_qsl(urlsplit(first).query))["api-version"]
    if build.startswith("1.2002"):
        location, backups = (
            (FIXTURES / "backup_location_2002.json").read_bytes(),
            (FIXTURES / "backups_list_2002.json").read_bytes(),
        )
    else:
        location, backups = (
            (FIXTURES / "backup_location_2108_blob.json").read_bytes(),
            (FIXTURES / "backups_list_2108_partial.json").read_bytes(),
        )
    return Session(
        f"{build.split('.')[1]} {file.split('_', 1)[1].split('.')[0]} {test}",
        build,
        f"{file} ({test})",
        api_version,
        subscription,
        region,
        tuple(exchanges),
        location,
        backups,
    )


def recorded_sessions() -> list[Session]:
    """All seven recorded ``createBackup`` sessions: 1 on 1809, 3 on 2002, 3 on 2108."""
    sessions = [load_1809()]
    for build, prefix in (("1.2002.0.35", "2002"), ("1.2108.0.32", "2108")):
        sessions.append(load_module_session(f"{prefix}_Start-AzsBackup.Recording.json", "TestCreateBackup", build))
        for test in ("TestRestoreBackupExpanded", "TestRestoreBackupViaIdentityExpanded"):
            sessions.append(load_module_session(f"{prefix}_Restore-AzsBackup.Recording.json", test, build))
    return sessions


def restore_final_bodies(prefix: str) -> tuple[bytes, bytes]:
    """(last async-operation body, final ``Location`` body) of the first recorded Restore on a build."""
    document = json.loads((RECORDINGS / f"{prefix}_Restore-AzsBackup.Recording.json").read_text())
    restore = [e["Response"] for k, e in document.items() if "TestRestoreBackupExpanded+" in k][-2:]
    return _recorded_body(restore[0].get("Content")), _recorded_body(restore[1].get("Content"))


def with_final_body(session: Session, location_body: bytes, async_body: bytes | None = None) -> Session:
    """A variant: the session's final answers replaced by other recorded bytes; read-by-id gets the backup."""
    needed = list(session.exchanges[: session.needed])
    backup = json.dumps(session.final_backup()).encode()
    needed[-1] = replace(needed[-1], body=location_body)
    if async_body is not None:
        needed[-2] = replace(needed[-2], body=async_body)
    return replace(
        session,
        exchanges=tuple(needed),
        by_id_body=backup,
        name=f"{session.name}, final 200 {location_body.decode() or 'empty'}",
    )


def ending_in(session: Session, backup: dict[str, Any]) -> Session:
    """A variant: the session (its operation id too) ending in another recorded backup."""
    old, new = session.backup_id, str(backup["properties"]["backupInfo"]["backupId"]).lower()

    def swap(text: str) -> str:
        return re.sub(re.escape(old), new, text, flags=re.IGNORECASE)

    exchanges = []
    for exchange in session.exchanges[: session.needed]:
        body = _json_or_none(exchange.body)
        if isinstance(body, dict) and body.get("status") == "Succeeded":
            body = {
                "status": "Succeeded",
                "id": backup["id"],
                "name": backup["name"],
                "properties": backup["properties"],
            }
        elif isinstance(body, dict) and "backupInfo" in (body.get("properties") or {}):
            body = backup
        exchanges.append(
            replace(
                exchange,
                uri=swap(exchange.uri),
                headers={k: swap(v) for k, v in exchange.headers.items()},
                body=exchange.body if not isinstance(body, dict) else json.dumps(body).encode(),
            )
        )
    status = backup["properties"]["backupInfo"]["status"]
    return replace(session, exchanges=tuple(exchanges), name=f"{session.name}, ending {status}")


@dataclass
class Seen:
    """One request the replay received: its kind (``recorded``, ``token``, ``preflight``...) and when."""

    method: str
    path: str
    host: str
    kind: str
    at: float
    status: int


@dataclass
class ReplayStamp:
    """Serves one :class:`Session` over HTTPS. ``op_origin`` names the stamp in operation URLs."""

    session: Session
    clock: Callable[[], float] = time.time
    ca: trustme.CA = field(default_factory=trustme.CA)
    url: str = ""
    op_origin: str = ""
    seen: list[Seen] = field(default_factory=list)
    position: int = 0
    tokens: set[str] = field(default_factory=set)
    by_id_reads: int = 0
    updates: tuple[Exchange, ...] = ()
    """Recorded ``Microsoft.Update.Admin`` reads, answered in order like the backup exchanges (kind ``update``)."""
    update_position: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, ca_path: Path) -> ReplayStamp:
        ca_path.write_bytes(self.ca.cert_pem.bytes())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.replay = self  # type: ignore[attr-defined]
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        self.op_origin = self.op_origin or self.url
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def env(self, ca_path: Path) -> dict[str, str]:
        """The bot's stamp settings for this replay (subscription and region as recorded: no discovery)."""
        return {
            "AZS_ARM_ENDPOINT": self.url,
            "AZS_CLIENT_ID": CLIENT_ID,
            "AZS_CLIENT_SECRET": CLIENT_SECRET,
            "AZS_CA_BUNDLE": str(ca_path),
            "AZS_SUBSCRIPTION_ID": self.session.subscription,
            "AZS_LOCATION": self.session.region,
            "AZS_API_VERSION": self.session.api_version,
            "AZS_STAMP_NAME": "replay",
        }

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for seen in self.seen:
            counts[seen.kind] = counts.get(seen.kind, 0) + 1
        return counts

    def recorded_times(self) -> list[float]:
        return [s.at for s in self.seen if s.kind == "recorded"]

    # ---- answering -------------------------------------------------------------------------------
    def answer(self, method: str, target: str, headers: Any, body: bytes) -> tuple[str, int, dict[str, str], bytes]:
        path = urlsplit(target).path.rstrip("/").lower()
        if path == "/metadata/endpoints":
            return "metadata", *_json_reply(
                200, {"authentication": {"loginEndpoint": f"{self.url}/adfs", "audiences": [AUDIENCE]}}
            )
        if path == "/adfs/.well-known/openid-configuration":
            base = f"{self.url}/adfs"
            return "openid-configuration", *_json_reply(
                200,
                {
                    "issuer": base,
                    "token_endpoint": f"{base}/oauth2/token/",
                    "authorization_endpoint": f"{base}/oauth2/authorize/",
                    "jwks_uri": f"{base}/discovery/keys",
                },
            )
        if path == "/adfs/oauth2/token" and method == "POST":
            form = dict(parse_qsl(body.decode()))
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return "token", *_json_reply(401, {"error": "invalid_client"})
            token = secrets.token_urlsafe(32)
            with self._lock:
                self.tokens.add(token)
            return "token", *_json_reply(200, {"token_type": "bearer", "access_token": token, "expires_in": 3600})
        auth = str(headers.get("Authorization") or "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return "unauthenticated", *_json_reply(401, {"error": {"code": "InvalidAuthenticationToken"}})
        if not dict(parse_qsl(urlsplit(target).query)).get("api-version"):  # as ARM: every request names one
            return "no-api-version", *_json_reply(
                400, {"error": {"code": "MissingApiVersionParameter", "message": MISSING_API_VERSION}}
            )
        if "/providers/microsoft.update.admin/" in path:
            return self._answer_update(method, target)
        rest = path.split(f"/backuplocations/{self.session.region.lower()}", 1)[-1]
        if method == "GET" and rest == "":
            return "preflight", 200, {"Content-Type": "application/json"}, self.session.location_body
        if method == "GET" and rest == "/backups":
            return "preflight", 200, {"Content-Type": "application/json"}, self.session.backups_body
        if method == "GET" and rest.startswith("/backups/"):
            if self.session.by_id_body is None or not rest.endswith(self.session.backup_id):
                return "by-id", *_json_reply(404, {"error": {"code": "ResourceNotFound"}})
            body = self.session.by_id_body
            with self._lock:
                self.by_id_reads += 1
                if self.by_id_reads <= self.session.by_id_running:
                    running = json.loads(body)
                    running["properties"]["backupInfo"].update(status="Running", roleStatus=[])
                    body = json.dumps(running).encode()
            return "by-id", 200, {"Content-Type": "application/json"}, body
        with self._lock:
            expected = self.session.exchanges[self.position] if self.position < len(self.session.exchanges) else None
            if expected is None or expected.key != request_key(method, target):
                return "unexpected", *_json_reply(
                    400, {"error": {"code": "NotInRecording", "message": f"{method} {target}"}}
                )
            self.position += 1
        wire = {name: self._rehost(value) for name, value in expected.headers.items()}
        return "recorded", expected.status, wire, expected.body

    def _answer_update(self, method: str, target: str) -> tuple[str, int, dict[str, str], bytes]:
        """The next recorded update read, if the request is it (path without case, query as a set). A backup session
        was recorded without the Update RP: its start's read of the update location is answered 404, as by a stamp
        that has none to show, and the start goes on without it (kind ``update-location``)."""
        if not self.updates:
            return "update-location", *_json_reply(404, {"error": {"code": "ResourceNotFound", "message": target}})
        with self._lock:
            index = self.update_position
            expected = self.updates[index] if index < len(self.updates) else None
            if expected is None or expected.key != request_key(method, target):
                return "unexpected", *_json_reply(
                    400, {"error": {"code": "NotInRecording", "message": f"{method} {target}"}}
                )
            self.update_position += 1
        return "update", expected.status, {"Content-Type": "application/json; charset=utf-8"}, expected.body

    def _rehost(self, value: str) -> str:
        """Recorded operation URLs name Microsoft's test stamps: point them at this replay."""
        return re.sub(r"^https://[^/]+", self.op_origin, value)


def _json_reply(status: int, body: object) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``ReplayStamp.seen``."""

    def do_GET(self) -> None:
        replay: ReplayStamp = self.server.replay  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        kind, status, headers, payload = replay.answer(self.command, self.path, self.headers, body)
        with replay._lock:
            replay.seen.append(
                Seen(self.command, self.path, str(self.headers.get("Host")), kind, replay.clock(), status)
            )
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET
