"""A Sentinel-managed Redis on loopback for tests: one master, replicas and three sentinels.

Sentinel's timings are cut to fractions of a second so a failover takes a few seconds, not the
production 30 s ``down-after-milliseconds``.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import redis
import trustme

from tests.harness import free_port, wait_until

MASTER_NAME = "azs"


class SentinelCluster:
    """Processes of a small Sentinel deployment; :meth:`kill_master` is the failure under test."""

    def __init__(
        self,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 400,
        tls: bool = False,
        password: str = "",
        sentinels_need_password: bool = False,
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (on Debian/Ubuntu: apt-get install -y redis-server)")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="azs-sentinel-"))
        self.down_after_ms = down_after_ms
        self.tls_args: list[str] = self._certificates() if tls else []
        self.password = password
        self.sentinels_need_password = sentinels_need_password
        self.servers: dict[int, subprocess.Popen[bytes]] = {}
        self.master_port = self._server()
        self.replica_ports = [self._server("--replicaof", "127.0.0.1", str(self.master_port)) for _ in range(replicas)]
        self.sentinel_ports = [self._sentinel() for _ in range(sentinels)]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        credentials = f":{self.password}@" if self.password else ""
        return f"{'rediss' if self.tls_args else 'redis'}+sentinel://{credentials}{hosts}/{MASTER_NAME}/0"

    @property
    def ca_file(self) -> str:
        return str(self.dir / "ca.pem")

    def _certificates(self) -> list[str]:
        """A throwaway CA and a server certificate for 127.0.0.1; every server and sentinel speaks TLS only."""
        authority = trustme.CA()
        authority.cert_pem.write_to_path(self.ca_file)
        leaf = authority.issue_cert("127.0.0.1", "localhost")
        leaf.private_key_pem.write_to_path(str(self.dir / "server.key"))
        leaf.cert_chain_pems[0].write_to_path(str(self.dir / "server.pem"))
        return [
            "--tls-cert-file",
            str(self.dir / "server.pem"),
            "--tls-key-file",
            str(self.dir / "server.key"),
            "--tls-ca-cert-file",
            self.ca_file,
            "--tls-auth-clients",
            "no",
            "--tls-replication",
            "yes",
        ]

    def client(self, port: int) -> redis.Redis:
        """A direct client for one server or sentinel, over TLS and with the password when the cluster uses them."""
        options: dict[str, Any] = {"ssl": True, "ssl_ca_certs": self.ca_file} if self.tls_args else {}
        if self.password:  # a sentinel without a password of its own accepts any
            options["password"] = self.password
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, **options)

    def _spawn(self, port: int, args: list[str]) -> None:
        log = (self.dir / f"{port}.log").open("wb")
        self.servers[port] = subprocess.Popen(
            [self.binary, *args], stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True
        )

    def _server(self, *extra: str) -> int:
        port = free_port()
        self._spawn(
            port,
            [
                *self._port_args(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--dbfilename",
                f"{port}.rdb",
                "--repl-diskless-sync-delay",
                "0",
                *self.tls_args,
                *self._password_args(),
                *extra,
            ],
        )
        client = self.client(port)
        if not wait_until(lambda: _answers(client), timeout=10):
            raise RuntimeError(f"redis-server on {port} did not start: {self.log(port)}")
        return port

    def _password_args(self) -> list[str]:
        return ["--requirepass", self.password, "--masterauth", self.password] if self.password else []

    def _port_args(self, port: int) -> list[str]:
        return ["--port", "0", "--tls-port", str(port)] if self.tls_args else ["--port", str(port)]

    def _sentinel(self) -> int:
        port = free_port()
        config = self.dir / f"sentinel-{port}.conf"
        listen = f"port 0\ntls-port {port}\n" if self.tls_args else f"port {port}\n"
        config.write_text(
            f"{listen}bind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} 2000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            + (f"sentinel auth-pass {MASTER_NAME} {self.password}\n" if self.password else "")
            + (f"requirepass {self.password}\n" if self.sentinels_need_password else "")
        )
        self._spawn(port, [str(config), "--sentinel", *self.tls_args])
        client = self.client(port)
        if not wait_until(lambda: _answers(client), timeout=10):
            raise RuntimeError(f"sentinel on {port} did not start: {self.log(port)}")
        return port

    def wait_ready(self, timeout: float = 20.0) -> bool:
        """Replicas are in sync and every sentinel knows them and the others, so a failover can be agreed."""

        def ready() -> bool:
            for port in self.replica_ports:
                try:
                    if self.client(port).info("replication").get("master_link_status") != "up":
                        return False
                except redis.RedisError:
                    return False
            for port in self.sentinel_ports:
                try:
                    info = self.client(port).sentinel_master(MASTER_NAME)
                except redis.RedisError:
                    return False
                assert isinstance(info, dict)
                if int(info.get("num-slaves", 0)) < len(self.replica_ports):
                    return False
                if int(info.get("num-other-sentinels", 0)) < len(self.sentinel_ports) - 1:
                    return False
            return True

        return wait_until(ready, timeout=timeout, interval=0.2)

    def current_master(self) -> int | None:
        """The master's port as the first answering sentinel names it."""
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                address = self.client(port).execute_command(  # type: ignore[no-untyped-call]
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME
                )
                if address:
                    return int(address[1])
        return None

    def kill_master(self) -> int:
        """SIGKILL the current master (no shutdown, no goodbye to its clients); returns its port."""
        port = self.current_master() or self.master_port
        self.servers[port].send_signal(signal.SIGKILL)
        self.servers[port].wait(timeout=10)
        return port

    def log(self, port: int) -> str:
        path = self.dir / f"{port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in self.servers.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
