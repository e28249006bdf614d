"""The stamp's resources as plain data, parsed leniently from ARM JSON.

Real stamps return nulls, strings where integers belong and fields no swagger mentions, so every
parser here accepts any JSON value and falls back to ``None`` rather than raising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.model.fields import (
    as_bool,
    as_dict,
    as_duration,
    as_int,
    objects_in,
    parse_duration,
    parse_time,
    text_or,
    text_or_none,
)

TERMINAL_STATUSES = frozenset({"succeeded", "partialsucceeded", "failed", "skipped", "deleted"})
"""``backupInfo.status`` values after which a backup no longer changes (API reference §4.3)."""


class Outcome(StrEnum):
    """What a ``backupInfo.status`` (or a role's status) means, for every place that words or counts one."""

    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    RUNNING = "running"
    DELETED = "deleted"
    SKIPPED = "skipped"
    """``Skipped`` (only in the 2021-09-01 preview swagger; a stamp skips scheduled backups during an update)
    and any status the bot does not know: neither is evidence of a failure."""


_OUTCOMES = {
    "succeeded": Outcome.SUCCEEDED,
    "partialsucceeded": Outcome.PARTIAL,
    "failed": Outcome.FAILED,
    "running": Outcome.RUNNING,
    "creating": Outcome.RUNNING,
    "queued": Outcome.RUNNING,
    "deleted": Outcome.DELETED,
}


def outcome_of(status: str | None) -> Outcome:
    """The outcome a status stands for; ``Skipped`` and unknown statuses are skipped, never failed."""
    return _OUTCOMES.get((status or "").strip().lower(), Outcome.SKIPPED)


def backup_id_from(value: str) -> str:
    """The GUID at the end of a resource name, id or operation URL (``region/guid``, ``.../guid?x``)."""
    return value.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_backup_id(value: str) -> bool:
    """True for a GUID: the only backup id allowed into an ARM URL, a Redis key or a message."""
    return bool(_GUID.match(value))


@dataclass(frozen=True)
class RoleStatus:
    role: str
    status: str


@dataclass(frozen=True)
class Backup:
    """One infrastructure backup (``properties.backupInfo``), the evidence an operator reports."""

    backup_id: str
    status: str
    created: datetime | None = None
    time_taken_seconds: float | None = None
    time_taken_raw: str | None = None
    stamp_version: str | None = None
    oem_version: str | None = None
    is_automatic: bool | None = None
    is_cloud_recovery_ready: bool | None = None
    encryption_cert_thumbprint: str | None = None
    roles: tuple[RoleStatus, ...] = field(default_factory=tuple)
    size_kb: int | None = None
    measured_seconds: float | None = None
    """How long the bot saw it run, kept only when the stamp reports no duration (``PT0S``)."""
    completely_uploaded: bool | None = None
    """``completelyUploaded`` (builds 2002 and 2108; absent on 1809 and in every swagger; undocumented)."""
    backup_data_version: str | None = None
    """``backupDataVersion`` (``1.0.1`` up to 2002, ``1.1.0`` on 2108)."""

    @property
    def is_terminal(self) -> bool:
        return self.status.lower() in TERMINAL_STATUSES

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status)

    @property
    def duration_seconds(self) -> float | None:
        """How long it took: the stamp's figure, else what the bot measured."""
        return self.reported_seconds or self.measured_seconds

    @property
    def reported_seconds(self) -> float | None:
        """The stamp's ``timeTakenToCreate``; ``PT0S`` (what partial and failed backups report) is no duration."""
        return self.time_taken_seconds or None

    def started_by_bot(self, measured_seconds: float) -> Backup:
        """This backup as the bot that started it knows it: on demand unless the stamp says otherwise
        (1809 omits ``isAutomaticBackup``), and timed when the stamp did not."""
        return replace(
            self,
            is_automatic=False if self.is_automatic is None else self.is_automatic,
            measured_seconds=None if self.reported_seconds else max(0.0, measured_seconds),
        )

    @property
    def failed_roles(self) -> list[str]:
        """Roles that failed; a role reported ``Skipped`` or with a status the bot does not know is not one."""
        return [r.role for r in self.roles if outcome_of(r.status) in (Outcome.FAILED, Outcome.PARTIAL)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form to keep with the job (no secrets: the backup key is never parsed)."""
        return {
            "backup_id": self.backup_id,
            "status": self.status,
            "created": self.created.isoformat() if self.created else None,
            "time_taken_seconds": self.time_taken_seconds,
            "time_taken_raw": self.time_taken_raw,
            "stamp_version": self.stamp_version,
            "oem_version": self.oem_version,
            "is_automatic": self.is_automatic,
            "is_cloud_recovery_ready": self.is_cloud_recovery_ready,
            "encryption_cert_thumbprint": self.encryption_cert_thumbprint,
            "roles": [[r.role, r.status] for r in self.roles],
            "size_kb": self.size_kb,
            "measured_seconds": self.measured_seconds,
            "completely_uploaded": self.completely_uploaded,
            "backup_data_version": self.backup_data_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Backup:
        created = data.get("created")
        return cls(
            backup_id=str(data["backup_id"]),
            status=str(data.get("status") or "Unknown"),
            created=datetime.fromisoformat(created) if isinstance(created, str) else None,
            time_taken_seconds=as_duration(data.get("time_taken_seconds")),  # stored before the bound: inf
            time_taken_raw=data.get("time_taken_raw"),
            stamp_version=data.get("stamp_version"),
            oem_version=data.get("oem_version"),
            is_automatic=data.get("is_automatic"),
            is_cloud_recovery_ready=data.get("is_cloud_recovery_ready"),
            encryption_cert_thumbprint=data.get("encryption_cert_thumbprint"),
            roles=tuple(RoleStatus(str(r), str(s)) for r, s in data.get("roles") or []),
            size_kb=data.get("size_kb"),
            measured_seconds=data.get("measured_seconds"),
            completely_uploaded=as_bool(data.get("completely_uploaded")),
            backup_data_version=text_or_none(data.get("backup_data_version")),
        )

    @classmethod
    def from_json(cls, body: Any) -> Backup | None:
        """Build from a Backup resource (or an async-operation body carrying one); ``None`` if absent."""
        doc = as_dict(body)
        info = as_dict(as_dict(doc.get("properties")).get("backupInfo"))
        if not info:
            return None
        backup_id = text_or_none(info.get("backupId")) or backup_id_from(
            text_or_none(doc.get("name")) or text_or_none(doc.get("id")) or ""
        )
        if not backup_id:
            return None
        raw_taken = text_or_none(info.get("timeTakenToCreate"))
        return cls(
            backup_id=backup_id,
            status=text_or(info.get("status"), "Unknown"),
            created=parse_time(info.get("createdDateTime")),
            time_taken_seconds=parse_duration(raw_taken),
            time_taken_raw=raw_taken,
            stamp_version=text_or_none(info.get("stampVersion")),
            oem_version=text_or_none(info.get("oemVersion")),
            is_automatic=as_bool(info.get("isAutomaticBackup")),
            is_cloud_recovery_ready=as_bool(info.get("isCloudRecoveryReady")),
            encryption_cert_thumbprint=text_or_none(info.get("encryptionCertThumbprint")),
            # ``roleStatus`` entries that are objects; anything else in the list is skipped.
            roles=tuple(
                RoleStatus(role=text_or(r.get("roleName"), "?"), status=text_or(r.get("status"), "Unknown"))
                for r in objects_in(info.get("roleStatus"))
            ),
            size_kb=as_int(info.get("backupSizeInKb")) or None,
            completely_uploaded=as_bool(info.get("completelyUploaded")),
            backup_data_version=text_or_none(info.get("backupDataVersion")),
        )


def backups_from_list(body: Any) -> list[Backup]:
    """Every parseable backup of a ``Backups_List`` page, newest first (the API does not sort)."""
    values = as_dict(body).get("value")
    parsed = (Backup.from_json(v) for v in (values if isinstance(values, list) else []))
    backups = [b for b in parsed if b is not None]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(backups, key=lambda b: b.created or oldest, reverse=True)
