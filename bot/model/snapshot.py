"""What the bot last read from one stamp, so many readers answer without asking the stamp themselves.

One reader (the worker's refresher) asks the stamp and writes a :class:`StampSnapshot`; commands and App Home
read it with its age. Each part (backup location, backup list, update location) carries when it was read, so
a stamp that stops answering keeps what it said last, and the last error is kept with its time. Pure data and
its JSON form; :mod:`bot.state.snapshots` stores it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.model.update import UpdateLocation

PARTS = ("location", "backups", "update")
"""The parts of a snapshot, each read with its own request."""


@dataclass(frozen=True)
class StampSnapshot:
    """One stamp as last read. Times are epoch seconds; a part never read has ``None``."""

    location: BackupLocation | None = None
    location_read_at: float | None = None
    backups: tuple[Backup, ...] = ()
    backups_read_at: float | None = None
    update: UpdateLocation | None = None
    update_read_at: float | None = None
    update_denied: str | None = None
    """Why the update location is not read (the service principal lacks permission): a standing condition,
    said once, so it does not make the snapshot stale on every refresh."""
    error: str | None = None
    """The last error reading any part (an operator-safe :class:`bot.stamp.errors.StampError` text)."""
    error_code: str | None = None
    error_part: str | None = None
    error_at: float | None = None

    @property
    def read_at(self) -> float | None:
        """When the oldest part held was read: the snapshot is as old as that part."""
        times = [at for at in (self.location_read_at, self.backups_read_at, self.update_read_at) if at is not None]
        return min(times) if times else None

    def age(self, now: float) -> float | None:
        read = self.read_at
        return None if read is None else max(0.0, now - read)

    def is_stale(self, now: float, stale_after: float) -> bool:
        """Nothing read yet, older than ``stale_after`` seconds, or a read failed after the oldest part held."""
        read = self.read_at
        if read is None or now - read > stale_after:
            return True
        return self.error_at is not None and self.error_at > read

    def with_location(self, location: BackupLocation, at: float) -> StampSnapshot:
        return replace(self, location=location, location_read_at=at)

    def with_backups(self, backups: list[Backup] | tuple[Backup, ...], at: float) -> StampSnapshot:
        return replace(self, backups=tuple(backups), backups_read_at=at)

    def with_update(self, update: UpdateLocation, at: float) -> StampSnapshot:
        return replace(self, update=update, update_read_at=at, update_denied=None)

    def with_update_denied(self, why: str) -> StampSnapshot:
        """The update location may not be read: what was read before is dropped (it would only grow older)."""
        return replace(self, update=None, update_read_at=None, update_denied=why)

    def with_error(self, part: str, message: str, at: float, code: str | None = None) -> StampSnapshot:
        """A failed read of ``part``: everything read before stays, and the error is kept with its time."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        return replace(self, error=message, error_code=code, error_part=part, error_at=at)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "location": self.location.to_dict() if self.location else None,
            "location_read_at": self.location_read_at,
            "backups": [b.to_dict() for b in self.backups],
            "backups_read_at": self.backups_read_at,
            "update": self.update.to_dict() if self.update else None,
            "update_read_at": self.update_read_at,
            "update_denied": self.update_denied,
            "error": self.error,
            "error_code": self.error_code,
            "error_part": self.error_part,
            "error_at": self.error_at,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StampSnapshot:
        data: dict[str, Any] = json.loads(text)
        location, update = data.get("location"), data.get("update")
        return cls(
            location=BackupLocation.from_dict(location) if isinstance(location, dict) else None,
            location_read_at=_time(data.get("location_read_at")),
            backups=tuple(Backup.from_dict(b) for b in data.get("backups") or [] if isinstance(b, dict)),
            backups_read_at=_time(data.get("backups_read_at")),
            update=UpdateLocation.from_dict(update) if isinstance(update, dict) else None,
            update_read_at=_time(data.get("update_read_at")),
            update_denied=_text(data.get("update_denied")),
            error=_text(data.get("error")),
            error_code=_text(data.get("error_code")),
            error_part=_text(data.get("error_part")),
            error_at=_time(data.get("error_at")),
        )


@dataclass(frozen=True)
class SnapshotView:
    """A snapshot as a reader gets it: with how old it is and whether to say it is stale."""

    snapshot: StampSnapshot
    age: float | None
    """Seconds since the oldest part held was read; ``None`` if nothing was ever read."""
    stale: bool


@dataclass(frozen=True)
class CapacitySample:
    """``availableCapacity`` at one time: the stamp's text (``"1.00 TB"``) and its bytes (``None`` if unreadable)."""

    at: float
    text: str
    available_bytes: int | None


@dataclass(frozen=True)
class ConfigChange:
    """The backup configuration as first seen with these values (``changed``: what differs from before)."""

    at: float
    values: dict[str, str | None] = field(default_factory=dict)
    changed: tuple[str, ...] = ()


def _time(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None
