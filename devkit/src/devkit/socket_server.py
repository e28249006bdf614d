"""A loopback stand-in for Slack's Socket Mode endpoint, built on the standard library only.

It speaks just enough RFC 6455 for a real client: the opening handshake (``Sec-WebSocket-Accept``), text frames
(fragmented or not), masked client frames, ping/pong and the closing handshake. On top of that it speaks Slack's
envelope protocol: a ``hello`` on connect, envelopes (``slash_commands``, ``interactive``, ``events_api``) sent with
:meth:`SocketModeConnection.send_envelope`, and the client's acks (``{"envelope_id": ..., "payload": ...}``)
collected for :meth:`SocketModeConnection.wait_ack`.

Point ``apps.connections.open`` at :attr:`SocketModeServer.url` (``FakeSlack.socket_url``) and start the bot.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import ipaddress
import json
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
_CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)
_DATA_OPCODES = (OP_CONTINUATION, OP_TEXT, OP_BINARY)

CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED_DATA = 1000, 1002, 1003
CLOSE_NO_STATUS, CLOSE_ABNORMAL, CLOSE_INVALID_DATA, CLOSE_TOO_BIG = 1005, 1006, 1007, 1009

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_MAX_HANDSHAKE_BYTES = 16 * 1024


class ProtocolError(Exception):
    """The peer broke RFC 6455; ``code`` is the close status to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``: base64(SHA-1(key + GUID))."""
    digest = hashlib.sha1((key.strip() + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True) -> bytes:
    """One server-to-client frame; servers never mask (RFC 6455 section 5.1)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size <= 125:
        head += bytes([size])
    elif size <= 0xFFFF:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR the payload with the repeating 4-byte masking key, as one big-integer operation."""
    if not payload:
        return payload
    stream = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(payload), "big")


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


@dataclass(frozen=True)
class Received:
    """A JSON text message from the client (an envelope ack, normally) and when it arrived (monotonic)."""

    at: float
    data: dict[str, Any]


@dataclass
class Handshake:
    """The client's opening request, kept so tests can check what the client asked for."""

    method: str
    target: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names


def hello_message(app_id: str, num_connections: int) -> dict[str, Any]:
    """What Slack sends first on every Socket Mode connection."""
    return {
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {"host": "applink-local", "build_number": 1, "approximate_connection_time": 18060},
        "connection_info": {"app_id": app_id},
    }


def disconnect_message(reason: str = "refresh_requested") -> dict[str, Any]:
    """What Slack sends shortly before it drops a connection (a client should open a new one)."""
    return {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-local"}}


class _Interrupted(Exception):
    """The test asked the connection to fail (:meth:`SocketModeConnection.drop`) while it was reading."""


class _Reader:
    """Exact-size reads from a socket; EOF mid-read is a ``ConnectionError``.

    Reads poll in short slices so a test can stop them: ``paused()`` true means read nothing (a half-open link
    buffers what the client sends), ``interrupted()`` true raises :class:`_Interrupted`.
    """

    def __init__(
        self,
        sock: socket.socket,
        buffered: bytes = b"",
        paused: Callable[[], bool] = lambda: False,
        interrupted: Callable[[], bool] = lambda: False,
    ) -> None:
        self.sock = sock
        self.buffer = bytearray(buffered)
        self.paused = paused
        self.interrupted = interrupted

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if self.interrupted():
                raise _Interrupted
            if self.paused():
                time.sleep(0.05)
                continue
            try:
                chunk = self.sock.recv(max(65536, size - len(self.buffer)))
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("peer closed the TCP connection")
            self.buffer += chunk
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


def read_client_frame(reader: _Reader, max_size: int = MAX_MESSAGE_BYTES) -> Frame:
    """Read and unmask one client frame, enforcing the RFC's rules for client-to-server frames."""
    b1, b2 = reader.read(2)
    fin, opcode = bool(b1 & 0x80), b1 & 0x0F
    if b1 & 0x70:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "RSV bits set without a negotiated extension")
    if opcode not in _CONTROL_OPCODES + _DATA_OPCODES:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
    if not b2 & 0x80:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
    size = b2 & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", reader.read(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", reader.read(8))
        if size >> 63:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "64-bit length with the high bit set")
    if opcode in _CONTROL_OPCODES and (size > 125 or not fin):
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frames must be short and unfragmented")
    if size > max_size:
        raise ProtocolError(CLOSE_TOO_BIG, f"frame of {size} bytes is too big")
    key = reader.read(4)
    return Frame(fin, opcode, unmask(reader.read(size), key))


def _read_request_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """Bytes up to the blank line ending the HTTP request, and anything the client sent after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HANDSHAKE_BYTES:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "handshake request too large")
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("peer closed the connection during the handshake")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def parse_handshake(head: bytes) -> Handshake:
    """Parse and validate an opening handshake (RFC 6455 section 4.2.1); ``ValueError`` says what is wrong."""
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError(f"malformed request line {lines[0]!r}")
    request = Handshake(parts[0], parts[1], parts[2])
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        request.headers[name.strip().lower()] = value.strip()
    headers = request.headers
    if request.method != "GET" or request.version != "HTTP/1.1":
        raise ValueError("the handshake must be GET ... HTTP/1.1")
    if "host" not in headers:
        raise ValueError("missing Host header")
    if headers.get("upgrade", "").lower() != "websocket":
        raise ValueError("missing Upgrade: websocket")
    if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
        raise ValueError("missing Connection: Upgrade")
    if headers.get("sec-websocket-version") != "13":
        raise ValueError("Sec-WebSocket-Version must be 13")
    try:
        nonce = base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)
    except binascii.Error:
        nonce = b""
    if len(nonce) != 16:
        raise ValueError("Sec-WebSocket-Key must be 16 random bytes in base64")
    return request


class SocketModeConnection:
    """One client connection after a successful handshake; a daemon thread reads its frames."""

    def __init__(self, sock: socket.socket, handshake: Handshake, leftover: bytes, number: int) -> None:
        self.sock = sock
        self.handshake = handshake
        self.number = number
        self._frozen = False  # half-open: nothing read, nothing answered, nothing closed
        self._drop: str | None = None  # "fin" or "reset": how the reader thread should drop the link
        self._reader = _Reader(sock, leftover, lambda: self._frozen, lambda: self._drop is not None)
        self._send_lock = threading.Lock()
        self._changed = threading.Condition()
        self.messages: list[Received] = []
        self.pings: list[bytes] = []  # payloads of pings from the client, answered with pongs
        self.pongs: list[bytes] = []  # payloads of pongs from the client
        self.close_code: int | None = None  # the client's close status, or 1006 if the TCP connection dropped
        self.close_reason = ""
        self.error: str | None = None  # a protocol error we closed the connection for
        self._close_sent = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"socket-mode-conn-{number}")

    def start(self) -> None:
        self._thread.start()

    # ---- sending ------------------------------------------------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes = b"") -> None:
        with self._send_lock:
            if self._close_sent:
                raise ConnectionError("the closing handshake has started; no more frames")
            if opcode == OP_CLOSE:
                self._close_sent = True
            self.sock.sendall(encode_frame(opcode, payload))

    def send_text(self, text: str) -> None:
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def send_json(self, data: dict[str, Any]) -> None:
        self.send_text(json.dumps(data))

    def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        envelope_id: str | None = None,
    ) -> str:
        """Send an envelope as Slack does; returns its ``envelope_id`` for :meth:`wait_ack`."""
        envelope_id = envelope_id or str(uuid.uuid4())
        self.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
            }
        )
        return envelope_id

    def ping(self, payload: bytes = b"") -> None:
        self._send_frame(OP_PING, payload)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "", timeout: float = 2.0) -> None:
        """Start the closing handshake; drop the TCP connection if the client neither answers nor hangs up."""
        with contextlib.suppress(OSError):
            self._send_frame(OP_CLOSE, close_payload(code, reason))
        if not self.wait_closed(timeout):
            self._shutdown()
            self.wait_closed(timeout)

    def drop(self, *, reset: bool = False, timeout: float = 2.0) -> None:
        """Drop the link without a close frame, as a crashed peer or a lost route does: TCP FIN, or RST."""
        self._drop = "reset" if reset else "fin"
        self.wait_closed(timeout)

    def freeze(self) -> None:
        """Go half-open, as after a NAT timeout: stop reading (so no pongs) and send nothing, but never close."""
        self._frozen = True

    @property
    def frozen(self) -> bool:
        return self._frozen

    # ---- waiting ------------------------------------------------------------------------------------------------

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def wait_ping(self, timeout: float = 10.0) -> bytes:
        """The first ping from the client: proof that it accepted our handshake answer."""
        if not self._wait(lambda: bool(self.pings), timeout):
            raise TimeoutError(f"no ping from the client within {timeout}s")
        return self.pings[0]

    def wait_pong(self, payload: bytes, timeout: float = 5.0) -> None:
        if not self._wait(lambda: payload in self.pongs, timeout):
            raise TimeoutError(f"no pong {payload!r} within {timeout}s; got {self.pongs}")

    def wait_ack(self, envelope_id: str, timeout: float = 3.0) -> Received:
        """The client's acknowledgement of an envelope (``payload`` present only when it answered with one)."""

        def find() -> Received | None:
            return next((m for m in self.messages if m.data.get("envelope_id") == envelope_id), None)

        self._wait(lambda: find() is not None or self._closed, timeout)
        found = find()
        if found is None:
            raise TimeoutError(
                f"no ack for envelope {envelope_id} within {timeout}s "
                f"(closed: {self._closed}); received: {[m.data for m in self.messages]}"
            )
        return found

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self._wait(lambda: self._closed, timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- reading ------------------------------------------------------------------------------------------------

    def _notify(self, change: Callable[[], None]) -> None:
        with self._changed:
            change()
            self._changed.notify_all()

    def _record(self, into: list[Any], item: Any) -> None:
        self._notify(lambda: into.append(item))

    def _run(self) -> None:
        fragments: list[bytes] = []
        fragmented_opcode: int | None = None
        try:
            while True:
                frame = read_client_frame(self._reader)
                if frame.opcode == OP_PING:
                    self._record(self.pings, frame.payload)
                    with contextlib.suppress(ConnectionError):  # no pongs once we sent a close
                        self._send_frame(OP_PONG, frame.payload)
                elif frame.opcode == OP_PONG:
                    self._record(self.pongs, frame.payload)
                elif frame.opcode == OP_CLOSE:
                    self._on_close_frame(frame.payload)
                    return
                else:
                    if frame.opcode == OP_CONTINUATION:
                        if fragmented_opcode is None:
                            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation without a message")
                    elif fragmented_opcode is not None:
                        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
                    else:
                        fragmented_opcode = frame.opcode
                    fragments.append(frame.payload)
                    if sum(len(f) for f in fragments) > MAX_MESSAGE_BYTES:
                        raise ProtocolError(CLOSE_TOO_BIG, "message too big")
                    if frame.fin:
                        opcode, data = fragmented_opcode, b"".join(fragments)
                        fragments, fragmented_opcode = [], None
                        self._on_message(opcode, data)
        except ProtocolError as exc:
            self.error = exc.reason
            with contextlib.suppress(OSError):
                self._send_frame(OP_CLOSE, close_payload(exc.code, exc.reason))
        except _Interrupted:
            if self._drop == "reset":  # SO_LINGER 0: close() sends RST instead of FIN
                with contextlib.suppress(OSError):
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with contextlib.suppress(OSError):
                    self.sock.close()
        except (ConnectionError, OSError):
            pass  # the client hung up without a close frame (what slack_sdk's built-in client does)
        finally:
            self._shutdown()
            self._notify(self._mark_closed)

    def _mark_closed(self) -> None:
        if self.close_code is None:
            self.close_code = CLOSE_ABNORMAL
        self._closed = True

    def _on_message(self, opcode: int, data: bytes) -> None:
        if opcode != OP_TEXT:
            raise ProtocolError(CLOSE_UNSUPPORTED_DATA, "Socket Mode carries text frames only")
        try:
            decoded = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(CLOSE_INVALID_DATA, "text frame is not UTF-8") from None
        except ValueError:
            raise ProtocolError(CLOSE_INVALID_DATA, "text frame is not JSON") from None
        if not isinstance(decoded, dict):
            raise ProtocolError(CLOSE_INVALID_DATA, "text frame is not a JSON object")
        self._record(self.messages, Received(time.monotonic(), decoded))

    def _on_close_frame(self, payload: bytes) -> None:
        if len(payload) == 1:
            code, reason = CLOSE_PROTOCOL_ERROR, ""
        elif payload:
            (code,) = struct.unpack("!H", payload[:2])
            reason = payload[2:].decode("utf-8", "replace")
        else:
            code, reason = CLOSE_NO_STATUS, ""

        def record() -> None:
            self.close_code, self.close_reason = code, reason

        self._notify(record)
        with contextlib.suppress(OSError):  # echo the close unless we started the handshake
            self._send_frame(OP_CLOSE, b"" if code == CLOSE_NO_STATUS else close_payload(code))

    def _shutdown(self) -> None:
        self._frozen = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class SocketModeServer:
    """Accepts WebSocket clients on a loopback port and greets each with Slack's ``hello``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        app_id: str = "A0001",
        send_hello: bool = True,
        handshake_timeout: float = 5.0,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"{host} is not a loopback address; this test server never listens elsewhere")
        self.host = host
        self.port = port
        self.app_id = app_id
        self.send_hello = send_hello
        self.handshake_timeout = handshake_timeout
        self.rejected: list[str] = []  # why handshakes were refused
        self._connections: list[SocketModeConnection] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SocketModeServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        listener.settimeout(0.1)  # so the accept loop notices stop() promptly
        self._listener, self.port = listener, int(listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name=f"socket-mode-{self.port}")
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """What ``apps.connections.open`` should hand out."""
        return f"ws://{self.host}:{self.port}/"

    @property
    def connections(self) -> list[SocketModeConnection]:
        with self._changed:
            return list(self._connections)

    def open_connections(self) -> list[SocketModeConnection]:
        return [c for c in self.connections if not c.closed]

    def live_connections(self) -> list[SocketModeConnection]:
        """Open connections that are not playing half-open."""
        return [c for c in self.connections if not c.closed and not c.frozen]

    def wait_connection(self, count: int = 1, timeout: float = 20.0) -> SocketModeConnection:
        """The ``count``-th connection (1-based) to complete the handshake."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._connections) >= count, timeout):
                raise TimeoutError(
                    f"{len(self._connections)} connection(s) after {timeout}s, wanted {count}; "
                    f"rejected handshakes: {self.rejected}"
                )
            return self._connections[count - 1]

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        for connection in self.connections:
            if not connection.closed:
                connection.close(CLOSE_NORMAL, "server stopping", timeout=1.0)
            connection.join(timeout=2)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(sock,), daemon=True, name=f"socket-mode-handshake-{self.port}"
            ).start()

    def _serve(self, sock: socket.socket) -> None:
        """Handshake, then hand the socket to a :class:`SocketModeConnection` and say hello."""
        try:
            sock.settimeout(self.handshake_timeout)
            head, leftover = _read_request_head(sock)
            try:
                request = parse_handshake(head)
            except ValueError as exc:
                self._reject(sock, str(exc))
                return
            sock.sendall(
                (
                    "HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept_key(request.headers['sec-websocket-key'])}\r\n"
                    "\r\n"
                ).encode("ascii")
            )
            sock.settimeout(0.1)  # reads poll, so drop() and freeze() take effect promptly
        except (OSError, ConnectionError, ProtocolError) as exc:
            with self._changed:
                self.rejected.append(f"handshake failed: {exc}")
            sock.close()
            return
        with self._changed:
            connection = SocketModeConnection(sock, request, leftover, len(self._connections) + 1)
            open_now = len([c for c in self._connections if not c.closed]) + 1
        if self.send_hello:  # first, as Slack does, so no envelope can overtake it
            try:
                connection.send_json(hello_message(self.app_id, open_now))
            except OSError as exc:
                with self._changed:
                    self.rejected.append(f"client gone before hello: {exc}")
                sock.close()
                return
        connection.start()
        with self._changed:
            self._connections.append(connection)
            self._changed.notify_all()

    def _reject(self, sock: socket.socket, why: str) -> None:
        with self._changed:
            self.rejected.append(why)
        body = why.encode("utf-8")
        with contextlib.suppress(OSError):
            sock.sendall(
                b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n"
                b"Content-Type: text/plain\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        sock.close()


# ---- fault scenarios ---------------------------------------------------------------------------------------------

ACK_DEADLINE = 3.0  # Slack's limit for acknowledging an envelope

Envelope = tuple[str, dict[str, Any], bool]
"""An envelope's type, payload and ``accepts_response_payload``."""


def help_command(response_url: str = "http://127.0.0.1:9/hook") -> Envelope:
    """``/azs help``: answered in the ack itself, so it measures the Socket Mode path and little else."""
    return (
        "slash_commands",
        {
            "token": "deprecated-verification-token",
            "team_id": "T0001",
            "channel_id": "CBACKUPS",
            "user_id": "UOPER",
            "user_name": "oper",
            "command": "/azs",
            "text": "help",
            "api_app_id": "A0001",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        },
        True,
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a Linux process so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Outcome:
    """What one scenario saw: acks later than Slack's 3 s (or missing), the slowest ack, and recovery figures."""

    scenario: str
    sent: int = 0
    late: int = 0
    slowest: float = 0.0
    recovery: float | None = None  # fault -> first envelope acked on a new connection; None: never within the limit
    cpu: float | None = None  # CPU seconds the client process used while recovering
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        recovery = (
            "-"
            if self.recovery is None and self.scenario in ("steady", "refresh", "warning+refresh", "redelivery")
            else ("never" if self.recovery is None else f"{self.recovery:.1f}s")
        )
        cpu = "-" if self.cpu is None else f"{self.cpu:.1f}s"
        return (
            f"{self.scenario:<16} {self.sent:>4} {self.late:>4} {self.slowest:>7.2f}s {recovery:>9} {cpu:>7}"
            f"  {'; '.join(self.notes)}"
        )


class ScenarioPlayer:
    """Plays Slack's faults against whatever client is connected to ``server`` and measures the client's acks.

    Each envelope comes from ``envelope()``; ``pid`` (the client process) adds CPU time while recovering, which
    shows a client that spins instead of waiting.
    """

    HEADER = f"{'scenario':<16} {'sent':>4} {'late':>4} {'slowest':>8} {'recovery':>9} {'cpu':>7}  notes"

    def __init__(
        self,
        server: SocketModeServer,
        envelope: Callable[[], Envelope] = help_command,
        *,
        pid: int | None = None,
        ack_deadline: float = ACK_DEADLINE,
    ) -> None:
        self.server = server
        self.envelope = envelope
        self.pid = pid
        self.ack_deadline = ack_deadline

    def deliver(self, connection: SocketModeConnection, outcome: Outcome, envelope_id: str | None = None) -> float:
        """Send one envelope and wait for its ack; the delay, or ``inf`` if none came within the deadline + 2 s."""
        kind, payload, accepts = self.envelope()
        sent = time.monotonic()
        try:
            envelope_id = connection.send_envelope(
                kind, payload, accepts_response_payload=accepts, envelope_id=envelope_id
            )
            delay = connection.wait_ack(envelope_id, timeout=self.ack_deadline + 2).at - sent
        except (TimeoutError, OSError):
            delay = float("inf")
        outcome.sent += 1
        outcome.late += delay >= self.ack_deadline
        outcome.slowest = max(outcome.slowest, min(delay, 99.0))
        return delay

    def steady(self, count: int = 30, interval: float = 0.1) -> Outcome:
        outcome = Outcome("steady")
        for index in range(count):
            live = self.server.live_connections()
            if not live:
                outcome.notes.append("no live connection")
                break
            self.deliver(live[index % len(live)], outcome)
            time.sleep(interval)
        return outcome

    def refreshes(self, count: int = 5, *, warning: bool = False, timeout: float = 15.0) -> Outcome:
        """Retire the oldest live connection ``count`` times; the next envelope goes to the new one at its hello."""
        outcome = Outcome("warning+refresh" if warning else "refresh")
        for _ in range(count):
            live = self.server.live_connections()
            if not live:
                outcome.notes.append("no live connection")
                break
            old, known = live[0], len(self.server.connections)
            try:
                if warning:
                    old.send_json(disconnect_message("warning"))
                    self.deliver(old, outcome)  # Slack still delivers on a connection it warned about
                with contextlib.suppress(ConnectionError, OSError):  # the client may have left it already
                    old.send_json(disconnect_message())
                new = self.server.wait_connection(known + 1, timeout=timeout)
            except (TimeoutError, OSError) as exc:
                outcome.notes.append(f"no new connection: {exc}")
                outcome.late += 1
                break
            self.deliver(new, outcome)
            if not old.wait_closed(timeout=5):
                outcome.notes.append(f"connection {old.number} left open after refresh")
                old.close(timeout=1)
        return outcome

    def drop(self, *, reset: bool, limit: float = 60.0) -> Outcome:
        """Drop every live link at once (FIN or RST, never a close frame); recovery is the first ack on a new one."""
        outcome = Outcome("drop+reset" if reset else "drop")
        return self._recover(outcome, lambda c: c.drop(reset=reset, timeout=0.5), limit)

    def half_open(self, limit: float = 60.0) -> Outcome:
        """Freeze every live link (no pongs, no reads, no close); recovery is the first ack on a new one."""
        return self._recover(Outcome("half-open"), SocketModeConnection.freeze, limit)

    def redelivery(self) -> Outcome:
        """One envelope id sent twice, on two connections when there are two: both copies must be acked."""
        outcome = Outcome("redelivery")
        live = self.server.live_connections()
        envelope_id = str(uuid.uuid4())
        for connection in (live[0], live[-1]) if live else ():
            self.deliver(connection, outcome, envelope_id)
        return outcome

    def _recover(self, outcome: Outcome, fault: Callable[[SocketModeConnection], None], limit: float) -> Outcome:
        victims = self.server.live_connections()
        known = len(self.server.connections)
        cpu_before = cpu_seconds(self.pid) if self.pid else None
        started = time.monotonic()
        for victim in victims:
            fault(victim)
        deadline = started + limit
        while time.monotonic() < deadline and outcome.recovery is None:
            fresh = [c for c in self.server.live_connections() if c.number > known]
            if not fresh:
                time.sleep(0.05)
                continue
            if self.deliver(fresh[0], outcome) < self.ack_deadline:
                outcome.recovery = time.monotonic() - started
        if cpu_before is not None and self.pid:
            outcome.cpu = cpu_seconds(self.pid) - cpu_before
        outcome.notes.append(f"{len(victims)} link(s) faulted")
        return outcome
