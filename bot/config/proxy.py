"""Which proxy an outbound URL goes through: ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and ``NO_PROXY``.

slack_sdk (Web API, ``response_url``) and ``requests`` (the stamps, MSAL) read these variables themselves. aiohttp,
which carries the Socket Mode WebSocket, does not for a ``wss://`` URL: even with ``trust_env`` it looks the proxy up
by the URL's scheme (``WSS_PROXY``), so a site that sets ``HTTPS_PROXY`` got a direct connection that its firewall
drops. :func:`proxy_for` answers for any URL, ``wss``/``ws`` read as ``https``/``http``, with the rules the stamp
path already follows (``requests``), so one ``NO_PROXY`` means the same thing on every path.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

_SCHEME_OF = {"wss": "https", "ws": "http"}
_DEFAULT_PORT = {"https": 443, "http": 80}


def environment_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """``{"https": url, "http": url, "all": url, "no": hosts}`` from ``*_proxy`` variables, as the standard library
    and ``requests`` read them: either case, the lower-case one winning, a set but empty lower-case one meaning
    none; ``HTTP_PROXY`` ignored when ``REQUEST_METHOD`` is set (a CGI request could set it: CVE-2016-1000110)."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if value and name.lower().endswith("_proxy"):
            found[name.lower()[:-6]] = value
    if "REQUEST_METHOD" in env:
        found.pop("http", None)
    for name, value in env.items():
        if name.endswith("_proxy"):  # lower case (and mixed) last, so it wins
            if value:
                found[name.lower()[:-6]] = value
            else:
                found.pop(name.lower()[:-6], None)
    return found


def bypasses(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` sends ``host:port`` direct.

    Entries are comma-separated: ``*`` (everything); an IPv4 network in CIDR form (``10.0.0.0/8``) or an exact
    address, for a host that is an address; a domain (``example.com``, ``.example.com``, ``*.example.com``), which
    matches it and every name under it; any entry with ``:port`` only for that port.
    """
    host = host.strip("[]").rstrip(".").lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        name, _, wanted_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if not name or (wanted_port and wanted_port != str(port)):
            continue
        if name == "*" or _matches(host, name.strip("[]")):
            return True
    return False


def _has_port(entry: str) -> bool:
    """``host:443`` or ``[::1]:443``; a bare IPv6 address (``::1``) has colons and no port."""
    head, colon, tail = entry.rpartition(":")
    return bool(colon) and tail.isdigit() and (head.endswith("]") or ":" not in head)


def _matches(host: str, name: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        domain = name.removeprefix("*").lstrip(".")
        return bool(domain) and (host == domain or host.endswith("." + domain))
    try:
        return address in ipaddress.ip_network(name, strict=False)
    except ValueError:
        return False


def proxy_for(url: str, env: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL to reach ``url`` through, or ``None`` for a direct connection.

    ``wss://`` and ``ws://`` use the ``https`` and ``http`` proxies (``HTTPS_PROXY``, ``HTTP_PROXY``), then
    ``ALL_PROXY``; ``NO_PROXY`` is :func:`bypasses`. ``env`` defaults to this process's environment. Give the proxy
    as an ``http://`` URL: aiohttp, urllib and requests all speak plain HTTP to it (``CONNECT`` for TLS targets).
    """
    proxies = environment_proxies(os.environ if env is None else env)
    parts = urlsplit(url)
    scheme = _SCHEME_OF.get(parts.scheme.lower(), parts.scheme.lower())
    if not parts.hostname:
        return None
    port = parts.port or _DEFAULT_PORT.get(scheme, 0)
    if bypasses(parts.hostname, port, proxies.get("no", "")):
        return None
    return proxies.get(scheme) or proxies.get("all")


def proxy_passwords(env: Mapping[str, str] | None = None) -> list[str]:
    """The passwords in the proxy variables (``http://user:password@proxy:3128``): a connection error names its
    proxy URL, so the log's secret filter must know them."""
    env = os.environ if env is None else env
    found = []
    for name, value in env.items():
        if name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value:
            try:
                password = urlsplit(value.strip()).password
            except ValueError:
                continue
            if password:
                found.append(password)
    return found
