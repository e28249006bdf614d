"""Which URLs the stamp's token may go to: the origin as the sending parser reads it, and operation URLs a stamp
names, parsed strictly so they can be rebuilt on the configured endpoint (never sent as they came)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NewType
from urllib.parse import parse_qsl, urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from bot.stamp.errors import StampError
from bot.stamp.lro import FOREIGN_HOST

DEFAULT_PORTS = {"https": 443, "http": 80}


NO_ORIGIN = ("", "", -1)
"""The origin of a URL that does not parse, or that two parsers read differently: equal to none."""


ArmUrl = NewType("ArmUrl", str)
"""A URL made by :meth:`ArmClient.url`: the configured endpoint, a checked path, ``api-version``. The only
kind :meth:`ArmClient.request` sends (mypy keeps a string from a response out)."""


_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,89}"


_OPERATION_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?&=\[\]-]{1,2048}")
"""Everything an ARM operation URL needs. Left out on purpose: ``@`` (userinfo), ``\\``, ``%`` (escapes),
``#``, whitespace, control and non-ASCII characters, which parsers disagree on."""


_OPERATION_PATH = re.compile(
    rf"/subscriptions/(?P<subscription>{_GUID})/resourceGroups/(?P<group>{NAME})"
    rf"/providers/Microsoft\.Backup\.Admin/backupLocations/(?P<location>{NAME})"
    rf"/(?P<kind>operationResults|operationStatus|backups)/(?P<operation>{_GUID})",
    re.IGNORECASE,
)
"""The shape of every recorded ``Location``/``Azure-AsyncOperation`` URL (builds 1809, 2002, 2108)."""


_KINDS = {kind.lower(): kind for kind in ("operationResults", "operationStatus", "backups")}


_QUERY_KEYS = {"api-version": "api-version", "isasyncoperation": "IsAsyncOperation"}
"""The query keys an operation URL may carry (as recorded), each once."""


QUERY_VALUE = re.compile(r"[A-Za-z0-9._-]{1,40}")


ARM_PATH = re.compile(r"(?:/[A-Za-z0-9][A-Za-z0-9._-]*)+")
"""A path the bot builds: segments of safe characters that start with a letter or digit (never ``..``)."""


def _host(host: str | None) -> str:
    """Lower case, no trailing dot, no IPv6 brackets (the standard library drops them, urllib3 keeps them)."""
    return (host or "").lower().rstrip(".").strip("[]")


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) where a request to ``url`` would go, normalised: lower case, no trailing dot,
    default port made explicit; :data:`NO_ORIGIN` unless the standard library and urllib3 (the parser
    that sends) agree on all three.

    ``https://Stamp.example:443/x`` and ``https://stamp.example/y`` are the same origin; an IP
    address or another DNS name for the same machine is not (the token is only sent where configured).
    ``https://attacker\\@stamp/`` has none: the standard library reads the stamp, urllib3 the attacker.
    """
    try:
        standard, sent = urlsplit(url), parse_url(url)
        standard_port = standard.port
    except (ValueError, LocationParseError):
        return NO_ORIGIN
    scheme = (sent.scheme or "").lower()
    origin = (scheme, _host(sent.host), sent.port or DEFAULT_PORTS.get(scheme, 0))
    seen = (standard.scheme.lower(), _host(standard.hostname), standard_port or DEFAULT_PORTS.get(scheme, 0))
    return origin if origin == seen and origin[1] else NO_ORIGIN


@dataclass(frozen=True)
class OperationRef:
    """What an operation URL from a stamp is allowed to say: which operation, under which backup location,
    with which query. The URL itself is never sent; :meth:`ArmClient.follow_url` rebuilds it."""

    subscription: str
    resource_group: str
    location: str
    kind: str
    """``operationResults``, ``operationStatus`` or ``backups``, spelled as ARM spells them."""
    operation_id: str
    query: tuple[tuple[str, str], ...]


def parse_operation_url(url: str, origin: tuple[str, str, int]) -> OperationRef | None:
    """``url`` as an operation on the endpoint ``origin``, or ``None`` when it may not be followed.

    Refused: a character outside :data:`_OPERATION_URL_CHARS` (so userinfo, backslashes, whitespace,
    control characters and percent-escapes), a fragment, another origin, a path not shaped like a
    backup operation, and a query with anything but ``api-version`` and ``IsAsyncOperation``.
    """
    if not isinstance(url, str) or not _OPERATION_URL_CHARS.fullmatch(url):
        return None
    split = urlsplit(url)
    if split.fragment or origin_of(url) != origin or origin == NO_ORIGIN:
        return None
    path = _OPERATION_PATH.fullmatch(split.path)
    query = _operation_query(split.query)
    if path is None or query is None:
        return None
    return OperationRef(
        path["subscription"],
        path["group"],
        path["location"],
        _KINDS[path["kind"].lower()],
        path["operation"].lower(),
        query,
    )


def _operation_query(query: str) -> tuple[tuple[str, str], ...] | None:
    """The query of an operation URL, keys spelled as recorded; ``None`` if anything else is in it."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        return None
    keys = [key.lower() for key, _ in pairs]
    if len(set(keys)) != len(keys) or not set(keys) <= set(_QUERY_KEYS):
        return None
    if not all(QUERY_VALUE.fullmatch(value) for _, value in pairs):
        return None
    return tuple((_QUERY_KEYS[key.lower()], value) for key, value in pairs)


def refused(what: str) -> StampError:
    """Why an operation URL gets no token; the URL itself is not repeated (it is the stamp's text)."""
    return StampError(
        f"{what}: refusing to send credentials to an operation URL that is not on the configured ARM "
        "endpoint or not shaped like a backup operation",
        code=FOREIGN_HOST,
    )
