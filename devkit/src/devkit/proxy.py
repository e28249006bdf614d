"""A loopback HTTP proxy that logs where each request goes: ``CONNECT`` tunnels and absolute-form requests.

Datacenters that run the bot usually force outbound traffic through such a proxy (``HTTPS_PROXY``). Tests point
the bot's processes at this one and read :meth:`LoggingProxy.targets` to see which paths went through it and
which bypassed it (``NO_PROXY``). TLS stays end to end: a ``CONNECT`` is a byte tunnel, so the stamp's private CA
is still what the client checks. Standard library only; it listens on loopback and nowhere else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import sys
import threading
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        head = _read_head(client)
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode("latin-1").split(" ", 2)
        self.server.proxy._log(f"{method} {target}")
        if method == "CONNECT":  # a tunnel: "host:port", answered once the upstream connection is up
            host, _, port = target.rpartition(":")
            upstream = self._dial(client, host.strip("[]"), int(port))
            if upstream is None:
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:  # absolute form ("GET http://host:port/path"): forwarded as origin form, then spliced
            url = urlsplit(target)
            upstream = self._dial(client, url.hostname or "", url.port or 80)
            if upstream is None:
                return
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            upstream.sendall(f"{method} {path} {version}\r\n".encode("latin-1") + rest)
        _splice(client, upstream)

    @staticmethod
    def _dial(client: socket.socket, host: str, port: int) -> socket.socket | None:
        try:
            return socket.create_connection((host, port), timeout=10)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return None


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: LoggingProxy) -> None:
        self.proxy = proxy
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up mid-request is normal here (probes, timeouts); anything else still prints."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _read_head(sock: socket.socket) -> bytes:
    """The request line and headers, up to and including the blank line (anything after it stays unread)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte or len(head) > _MAX_HEAD:
            raise ConnectionError("the client closed before the end of the request head")
        head += byte
    return head


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both sides are done, then close both."""

    def pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    a.settimeout(None)
    b.settimeout(None)
    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join()
    b.close()


class LoggingProxy:
    """``HTTPS_PROXY=proxy.url`` for a child process; :meth:`targets` lists what it was asked, in order."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"{host} is not a loopback address; this proxy never listens elsewhere")
        self._server = _Server((host, 0), self)
        self._lock = threading.Lock()
        self._targets: list[str] = []

    def start(self) -> LoggingProxy:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _log(self, target: str) -> None:
        with self._lock:
            self._targets.append(target)

    def targets(self) -> list[str]:
        """``"CONNECT host:port"`` for a tunnel, ``"<METHOD> <absolute URL>"`` for a forwarded request."""
        with self._lock:
            return list(self._targets)

    def saw(self, host_port: str) -> bool:
        """Whether any request went to ``host_port`` (e.g. ``"127.0.0.1:8443"``) through this proxy."""
        return any(t == f"CONNECT {host_port}" or f"//{host_port}/" in t for t in self.targets())
