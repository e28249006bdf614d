"""Reading ARM JSON tolerantly: a field that is missing, null or of another type than documented reads as
``None``, never as an exception (real stamps send all three); times and ISO 8601 durations as the stamps write them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_LONGEST_DURATION = 10 * 366 * 86400.0
"""No backup takes ten years: a longer duration (or an infinite one, hundreds of digits long) is nonsense."""


def text_or_none(value: Any) -> str | None:
    """A JSON scalar as stripped text; ``None`` for null, empty text, objects and lists."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def without_query(url: str) -> str:
    """A URL safe to show: no query string or fragment (a SAS token lives there) and no user info."""
    bare = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = bare.partition("://")
    return scheme + sep + rest.split("@", 1)[-1] if sep else bare


def text_or(value: Any, default: str) -> str:
    """:func:`text_or_none`, with ``default`` for what has no text."""
    return text_or_none(value) or default


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def objects_in(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON list; ``[]`` for anything else, and whatever else is in the list is skipped."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def parse_time(value: Any) -> datetime | None:
    """Parse ARM timestamps such as ``2018-09-13T10:34:00.7672796Z`` (7 fractional digits)."""
    text = text_or_none(value)
    if text is None:
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not match:
        return None
    base, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]
    try:
        parsed = datetime.fromisoformat(base + fraction + ("+00:00" if zone in (None, "Z") else zone))
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def parse_duration(value: Any) -> float | None:
    """Seconds in an ISO-8601 duration such as ``PT21M15.0081024S``; ``None`` if unreadable or ten years or more."""
    text = text_or_none(value)
    if text is None or text in ("P", "PT"):
        return None
    match = _DURATION.match(text.upper())
    if not match:
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    seconds = (
        parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )
    return as_duration(seconds)


def as_duration(value: Any) -> float | None:
    """A number of seconds (as stored), ``None`` unless finite, not negative and under ten years."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < _LONGEST_DURATION else None  # inf is too long; nan compares False
