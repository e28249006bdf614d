"""The stamp's resources as plain data, parsed leniently from ARM JSON.

Real stamps return nulls, strings where integers belong and fields no swagger mentions, so every
parser here accepts any JSON value and falls back to ``None`` rather than raising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

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


_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def text_or_none(value: Any) -> str | None:
    """A JSON scalar as stripped text; ``None`` for null, empty text, objects and lists."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


_str = text_or_none


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_time(value: Any) -> datetime | None:
    """Parse ARM timestamps such as ``2018-09-13T10:34:00.7672796Z`` (7 fractional digits)."""
    text = _str(value)
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
    """Seconds in an ISO-8601 duration such as ``PT21M15.0081024S``; ``None`` if unreadable."""
    text = _str(value)
    if text is None or text in ("P", "PT"):
        return None
    match = _DURATION.match(text.upper())
    if not match:
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )


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


_CAPACITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)B?\s*$", re.IGNORECASE)


def parse_capacity(value: Any) -> int | None:
    """Bytes in ``availableCapacity`` display text (``"29.6 TB"``, ``"979 GB"``, ``"10GB"``)."""
    match = _CAPACITY.match(_str(value) or "")
    if not match:
        return None
    number, unit = match.groups()
    return int(float(number) * 1024 ** "BKMGTP".index((unit or "B").upper()))


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
            time_taken_seconds=data.get("time_taken_seconds"),
            time_taken_raw=data.get("time_taken_raw"),
            stamp_version=data.get("stamp_version"),
            oem_version=data.get("oem_version"),
            is_automatic=data.get("is_automatic"),
            is_cloud_recovery_ready=data.get("is_cloud_recovery_ready"),
            encryption_cert_thumbprint=data.get("encryption_cert_thumbprint"),
            roles=tuple(RoleStatus(str(r), str(s)) for r, s in data.get("roles") or []),
            size_kb=data.get("size_kb"),
            measured_seconds=data.get("measured_seconds"),
            completely_uploaded=_bool(data.get("completely_uploaded")),
            backup_data_version=_str(data.get("backup_data_version")),
        )

    @classmethod
    def from_json(cls, body: Any) -> Backup | None:
        """Build from a Backup resource (or an async-operation body carrying one); ``None`` if absent."""
        doc = _dict(body)
        info = _dict(_dict(doc.get("properties")).get("backupInfo"))
        if not info:
            return None
        backup_id = _str(info.get("backupId")) or backup_id_from(_str(doc.get("name")) or _str(doc.get("id")) or "")
        if not backup_id:
            return None
        raw_taken = _str(info.get("timeTakenToCreate"))
        return cls(
            backup_id=backup_id,
            status=_str(info.get("status")) or "Unknown",
            created=parse_time(info.get("createdDateTime")),
            time_taken_seconds=parse_duration(raw_taken),
            time_taken_raw=raw_taken,
            stamp_version=_str(info.get("stampVersion")),
            oem_version=_str(info.get("oemVersion")),
            is_automatic=_bool(info.get("isAutomaticBackup")),
            is_cloud_recovery_ready=_bool(info.get("isCloudRecoveryReady")),
            encryption_cert_thumbprint=_str(info.get("encryptionCertThumbprint")),
            roles=_roles(info.get("roleStatus")),
            size_kb=_int(info.get("backupSizeInKb")) or None,
            completely_uploaded=_bool(info.get("completelyUploaded")),
            backup_data_version=_str(info.get("backupDataVersion")),
        )


def _roles(raw: Any) -> tuple[RoleStatus, ...]:
    """``roleStatus`` entries that are objects; anything else in the list is skipped."""
    return tuple(
        RoleStatus(role=_str(r.get("roleName")) or "?", status=_str(r.get("status")) or "Unknown")
        for r in (raw if isinstance(raw, list) else [])
        if isinstance(r, dict)
    )


@dataclass(frozen=True)
class BackupLocation:
    """The backup target and scheduler (``properties.externalStoreDefault``)."""

    name: str
    path: str | None
    blob_url: str | None
    user_name: str | None
    scheduler_enabled: bool | None
    frequency_hours: int | None
    retention_days: int | None
    available_capacity: str | None
    next_backup: datetime | None
    last_backup: datetime | None
    encryption_cert_thumbprint: str | None

    @property
    def is_configured(self) -> bool:
        """Target and encryption certificate both set (the "not configured" signature, §4.4)."""
        return bool(self.path or self.blob_url) and bool(self.encryption_cert_thumbprint)

    @property
    def target(self) -> str | None:
        """Where backups go: the share path, else the blob container URL (build 2108)."""
        return self.path or self.blob_url

    def config_values(self) -> dict[str, str | None]:
        """The configuration an operator reports on, as text (compared over time: only changes are kept)."""
        values: dict[str, object] = {
            "frequency_hours": self.frequency_hours,
            "retention_days": self.retention_days,
            "scheduler_enabled": self.scheduler_enabled,
            "target": self.target,
            "encryption_cert_thumbprint": self.encryption_cert_thumbprint,
        }
        return {name: _setting_text(value) for name, value in values.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form for the snapshot (the share's user name as the stamp reports it; the stamp never
        returns the password, and it is not parsed)."""
        return {
            "name": self.name,
            "path": self.path,
            "blob_url": self.blob_url,
            "user_name": self.user_name,
            "scheduler_enabled": self.scheduler_enabled,
            "frequency_hours": self.frequency_hours,
            "retention_days": self.retention_days,
            "available_capacity": self.available_capacity,
            "next_backup": self.next_backup.isoformat() if self.next_backup else None,
            "last_backup": self.last_backup.isoformat() if self.last_backup else None,
            "encryption_cert_thumbprint": self.encryption_cert_thumbprint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackupLocation:
        return cls(
            name=_str(data.get("name")) or "?",
            path=_str(data.get("path")),
            blob_url=_str(data.get("blob_url")),
            user_name=_str(data.get("user_name")),
            scheduler_enabled=_bool(data.get("scheduler_enabled")),
            frequency_hours=_int(data.get("frequency_hours")),
            retention_days=_int(data.get("retention_days")),
            available_capacity=_str(data.get("available_capacity")),
            next_backup=parse_time(data.get("next_backup")),
            last_backup=parse_time(data.get("last_backup")),
            encryption_cert_thumbprint=_str(data.get("encryption_cert_thumbprint")),
        )

    @classmethod
    def from_json(cls, body: Any) -> BackupLocation:
        doc = _dict(body)
        store = _dict(_dict(doc.get("properties")).get("externalStoreDefault"))
        return cls(
            name=_str(doc.get("name")) or "?",
            path=_str(store.get("path")),
            blob_url=_str(store.get("blobStorageUrl")),
            user_name=_str(store.get("userName")),
            scheduler_enabled=_bool(store.get("isBackupSchedulerEnabled")),
            frequency_hours=_int(store.get("backupFrequencyInHours")),
            retention_days=_int(store.get("backupRetentionPeriodInDays")),
            available_capacity=_str(store.get("availableCapacity")),
            next_backup=parse_time(store.get("nextBackupTime")),
            last_backup=parse_time(store.get("lastBackupTime")),
            encryption_cert_thumbprint=_str(store.get("encryptionCertThumbprint")),
        )


def _setting_text(value: object) -> str | None:
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def backups_from_list(body: Any) -> list[Backup]:
    """Every parseable backup of a ``Backups_List`` page, newest first (the API does not sort)."""
    values = _dict(body).get("value")
    parsed = (Backup.from_json(v) for v in (values if isinstance(values, list) else []))
    backups = [b for b in parsed if b is not None]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(backups, key=lambda b: b.created or oldest, reverse=True)


@dataclass(frozen=True)
class Preflight:
    """One reason a backup should not start now, as data: :func:`bot.words.replies.preflight_text` words it and
    escapes the stamp's values (a backup id, a status, a capacity string) in it."""

    kind: Literal["unconfigured", "running", "capacity"]
    backup_id: str = ""
    status: str = ""
    free: str = ""
    needed_kb: int = 0
    """The last backup's size when the stamp reported one; 0: the 1 GB floor."""
