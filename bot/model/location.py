"""The backup location as the bot reads it (target, schedule, retention, free capacity, encryption certificate)
and the pre-flight's reasons a backup should not start now, as data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.model.fields import as_bool, as_dict, as_int, parse_time, text_or_none, without_query

_CAPACITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)B?\s*$", re.IGNORECASE)


def parse_capacity(value: Any) -> int | None:
    """Bytes in ``availableCapacity`` display text (``"29.6 TB"``, ``"979 GB"``, ``"10GB"``)."""
    match = _CAPACITY.match(text_or_none(value) or "")
    if not match:
        return None
    number, unit = match.groups()
    return int(float(number) * 1024 ** "BKMGTP".index((unit or "B").upper()))


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
        """Where backups go: the share path, else the blob container URL (build 2108) without its query: a SAS token
        there is a secret, and the target is compared, stored and reported (:meth:`config_values`, readiness)."""
        return self.path or (without_query(self.blob_url) if self.blob_url else None)

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
            name=text_or_none(data.get("name")) or "?",
            path=text_or_none(data.get("path")),
            blob_url=text_or_none(data.get("blob_url")),
            user_name=text_or_none(data.get("user_name")),
            scheduler_enabled=as_bool(data.get("scheduler_enabled")),
            frequency_hours=as_int(data.get("frequency_hours")),
            retention_days=as_int(data.get("retention_days")),
            available_capacity=text_or_none(data.get("available_capacity")),
            next_backup=parse_time(data.get("next_backup")),
            last_backup=parse_time(data.get("last_backup")),
            encryption_cert_thumbprint=text_or_none(data.get("encryption_cert_thumbprint")),
        )

    @classmethod
    def from_json(cls, body: Any) -> BackupLocation:
        doc = as_dict(body)
        store = as_dict(as_dict(doc.get("properties")).get("externalStoreDefault"))
        return cls(
            name=text_or_none(doc.get("name")) or "?",
            path=text_or_none(store.get("path")),
            blob_url=text_or_none(store.get("blobStorageUrl")),
            user_name=text_or_none(store.get("userName")),
            scheduler_enabled=as_bool(store.get("isBackupSchedulerEnabled")),
            frequency_hours=as_int(store.get("backupFrequencyInHours")),
            retention_days=as_int(store.get("backupRetentionPeriodInDays")),
            available_capacity=text_or_none(store.get("availableCapacity")),
            next_backup=parse_time(store.get("nextBackupTime")),
            last_backup=parse_time(store.get("lastBackupTime")),
            encryption_cert_thumbprint=text_or_none(store.get("encryptionCertThumbprint")),
        )


def _setting_text(value: object) -> str | None:
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Preflight:
    """One reason a backup should not start now, as data: :func:`bot.words.replies.preflight_text` words it and
    escapes the stamp's values (a backup id, a status, a capacity string) in it."""

    kind: Literal["unconfigured", "running", "capacity", "update"]
    backup_id: str = ""
    status: str = ""
    free: str = ""
    needed_kb: int = 0
    """The last backup's size when the stamp reported one; 0: the 1 GB floor."""
