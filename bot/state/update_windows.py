"""When updates paused each stamp's backups: one window per update, from its first pausing state until clean.

Why: the stamp skips scheduled backups by design while an update runs, so the monthly report (issue 20) shades
these windows and leaves them out of its gaps. The refresher notes every update state it reads; two workers may
note the same stamp, so each note is a check-and-set (``WATCH``) and an observation older than the last one
noted changes nothing (it would reopen a window another worker just closed). Per stamp, two keys
(:mod:`bot.state.keys`): the current state (last noted time, the open window) and a sorted set of closed
windows scored by their end, kept ``AZS_HISTORY_DAYS`` like the backup history.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis
from redis.client import Pipeline

from bot.model.update_window import UpdateWindow
from bot.state import keys

DAY = 86_400.0


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class UpdateWindowStore:
    """Note update states as they are read; list the windows during which updates paused backups."""

    def __init__(self, client: redis.Redis, *, keep_days: float = 400) -> None:
        self.redis = client
        self.keep_seconds = keep_days * DAY

    def note(self, stamp: str, paused: bool, state: str, at: float) -> UpdateWindow | None:
        """The update location read ``state`` at ``at``; ``paused``: that state pauses backups. Opens a window
        (or adds the state to the open one) while paused, closes it when not. Returns the window this note
        opened, extended or closed; ``None`` when no window is concerned or the note is older than the last."""
        current, closed = keys.update_window_current_key(stamp), keys.update_windows_key(stamp)
        touched: list[UpdateWindow] = []

        def apply(pipe: Pipeline) -> None:
            touched.clear()
            raw = pipe.get(current)
            data: dict[str, Any] = json.loads(_text(raw)) if raw is not None else {}
            if float(data.get("at") or 0.0) > at:
                return  # another worker noted a newer reading
            window = UpdateWindow.from_json(data["w"]) if data.get("w") else None
            pipe.multi()
            if paused:
                window = (window or UpdateWindow(at)).seeing(state)
                touched.append(window)
            elif window is not None:
                touched.append(window.closed(at))
                pipe.zadd(closed, {touched[0].to_json(): at})
                window = None
            pipe.set(current, json.dumps({"at": at, "w": window.to_json() if window else None}))
            pipe.zremrangebyscore(closed, "-inf", f"({at - self.keep_seconds}")
            pipe.expire(current, int(self.keep_seconds) + 1)
            pipe.expire(closed, int(self.keep_seconds) + 1)

        self.redis.transaction(apply, current, closed)
        return touched[0] if touched else None

    def current(self, stamp: str) -> UpdateWindow | None:
        """The open window: an update pauses ``stamp``'s backups since its start (as last noted)."""
        raw = self.redis.get(keys.update_window_current_key(stamp))
        data: dict[str, Any] = json.loads(_text(raw)) if raw is not None else {}
        return UpdateWindow.from_json(data["w"]) if data.get("w") else None

    def windows(self, stamp: str, since: float, until: float) -> list[UpdateWindow]:
        """Windows with any part within ``since`` .. ``until``, oldest first; the open one last (its ``end``
        is ``None``) when it started by ``until``."""
        rows = cast(list[object], self.redis.zrangebyscore(keys.update_windows_key(stamp), since, "+inf"))
        found = [w for w in (UpdateWindow.from_json(_text(r)) for r in rows) if w.overlaps(since, until)]
        found.sort(key=lambda w: w.start)
        still = self.current(stamp)
        if still is not None and still.overlaps(since, until):
            found.append(still)
        return found
