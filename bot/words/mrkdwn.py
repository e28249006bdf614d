"""Slack's mrkdwn and Block Kit, made safe: the ``Message`` every renderer returns, ``escape`` (the one way outside
text enters a message), mentions, clipping to Block Kit's limits, the block helpers, and how times and durations read.

The other word modules (:mod:`bot.words.replies`, :mod:`bot.words.posts`, :mod:`bot.words.backups`,
:mod:`bot.words.home`) build their messages from these; nothing outside ``bot/words`` writes mrkdwn.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.model.fields import without_query as without_query  # where the model keeps secrets out of URLs

SECTION_TEXT_LIMIT, FIELD_TEXT_LIMIT, MAX_FIELDS, HEADER_TEXT_LIMIT = 3000, 2000, 10, 150
"""Block Kit limits (section text, each field, fields per section, header); see docs/guarantees.md."""
MAX_BLOCKS_MESSAGE, MAX_BLOCKS_HOME, MAX_TEXT = 50, 100, 4000


@dataclass(frozen=True)
class Message:
    """A Slack message: fallback ``text`` (notifications, screen readers) plus ``blocks``."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True
    """False for errors and refusals (recorded as such in the audit trail)."""
    metadata: dict[str, Any] | None = None
    """Slack message metadata: a machine-readable marker, e.g. which job a report belongs to."""

    def __post_init__(self) -> None:
        """Slack advises at most 4,000 characters of top-level text (it truncates at 40,000)."""
        object.__setattr__(self, "text", clip(self.text, MAX_TEXT) or " ")

    def as_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"text": self.text, "blocks": self.blocks}
        if self.metadata:
            kwargs["metadata"] = self.metadata
        return kwargs


_FORMATTING = "*_~"


_LOOKALIKE = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": "\u02cb"}
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,30}$")


_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_PARTIAL_TAIL = re.compile(r"(&[a-z]{0,4}|<[^<>]*|@\w*)$")  # a cut must not leave a bare "@channel"


def escape(value: object) -> str:
    """Outside text (from a stamp or a user) made inert in mrkdwn: the one way such text enters a message.

    ``& < >`` become entities, so no link, mention (``<!channel>``, ``<@U..>``, ``<#C..>``,
    ``<!subteam^..>``) or date token can form. Line breaks become spaces, so a value cannot start a
    quote (``>``, and a leading one becomes a look-alike) or a list on its own line (runs of white space
    become one space). Backticks, ``*``, ``~``, and ``_`` unless between two ASCII letters or digits
    (where Slack does not read it as italics), become look-alike characters: otherwise a value could open
    bold, italic, strike or code that runs into the bot's own text. Slack has no backslash escape, and a
    value wrapped in code could break out with its own backtick. Intra-word ``_`` stays, so share paths
    and role names copy as they are. A bare
    ``@here``/``@channel``/``@everyone`` gets an invisible word joiner after the ``@``, in case a surface
    parses names (``verbatim`` blocks and ``chat.postMessage`` without ``link_names`` do not).
    """
    text = " ".join(str(value).split())
    text = "\uff1e" + text[1:] if text.startswith(">") else text  # a value may start a line: no quote
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", _LOOKALIKE["`"])
    chars = list(text)
    for i, char in enumerate(chars):
        if char in _FORMATTING and not (
            char == "_" and 0 < i < len(chars) - 1 and _word(chars[i - 1]) and _word(chars[i + 1])
        ):
            chars[i] = _LOOKALIKE[char]
    # Last, so "@channel_" (whose "_" became a look-alike that ends the word) gets its joiner too.
    return _BROADCAST.sub("@\u2060", "".join(chars))  # a word joiner: "@here" can never be read as a mention


def _word(char: str) -> bool:
    return char.isascii() and char.isalnum()


def mention_user(user_id: str) -> str:
    """A mention of a Slack user, only when ``user_id`` looks like one; else the escaped text."""
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else escape(user_id)


def mention_channel(channel_id: str) -> str:
    """A link to a Slack channel, only when ``channel_id`` looks like one; else the escaped text."""
    return f"<#{channel_id}>" if _SLACK_ID.match(channel_id) else escape(channel_id)


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, never cutting an entity (``&amp;``) or a token (``<@U1>``) in two."""
    if len(text) <= limit:
        return text
    return _PARTIAL_TAIL.sub("", text[: limit - 1]) + "\u2026"


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    """``verbatim``: Slack must not turn bare URLs, ``#channel`` or ``@here`` in the text into live links."""
    return {"type": "mrkdwn", "text": clip(text, limit) or " ", "verbatim": True}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text, SECTION_TEXT_LIMIT)}


def fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "section", "fields": [_mrkdwn(f"*{k}*\n{v}", FIELD_TEXT_LIMIT) for k, v in pairs[:MAX_FIELDS]]}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text, SECTION_TEXT_LIMIT)]}


def when(moment: datetime | float | None) -> str:
    """An absolute UTC time an operator can paste into a ticket."""
    if moment is None or moment == 0:
        return "unknown"
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(moment: datetime | float | None, now: float | None = None) -> str:
    if moment is None or moment == 0:
        return "unknown"
    stamp = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    return human_duration(max(0.0, (now or time.time()) - stamp)) + " ago"


def human_duration(seconds: float | None) -> str:
    """``21m 15s`` style, the way an operator says it; whole seconds are enough."""
    if seconds is None:
        return "unknown"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{secs}s" if secs or not any(parts) else "")
    return " ".join(p for p in parts if p)
