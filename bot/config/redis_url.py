"""Reading ``REDIS_URL``: the forms the bot accepts, checked at start, and shown without the password.

Besides redis-py's ``redis://``, ``rediss://`` and ``unix://``, the bot takes Sentinel URLs::

    redis+sentinel://[user:password@]host1:port1,host2:port2/<master-name>[/<db>]

(``rediss+sentinel://`` for TLS). Pure parsing, so settings can check the URL before anything connects
(:mod:`bot.state.connection` connects).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from redis.connection import parse_url

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT = 26379


class RedisUrlError(ValueError):
    """``REDIS_URL`` cannot be understood; the message shows the URL with its password redacted."""


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
