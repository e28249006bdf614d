"""Connecting to Redis: one server, TLS, or a Sentinel-managed master that survives losing a node.

``REDIS_URL`` takes the forms redis-py knows (``redis://``, ``rediss://``, ``unix://``) plus
``redis+sentinel://`` and ``rediss+sentinel://``::

    redis+sentinel://[user:password@]host1:port1,host2:port2/<master-name>[/<db>]

The credentials are the master's; sentinels are asked with them first (sentinels protected by the
same password, or with none set, accept them), then without. With ``rediss`` both the
sentinels and the master are reached over TLS, checked against ``REDIS_CA_BUNDLE`` when set.
A password never appears in a message built here: :func:`redact_url` replaces it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel

from bot import keys

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT = 26379
REPLICA_ACK_TIMEOUT_MS = 1000
"""How long a must-not-lose write waits for a replica; well inside Slack's 3 s for the start."""

# Short timeouts, so a Redis outage turns into a clear reply well inside Slack's 3 s.
_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 2.0}


class RedisUrlError(ValueError):
    """``REDIS_URL`` cannot be understood; the message shows the URL with its password redacted."""


class NotReplicated(redis.RedisError):
    """A must-not-lose write reached the master, but no replica acknowledged it in time."""


@dataclass(frozen=True)
class SentinelTarget:
    """Where the sentinels are, which master they watch, and how to talk to it."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int
    username: str | None
    password: str | None
    tls: bool


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user names and hosts are kept for diagnosis)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{hosts}").geturl()


def url_password(url: str) -> str | None:
    """The password in ``url``, for the log filter's list of secrets."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Split a ``redis+sentinel://`` URL; raises :class:`RedisUrlError` saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise RedisUrlError(f"not a Sentinel URL: {redact_url(url)}")
    sentinels = _sentinel_addresses(parts.netloc.rpartition("@")[2], url)
    path = [p for p in parts.path.split("/") if p]
    if not sentinels or not 1 <= len(path) <= 2:
        raise RedisUrlError(
            f"expected {parts.scheme}://[user:password@]host1:port1,host2:port2/<master-name>[/<db>],"
            f" got {redact_url(url)}"
        )
    username, _, password = parts.netloc.rpartition("@")[0].partition(":")
    return SentinelTarget(
        sentinels=sentinels,
        master_name=unquote(path[0]),
        db=_database(path[1:], url),
        username=unquote(username) or None,
        password=unquote(password) or None,
        tls=parts.scheme == "rediss+sentinel",
    )


def _database(after_master: list[str], url: str) -> int:
    """The optional ``/<db>`` after the master name."""
    if after_master and not after_master[0].isdigit():
        raise RedisUrlError(f"the database after the master name must be a number, got {redact_url(url)}")
    return int(after_master[0]) if after_master else 0


def _sentinel_addresses(hosts: str, url: str) -> tuple[tuple[str, int], ...]:
    """``host1:port1,[v6]:port2,host3`` as (host, port) pairs; a missing port is Sentinel's default."""
    sentinels = []
    for item in filter(None, hosts.split(",")):
        host, port = item, ""
        if item.rfind(":") > item.rfind("]"):  # a port follows (an IPv6 address is written in brackets)
            host, _, port = item.rpartition(":")
        if port and not port.isdigit():
            raise RedisUrlError(f"sentinel {item!r} has no valid port in {redact_url(url)}")
        sentinels.append((host.strip("[]"), int(port) if port else DEFAULT_SENTINEL_PORT))
    return tuple(sentinels)


def make_redis(settings: Settings, *, timeout: float | None = None) -> redis.Redis:
    """The client every process uses, from ``settings.redis_url`` and ``settings.redis_ca_bundle``: the only
    way the bot makes one, so every client follows Sentinel and trusts the configured CA.

    It decodes replies to ``str`` (``decode_responses``): every user of it stores text. ``timeout`` shortens
    the connect and read timeouts for a client on an ack path (the Socket Mode envelope dedupe).
    """
    return connect(settings.redis_url, ca_bundle=settings.redis_ca_bundle, timeout=timeout)


def connect(url: str, *, ca_bundle: str | None = None, timeout: float | None = None) -> redis.Redis:
    """A client for ``url``: a plain one, or one that follows the master Sentinel names."""
    tls: dict[str, Any] = {"ssl_ca_certs": ca_bundle} if ca_bundle else {}
    timeouts = dict(_TIMEOUTS) if timeout is None else {"socket_connect_timeout": timeout, "socket_timeout": timeout}
    scheme = urlsplit(url).scheme
    if scheme in SENTINEL_SCHEMES:
        return _sentinel_master(parse_sentinel_url(url), tls, timeouts)
    try:
        return redis.Redis.from_url(
            url,
            health_check_interval=15,
            retry_on_timeout=False,
            decode_responses=True,
            **timeouts,
            **(tls if scheme == "rediss" else {}),
        )
    except ValueError as exc:
        raise RedisUrlError(f"{redact_url(url)} is not a Redis URL ({str(exc).replace(url, '')})") from None


def _sentinel_master(target: SentinelTarget, tls: dict[str, Any], timeouts: dict[str, Any]) -> redis.Redis:
    """A client that asks the sentinels where the master is, and asks again after a failover."""
    sentinel_tls = {"ssl": True, **tls} if target.tls else {}
    # Each sentinel is asked once: the next one in the list is the retry.
    ask_once = {**timeouts, **sentinel_tls, "retry": Retry(NoBackoff(), 0)}
    credentials = {"username": target.username, "password": target.password} if target.password else {}
    sentinel = Sentinel(
        list(target.sentinels),
        sentinel_kwargs={**ask_once, **credentials},  # type: ignore[no-untyped-call]
        **timeouts,
        **sentinel_tls,
    )
    if credentials:  # sentinels that do not know the master's user are asked again without credentials
        sentinel.sentinels += [redis.Redis(host=host, port=port, **ask_once) for host, port in target.sentinels]
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master_name,
        db=target.db,
        username=target.username,
        password=target.password,
        health_check_interval=15,
        retry_on_timeout=False,
        decode_responses=True,
    )
    return client


def wait_for_replica(client: redis.Redis, timeout_ms: int = REPLICA_ACK_TIMEOUT_MS) -> None:
    """Block until a replica holds every write made so far, when the master has replicas.

    Without replicas (one Redis, kept safe by AOF) there is nothing to wait for. With them, a write
    only the master holds is lost if Sentinel promotes a replica now, so no replica's ack in
    ``timeout_ms`` raises :class:`NotReplicated` (callers treat it as Redis being unavailable).
    ``WAIT`` covers the writes of its own connection, and the pool may hand out another one, so
    a marker write on the waiting connection comes first: the replication stream is ordered, so a
    replica that has the marker has everything written before it.
    """
    try:
        role = client.execute_command("ROLE")  # type: ignore[no-untyped-call]
    except redis.ResponseError:  # a proxy or managed service that hides ROLE: replication is its business
        log.debug("ROLE is not available; not waiting for replicas")
        return
    if not role or role[0] != "master" or not role[2]:
        return
    with client.pipeline(transaction=False) as pipe:
        pipe.incr(keys.replica_ack_key())
        pipe.execute_command("WAIT", 1, timeout_ms)  # type: ignore[no-untyped-call]
        _, acked = pipe.execute()
    if int(acked) < 1:
        raise NotReplicated(f"no replica acknowledged the write within {timeout_ms} ms")


def check_url(url: str) -> str:
    """``url`` if it is one :func:`connect` understands; else :class:`RedisUrlError` (password redacted)."""
    scheme = urlsplit(url).scheme
    if scheme in SENTINEL_SCHEMES:
        parse_sentinel_url(url)
    elif scheme not in ("redis", "rediss", "unix"):
        raise RedisUrlError(
            f"must start with redis://, rediss://, unix://, redis+sentinel:// or rediss+sentinel://,"
            f" got {redact_url(url)}"
        )
    else:
        try:
            parse_url(url)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise RedisUrlError(f"{redact_url(url)} is not a Redis URL ({str(exc).replace(url, '')})") from None
    return url
