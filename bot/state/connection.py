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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from bot.config.limits import REDIS_CONNECT_TIMEOUT, REDIS_READ_TIMEOUT, REPLICA_ACK_TIMEOUT_MS
from bot.config.redis_url import SENTINEL_SCHEMES, RedisUrlError, SentinelTarget, parse_sentinel_url, redact_url
from bot.state import keys

if TYPE_CHECKING:
    from bot.config.settings import Settings

log = logging.getLogger(__name__)

_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT, "socket_timeout": REDIS_READ_TIMEOUT}


class NotReplicated(redis.RedisError):
    """A must-not-lose write reached the master, but no replica acknowledged it in time."""


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
