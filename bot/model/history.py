"""One backup as the bot's durable history keeps it, long after the stamp deleted it (it keeps 14 days at most).

Pure data and its compact JSON form; :mod:`bot.state.history` stores it. Compact because a stamp makes up to
six backups a day and the history keeps them for ``AZS_HISTORY_DAYS`` (400 by default): short keys, times as
epoch seconds, and only what a report or a recovery needs (no role list of a successful backup, no key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.model.backup import Backup, Outcome, RoleStatus, outcome_of

ON_DEMAND, SCHEDULED = "on demand", "scheduled"


@dataclass(frozen=True)
class HistoryEntry:
    """A backup the bot saw, with what its latest observation said."""

    backup_id: str
    status: str
    created: float | None
    """Epoch seconds of ``createdDateTime`` (to the millisecond); ``None`` until the stamp reports it."""
    duration_seconds: float | None = None
    kind: str | None = None
    """:data:`ON_DEMAND`, :data:`SCHEDULED`, or ``None`` where the stamp does not say (1809)."""
    stamp_version: str | None = None
    oem_version: str | None = None
    is_cloud_recovery_ready: bool | None = None
    completely_uploaded: bool | None = None
    encryption_cert_thumbprint: str | None = None
    backup_data_version: str | None = None
    failed_roles: tuple[str, ...] = ()
    first_seen: float = 0.0
    """When the bot first saw the backup (epoch seconds)."""

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status)

    @property
    def created_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.created, UTC) if self.created is not None else None

    @classmethod
    def from_backup(cls, backup: Backup, seen_at: float) -> HistoryEntry:
        kind = None if backup.is_automatic is None else SCHEDULED if backup.is_automatic else ON_DEMAND
        return cls(
            backup_id=backup.backup_id.lower(),
            status=backup.status,
            created=round(backup.created.timestamp(), 3) if backup.created else None,
            duration_seconds=backup.duration_seconds,
            kind=kind,
            stamp_version=backup.stamp_version,
            oem_version=backup.oem_version,
            is_cloud_recovery_ready=backup.is_cloud_recovery_ready,
            completely_uploaded=backup.completely_uploaded,
            encryption_cert_thumbprint=backup.encryption_cert_thumbprint,
            backup_data_version=backup.backup_data_version,
            failed_roles=tuple(backup.failed_roles),
            first_seen=round(seen_at, 3),
        )

    def as_backup(self) -> Backup:
        """The entry as a :class:`Backup`, so the renderers that show one show this too."""
        return Backup(
            backup_id=self.backup_id,
            status=self.status,
            created=self.created_at,
            time_taken_seconds=self.duration_seconds,
            stamp_version=self.stamp_version,
            oem_version=self.oem_version,
            is_automatic=None if self.kind is None else self.kind == SCHEDULED,
            is_cloud_recovery_ready=self.is_cloud_recovery_ready,
            encryption_cert_thumbprint=self.encryption_cert_thumbprint,
            roles=tuple(RoleStatus(role, "Failed") for role in self.failed_roles),
            completely_uploaded=self.completely_uploaded,
            backup_data_version=self.backup_data_version,
        )

    def merged_with(self, newer: HistoryEntry) -> HistoryEntry:
        """This entry updated by a later observation of the same backup: what the later one says wins, what it
        leaves out stays, and a finished backup never goes back to running (a stale list read late). Seeing
        the same backup again gives an equal entry, so the store writes nothing."""
        if self.outcome is not Outcome.RUNNING and newer.outcome is Outcome.RUNNING:
            return self
        changes = {name: value for name, value in _fields(newer).items() if value is not None}
        return replace(
            self,
            **changes,
            failed_roles=newer.failed_roles or (self.failed_roles if newer.outcome is self.outcome else ()),
            first_seen=min(self.first_seen, newer.first_seen),
        )

    def to_json(self) -> str:
        """The stored form: short keys, nulls and empties left out, and no id (the store keys each entry by
        it). Times are kept to the millisecond (:meth:`from_backup` rounds them), so a re-read entry is equal."""
        data: dict[str, Any] = {short: getattr(self, name) for short, name in _SHORT.items()}
        data.update(a=None if self.kind is None else self.kind == SCHEDULED, f=list(self.failed_roles))
        return json.dumps({k: v for k, v in data.items() if v not in (None, [], "")}, separators=(",", ":"))

    @classmethod
    def from_json(cls, backup_id: str, text: str) -> HistoryEntry:
        data: dict[str, Any] = json.loads(text)
        values: dict[str, Any] = {name: data.get(short) for short, name in _SHORT.items()}
        automatic = data.get("a")
        return cls(
            **{**values, "status": str(data.get("s") or "Unknown"), "first_seen": float(data.get("fs") or 0.0)},
            backup_id=backup_id,
            kind=None if automatic is None else SCHEDULED if automatic else ON_DEMAND,
            failed_roles=tuple(str(r) for r in data.get("f") or ()),
        )


_SHORT = {
    "s": "status",
    "c": "created",
    "d": "duration_seconds",
    "v": "stamp_version",
    "o": "oem_version",
    "r": "is_cloud_recovery_ready",
    "u": "completely_uploaded",
    "t": "encryption_cert_thumbprint",
    "dv": "backup_data_version",
    "fs": "first_seen",
}
"""Stored key -> field; also ``a`` (automatic: the kind) and ``f`` (the failed roles)."""


def _fields(entry: HistoryEntry) -> dict[str, Any]:
    """The observed fields (not the bookkeeping ones) of an entry."""
    return {name: getattr(entry, name) for name in (*_SHORT.values(), "kind") if name != "first_seen"}
