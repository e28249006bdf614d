"""Socket Mode that misses no envelope: several supervised aiohttp connections and deduplicated dispatch.

Bolt's default client (slack_sdk's built-in one) acked late after every refresh, spun a core for a minute after
a dropped link and took ~50 s to notice a half-open one; the aiohttp transport noticed all of these quickly
(docs/socket-mode.md). Bolt's aiohttp adapter still runs a sync app's dispatch on the event loop and keeps one
connection, so this module owns the connections and uses Bolt only to dispatch:

- ``connections`` slots, each holding one WebSocket to a fresh ``apps.connections.open`` URL; Slack sends each
  envelope to one connection, so a refresh or a drop on one slot never leaves the app without a link;
- a refresh (``disconnect``) is make-before-break: the old connection keeps reading until the new one said
  ``hello`` (after a ``warning``, until Slack's ``refresh_requested``), then finishes its in-flight acks and
  closes;
- aiohttp's heartbeat pings every ``ping_interval`` and closes a link whose pong is late, so a half-open link
  is replaced within about 1.5 intervals; dead links reconnect with capped, jittered backoff (never a spin);
- each envelope is acked on a worker thread's result, never blocking the loop; a copy with an ``envelope_id``
  already seen (:class:`EnvelopeLedger`) is acked at once and not acted on again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import redis
from slack_bolt import App
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.config.limits import (
    ENVELOPE_MEMORY_COUNT,
    ENVELOPE_MEMORY_SECONDS,
    LOOP_MAX_AGE,
    SOCKET_DISPATCH_THREADS,
    SOCKET_DRAIN_TIMEOUT,
    SOCKET_HEALTHY_AFTER,
    SOCKET_HELLO_TIMEOUT,
    SOCKET_MAX_BACKOFF,
    SOCKET_MAX_CONNECTIONS,
    SOCKET_RETIRE_GRACE,
    SOCKET_WARNED_LINGER,
)
from bot.config.proxy import proxy_for
from bot.ops.metrics import SOCKET_ACK_SECONDS, SOCKET_CONNECTIONS, SOCKET_ENVELOPES, SOCKET_RECONNECTS
from bot.ops.probes import Heartbeat
from bot.state.keys import envelope_key

log = logging.getLogger(__name__)


def backoff_delay(failures: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before reconnect attempt ``failures`` (0-based): 0.25-0.5 s first, doubling, capped at 30 s."""
    ceiling: float = min(SOCKET_MAX_BACKOFF, 0.5 * 2.0 ** min(failures, 10))
    return ceiling * (0.5 + 0.5 * rng())


class EnvelopeLedger:
    """Which envelope ids were already acted on, so a redelivered copy is acked but not run twice.

    Redis ``SET NX`` with a TTL shares the answer between connections and processes. A small in-process memory
    sits in front of it, so copies reaching this process are still caught while Redis is down; across processes
    an outage fails open (the envelope is acted on): losing an operator's command is worse than a second copy,
    and a second backup start is still refused by the stamp lock.
    """

    def __init__(
        self, client: redis.Redis | None, ttl: float = ENVELOPE_MEMORY_SECONDS, memory: int = ENVELOPE_MEMORY_COUNT
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.memory = memory
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_sighting(self, envelope_id: str) -> bool:
        """True for the first copy of ``envelope_id`` (claiming it), False for any later copy."""
        now = time.monotonic()
        with self._lock:
            while self._seen and (len(self._seen) > self.memory or next(iter(self._seen.values())) < now - self.ttl):
                self._seen.popitem(last=False)
            if envelope_id in self._seen:
                return False
            self._seen[envelope_id] = now
        if self.client is None:
            return True
        try:
            return bool(self.client.set(envelope_key(envelope_id), "1", nx=True, ex=int(self.ttl)))
        except redis.RedisError as exc:
            log.warning("Redis did not answer the envelope dedupe (%s); acting on %s", type(exc).__name__, envelope_id)
            return True

    def forget(self, envelope_id: str) -> None:
        """Release a claim whose dispatch failed, so Slack's next copy is acted on."""
        with self._lock:
            self._seen.pop(envelope_id, None)
        if self.client is not None:
            with contextlib.suppress(redis.RedisError):
                self.client.delete(envelope_key(envelope_id))


def ack_message(envelope_id: str, response: BoltResponse) -> dict[str, Any]:
    """The envelope ack for Bolt's answer; an ack even when Bolt failed, so Slack does not redeliver a failure."""
    ack: dict[str, Any] = {"envelope_id": envelope_id}
    if response.status != 200 or not response.body:
        return ack
    content_type = (response.headers.get("content-type") or [""])[0]
    ack["payload"] = (
        json.loads(response.body) if content_type.startswith("application/json") else {"text": response.body}
    )
    return ack


class Connection:
    """One WebSocket: whether Slack greeted it, what is in flight on it, and why it should be replaced."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, slot: int) -> None:
        self.ws = ws
        self.slot = slot
        self.opened_at = time.monotonic()
        self.greeted_at = time.monotonic()
        self.in_flight = 0
        self.replace_reason: str | None = None
        self.replace_wanted = asyncio.Event()
        self.retire_now = asyncio.Event()  # Slack asked for the refresh (not just warned), or the link ended
        self.drained = asyncio.Event()
        self.drained.set()

    @property
    def open(self) -> bool:
        return not self.ws.closed

    def want_replacement(self, reason: str) -> None:
        if self.replace_reason is None:
            self.replace_reason = reason
        self.replace_wanted.set()


class SocketModeRunner:
    """Keeps ``connections`` Socket Mode links open and dispatches every envelope to the Bolt app once."""

    def __init__(
        self,
        app: App,
        app_token: str,
        *,
        connections: int = 2,
        ping_interval: float = 5.0,
        ledger: EnvelopeLedger | None = None,
        heartbeat: Heartbeat | None = None,
        dispatch_threads: int = SOCKET_DISPATCH_THREADS,
    ) -> None:
        if connections > SOCKET_MAX_CONNECTIONS:
            log.warning("Slack allows %d Socket Mode connections per app; using that many", SOCKET_MAX_CONNECTIONS)
        self.app = app
        self.app_token = app_token
        self.slots = max(1, min(connections, SOCKET_MAX_CONNECTIONS))
        self.ping_interval = ping_interval
        self.ledger = ledger or EnvelopeLedger(None)
        self.heartbeat = heartbeat or Heartbeat(max_age=LOOP_MAX_AGE)
        self._dispatch = ThreadPoolExecutor(max_workers=dispatch_threads, thread_name_prefix="socket-dispatch")
        self._current: dict[int, Connection] = {}
        self._background: set[asyncio.Task[None]] = set()  # held so the loop does not drop them mid-flight
        self._stopping = False

    # ---- health --------------------------------------------------------------------------------------------------

    def live_connections(self) -> int:
        """Connections that Slack greeted and whose pongs are on time (aiohttp closes a link on a late pong)."""
        return sum(1 for c in list(self._current.values()) if c.open and c.replace_reason is None)

    def problems(self) -> dict[str, str]:
        """Readiness for ``/healthz``: not ready while no connection is open and answering."""
        if self.live_connections():
            return {}
        return {"socket": f"no Socket Mode connection is open (0 of {self.slots}); reconnecting"}

    # ---- running -------------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set; then close every connection with a close frame."""
        asyncio.run(self._main(stop))

    async def _main(self, stop: threading.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            slots = [
                asyncio.create_task(self._keep_slot(session, slot), name=f"socket-slot-{slot}")
                for slot in range(1, self.slots + 1)
            ]
            try:
                while not stop.is_set():  # the supervising loop: liveness, gauges, and slots that died
                    self.heartbeat.beat()
                    SOCKET_CONNECTIONS.set(self.live_connections())
                    for index, task in enumerate(slots):
                        if task.done():
                            log.error("socket slot %d stopped (%r); restarting it", index + 1, task.exception())
                            slots[index] = asyncio.create_task(self._keep_slot(session, index + 1))
                    await asyncio.sleep(0.5)
            finally:
                self._stopping = True
                in_flight = [c.drained.wait() for c in self._current.values()]
                with contextlib.suppress(TimeoutError):  # ack what is being dispatched before hanging up
                    await asyncio.wait_for(asyncio.gather(*in_flight), SOCKET_DRAIN_TIMEOUT)
                for task in slots:
                    task.cancel()
                await asyncio.gather(*slots, return_exceptions=True)
                await asyncio.gather(*(c.ws.close() for c in self._current.values()), return_exceptions=True)
                self._dispatch.shutdown(wait=False, cancel_futures=True)

    async def _keep_slot(self, session: aiohttp.ClientSession, slot: int) -> None:
        """One slot, forever: connect, read until Slack retires the link or it dies, then replace it."""
        failures = 0
        previous: Connection | None = None
        while not self._stopping:
            connection = await self._connect(session, slot)
            if connection is None:
                SOCKET_RECONNECTS.labels(reason="connect_failed").inc()
                await asyncio.sleep(backoff_delay(failures))
                failures += 1
                continue
            self._current[slot] = connection
            if previous is not None:  # make-before-break: the old link stops only once this one said hello
                self._spawn(self._retire(previous))
            reader = asyncio.create_task(self._read(connection))
            await connection.replace_wanted.wait()
            reason = connection.replace_reason or "dropped"
            SOCKET_RECONNECTS.labels(reason=reason).inc()
            log.info("socket slot %d: replacing its connection (%s)", slot, reason)
            if reason in ("refresh", "disconnect"):
                previous = connection
                if reason == "refresh":
                    failures = 0
                else:
                    await asyncio.sleep(backoff_delay(failures))
                    failures += 1
                continue
            await asyncio.gather(reader, return_exceptions=True)
            previous = None
            if time.monotonic() - connection.opened_at >= SOCKET_HEALTHY_AFTER:
                failures = 0
            await asyncio.sleep(backoff_delay(failures))
            failures += 1

    async def _connect(self, session: aiohttp.ClientSession, slot: int) -> Connection | None:
        """A fresh URL from ``apps.connections.open``, the WebSocket, and Slack's ``hello`` on it."""
        loop = asyncio.get_running_loop()
        try:
            url = await loop.run_in_executor(None, self._open_url)
            ws = await session.ws_connect(  # aiohttp reads WSS_PROXY for wss://, not HTTPS_PROXY: say it here
                url,
                proxy=proxy_for(url),
                heartbeat=self.ping_interval,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
            )
        except Exception as exc:  # any failure here is retried with backoff; the reason is logged
            log.warning("socket slot %d: cannot connect (%s: %s)", slot, type(exc).__name__, exc)
            return None
        try:
            first = await ws.receive(timeout=SOCKET_HELLO_TIMEOUT)
            hello = json.loads(first.data) if first.type == aiohttp.WSMsgType.TEXT else {}
        except Exception as exc:  # a timeout, a broken link or a frame that is not JSON: no hello
            hello = {"error": type(exc).__name__}
        if hello.get("type") != "hello":
            log.warning("socket slot %d: no hello from Slack (got %s)", slot, str(hello)[:200])
            with contextlib.suppress(Exception):
                await ws.close()
            return None
        log.info("socket slot %d: connected (Slack counts %s connections)", slot, hello.get("num_connections"))
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.ping(b"azs-hello")  # a first ping at once, as slack_sdk's clients do; heartbeats follow
        return Connection(ws, slot)

    def _open_url(self) -> str:
        response = self.app.client.apps_connections_open(app_token=self.app_token)
        return str(response["url"])

    async def _read(self, connection: Connection) -> None:
        """Read until the link ends; envelopes are dispatched concurrently, ``disconnect`` asks for a new link."""
        try:
            async for message in connection.ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._on_text(connection, message.data)
        except Exception:  # whatever broke the read, the slot must hear that this link is gone
            log.exception("socket slot %d: reading the connection failed", connection.slot)
        finally:
            connection.retire_now.set()
            failure = connection.ws.exception()
            connection.want_replacement("stale" if isinstance(failure, aiohttp.ServerTimeoutError) else "dropped")

    def _on_text(self, connection: Connection, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("socket slot %d: ignoring a frame that is not JSON", connection.slot)
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "disconnect":
            reason = data.get("reason")
            log.info("socket slot %d: Slack retires this connection (%s)", connection.slot, reason)
            if reason != "warning":
                connection.retire_now.set()
            # Other reasons (too_many_websockets, link_disabled) would come back at once: those back off.
            connection.want_replacement("refresh" if reason in ("warning", "refresh_requested") else "disconnect")
        elif data.get("envelope_id"):
            self._spawn(self._handle(connection, data))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _retire(self, connection: Connection) -> None:
        """Close a refreshed connection once Slack stopped using it and its in-flight envelopes are acked."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connection.retire_now.wait(), SOCKET_WARNED_LINGER)
        await asyncio.sleep(SOCKET_RETIRE_GRACE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connection.drained.wait(), SOCKET_DRAIN_TIMEOUT)
        with contextlib.suppress(Exception):  # a link that broke meanwhile needs no goodbye
            await connection.ws.close()

    async def _handle(self, connection: Connection, data: dict[str, Any]) -> None:
        received = time.monotonic()
        request = SocketModeRequest.from_dict(data)
        if request is None:
            return
        connection.in_flight += 1
        connection.drained.clear()
        loop = asyncio.get_running_loop()
        outcome = "acked"
        try:
            if not await loop.run_in_executor(self._dispatch, self.ledger.first_sighting, request.envelope_id):
                outcome, ack = "duplicate", {"envelope_id": request.envelope_id}
            else:
                response = await loop.run_in_executor(self._dispatch, run_bolt_app, self.app, request)
                ack = ack_message(request.envelope_id, response)
                if response.status != 200:
                    outcome = "unhandled" if response.status == 404 else "failed"
                    log.warning(
                        "envelope %s (%s): Bolt answered %d", request.envelope_id, request.type, response.status
                    )
                    await loop.run_in_executor(self._dispatch, self.ledger.forget, request.envelope_id)
            if not await self._send(connection, ack):
                outcome = "ack_lost"
        except Exception:
            outcome = "failed"
            log.exception("envelope %s (%s) failed", request.envelope_id, request.type)
        finally:
            connection.in_flight -= 1
            if not connection.in_flight:
                connection.drained.set()
        SOCKET_ENVELOPES.labels(type=request.type, outcome=outcome).inc()
        SOCKET_ACK_SECONDS.observe(time.monotonic() - received)

    async def _send(self, connection: Connection, ack: dict[str, Any]) -> bool:
        """The ack on the envelope's own connection, or on another open one if that one just died."""
        candidates = [connection, *(c for c in list(self._current.values()) if c is not connection)]
        for candidate in candidates:
            if candidate.open:
                try:
                    await candidate.ws.send_str(json.dumps(ack))
                    return True
                except (ConnectionError, RuntimeError, aiohttp.ClientError):
                    continue
        log.error("envelope %s: no open connection to acknowledge it on", ack["envelope_id"])
        return False
