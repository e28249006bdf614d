"""One stretch of time during which an update paused a stamp's backups (from its start until its state was clean).

Why kept: the stamp skips scheduled backups by design while an update runs, so the monthly report shades these
stretches and leaves them out of its gaps, and the watch does not call them overdue. Pure data and its compact
JSON form; :mod:`bot.state.update_windows` stores it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UpdateWindow:
    """When an update started pausing backups (epoch seconds), when the state was clean again (``None``: still
    open), and the update location states seen in between, in the order first seen."""

    start: float
    end: float | None = None
    states: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.end is None

    def overlaps(self, since: float, until: float) -> bool:
        """Whether any part of the window falls within ``since`` .. ``until`` (an open window runs on)."""
        return self.start <= until and (self.end is None or self.end >= since)

    def seeing(self, state: str) -> UpdateWindow:
        """The window with ``state`` among the states seen."""
        return self if state in self.states else UpdateWindow(self.start, self.end, (*self.states, state))

    def closed(self, at: float) -> UpdateWindow:
        return UpdateWindow(self.start, max(at, self.start), self.states)

    def to_json(self) -> str:
        return json.dumps({"s": self.start, "e": self.end, "st": list(self.states)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> UpdateWindow:
        data: dict[str, Any] = json.loads(text)
        end = data.get("e")
        return cls(
            float(data.get("s") or 0.0),
            float(end) if isinstance(end, int | float) else None,
            tuple(str(s) for s in data.get("st") or () if isinstance(s, str)),
        )
