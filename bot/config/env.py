"""Reading one environment variable: required or optional, a readable file, a URL, a number within its limits.

Each reader raises :class:`SettingsError` naming the variable and what it expects, so a bad setting stops the
process at start with one line (:func:`bot.config.settings.load_settings`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from bot.config.limits import LIMITS


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


def required(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: {hint}")
    return value


def optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def optional_file(env: Mapping[str, str], name: str) -> str | None:
    """A path that must be readable when it is set."""
    path = optional(env, name)
    return readable_file(name, path) if path else None


def readable_file(name: str, path: str) -> str:
    if not os.path.isfile(path):
        raise SettingsError(f"{name} names {path!r}, which is not a readable file")
    return path


def shown_url(value: str) -> str:
    """``value`` as it may be echoed: without user name, password, query or fragment (they may hold secrets)."""
    try:
        parts = urlsplit(value)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "(an unparsable URL)"


def url_parts(name: str, value: str) -> tuple[str, str, str]:
    """(scheme, host part, path) of a URL setting; a URL that does not parse (``https://[::1``) is refused."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError:
        raise SettingsError(f"{name} is not a valid URL, got {shown_url(value)!r}") from None
    return parts.scheme, parts.netloc, parts.path


def https_url(name: str, value: str) -> str:
    scheme, netloc, _ = url_parts(name, value)
    if scheme != "https" or not netloc:
        raise SettingsError(f"{name} must be an https:// URL, got {shown_url(value)!r}")
    return value.rstrip("/")


def number(env: Mapping[str, str], name: str, default: float) -> float:
    """A number within the setting's :data:`LIMITS` (``nan`` and ``inf`` parse as floats, and are refused)."""
    raw, limit = env.get(name, "").strip(), LIMITS[name]
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and limit.low <= value <= limit.high):
        raise SettingsError(f"{name} must be {limit.words()}, got {raw[:40]!r}")
    return value


def whole(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number within the setting's :data:`LIMITS`, in ASCII digits (``int()`` takes Arabic-Indic ones)."""
    raw, limit = env.get(name, "").strip(), LIMITS[name]
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and limit.low <= int(raw) <= limit.high):
        raise SettingsError(f"{name} must be {limit.words()}, got {raw[:40]!r}")
    return int(raw)
