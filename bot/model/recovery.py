"""Cloud-recovery readiness: which backup a redeployed stamp would be recovered from, and what is missing.

Pure: a function of what the stamp said (backup location, backup list, update location) and the time, so
``/azs backup dr`` and App Home can answer from the snapshot and the rules are tested in a table.

The rules, with their sources (the facts file for issue 19, part B):

* a backup qualifies when ``status`` is ``Succeeded``, ``isCloudRecoveryReady`` is true and
  ``completelyUploaded`` is not false (absent on 1809; its meaning is undocumented). ``Succeeded`` alone is not
  enough: every ``Succeeded`` backup of the recorded 2002 list says ``isCloudRecoveryReady: false``;
* "restore isn't supported if the version of the redeployed instance is more than one version greater than
  the version used in the last backup" (azure-stack-backup-recover-data.md), read as one release
  (:class:`bot.model.update.Release`);
* recovery needs the share path, the backup id and the private key of the certificate whose thumbprint the
  backup names. After a certificate change, old backups keep the old key: it must be kept until the last
  backup made with it is deleted, at ``createdDateTime`` + the retention days (an inference from the docs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.model.backup import Backup, Outcome
from bot.model.location import BackupLocation
from bot.model.update import UpdateLocation, Verdict, VersionCheck, compare_versions

MAX_RETENTION_DAYS = 14
"""The longest retention a stamp allows (2 to 14 days): assumed when the location's is unknown, so a key is
never said to be free before its backups can be gone."""


class Gap(StrEnum):
    """Something missing or worth knowing about the stamp's cloud recovery."""

    NO_BACKUPS = "no_backups"
    """The stamp lists no backup at all."""
    NONE_SUCCEEDED = "none_succeeded"
    """No backup in the list succeeded."""
    NOT_RECOVERY_READY = "not_recovery_ready"
    """Backups succeeded, but none says ``isCloudRecoveryReady: true``."""
    NOT_COMPLETELY_UPLOADED = "not_completely_uploaded"
    """The recovery-ready backups say ``completelyUploaded: false``."""
    VERSION_TOO_OLD = "version_too_old"
    """The recovery-ready backups are more than one release older than the stamp."""
    VERSION_UNKNOWN = "version_unknown"
    """The backup's or the stamp's version cannot be compared, so support cannot be confirmed."""
    VERSION_BEHIND = "version_behind"
    """Usable, but one release older than the stamp: the next update makes it too old."""
    THUMBPRINT_CHANGED = "thumbprint_changed"
    """Backups on the stamp were made with an older certificate: its private key is still needed."""
    NO_TARGET = "no_target"
    """The backup location (the share path or blob container) is not known."""

    @property
    def blocking(self) -> bool:
        """Whether this gap alone means the stamp is not recoverable from its backups as they stand."""
        return self in _BLOCKING


_BLOCKING = frozenset(
    {
        Gap.NO_BACKUPS,
        Gap.NONE_SUCCEEDED,
        Gap.NOT_RECOVERY_READY,
        Gap.NOT_COMPLETELY_UPLOADED,
        Gap.VERSION_TOO_OLD,
        Gap.VERSION_UNKNOWN,
    }
)


class VersionSource(StrEnum):
    """Where the stamp's own version came from."""

    UPDATE_LOCATION = "update location"
    NEWEST_BACKUP = "newest backup"
    """The update location could not be read (e.g. no permission): the newest backup's ``stampVersion``."""
    NONE = "none"


@dataclass(frozen=True)
class KeepKey:
    """An older certificate whose private key recovery still needs, and until when."""

    thumbprint: str
    last_backup_id: str
    last_created: datetime
    keep_until: datetime
    """The last backup made with it is deleted then (its ``createdDateTime`` + the retention days)."""


@dataclass(frozen=True)
class Readiness:
    """The answer to "can this stamp be recovered, from what, and what is missing"."""

    ready: bool
    backup: Backup | None
    """The newest backup usable for cloud recovery (or, when none is, the newest recovery-ready one whose
    version cannot be confirmed)."""
    version: VersionCheck | None
    """``backup``'s version against the stamp's."""
    stamp_version: str | None
    version_source: VersionSource
    share_path: str | None
    """Where the backups are: the share path, or the blob container URL."""
    current_thumbprint: str | None
    """The certificate new backups are encrypted with (the backup location's)."""
    keep_keys: tuple[KeepKey, ...]
    gaps: tuple[Gap, ...]
    retention_days: int
    """The retention the keep dates use (the location's, else :data:`MAX_RETENTION_DAYS`)."""
    checked_at: datetime

    @property
    def thumbprint(self) -> str | None:
        """The certificate whose private key recovery from :attr:`backup` needs."""
        return self.backup.encryption_cert_thumbprint if self.backup else None


def recovery_ready(backup: Backup) -> bool:
    """The backup's own fields allow cloud recovery (the version is checked apart)."""
    return (
        backup.outcome is Outcome.SUCCEEDED
        and backup.is_cloud_recovery_ready is True
        and backup.completely_uploaded is not False
    )


def readiness(
    location: BackupLocation | None,
    backups: Sequence[Backup],
    update: UpdateLocation | None,
    now: datetime,
    *,
    seen_versions: Iterable[str] = (),
) -> Readiness:
    """Decide readiness. ``seen_versions``: other versions the stamp ran (from the history), which reveal a
    release between a backup's and the stamp's."""
    newest_first = _newest_first(backups)
    stamp_version, source = _stamp_version(update, newest_first)
    seen = [*(b.stamp_version for b in newest_first if b.stamp_version), *seen_versions]
    checked = [(b, compare_versions(b.stamp_version, stamp_version, seen)) for b in newest_first if recovery_ready(b)]
    chosen, check = _choose(checked)
    retention, current, target = _store_facts(location)
    keep = _keep_keys(newest_first, current, retention, now)
    return Readiness(
        ready=check is not None and check.supported is True,
        backup=chosen,
        version=check,
        stamp_version=stamp_version,
        version_source=source,
        share_path=target,
        current_thumbprint=current,
        keep_keys=keep,
        gaps=_gaps(newest_first, checked, check, keep, target),
        retention_days=retention,
        checked_at=now,
    )


def _store_facts(location: BackupLocation | None) -> tuple[int, str | None, str | None]:
    """(retention days, current thumbprint, target) of the location; when it is unknown, the longest retention."""
    if location is None:
        return MAX_RETENTION_DAYS, None, None
    return location.retention_days or MAX_RETENTION_DAYS, location.encryption_cert_thumbprint, location.target


def _choose(checked: list[tuple[Backup, VersionCheck]]) -> tuple[Backup | None, VersionCheck | None]:
    """The newest recovery-ready backup whose version is supported; else the newest one whose support is
    unknown (shown, not called ready); else none (all too old)."""
    for wanted in (True, None):
        for backup, check in checked:
            if check.supported is wanted:
                return backup, check
    return None, None


def _newest_first(backups: Sequence[Backup]) -> list[Backup]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(backups, key=lambda b: b.created or oldest, reverse=True)


def _stamp_version(update: UpdateLocation | None, newest_first: list[Backup]) -> tuple[str | None, VersionSource]:
    if update is not None and update.current_version:
        return update.current_version, VersionSource.UPDATE_LOCATION
    latest = next((b.stamp_version for b in newest_first if b.stamp_version), None)
    return latest, VersionSource.NEWEST_BACKUP if latest else VersionSource.NONE


def _keep_keys(newest_first: list[Backup], current: str | None, retention: int, now: datetime) -> tuple[KeepKey, ...]:
    """Each certificate other than the current one that a backup still on the stamp was made with (one that
    holds data: succeeded or partly), with when its last such backup ages out; newest first."""
    keys: dict[str, KeepKey] = {}
    for backup in newest_first:
        thumbprint, created = backup.encryption_cert_thumbprint, backup.created
        if not thumbprint or created is None or backup.outcome not in (Outcome.SUCCEEDED, Outcome.PARTIAL):
            continue
        if (current and thumbprint.upper() == current.upper()) or thumbprint.upper() in keys:
            continue
        until = created + timedelta(days=retention)
        if until > now:
            keys[thumbprint.upper()] = KeepKey(thumbprint, backup.backup_id, created, until)
    return tuple(keys.values())


def _gaps(
    newest_first: list[Backup],
    checked: list[tuple[Backup, VersionCheck]],
    chosen: VersionCheck | None,
    keep: tuple[KeepKey, ...],
    target: str | None,
) -> tuple[Gap, ...]:
    gaps = [_why_none(newest_first, checked)] if chosen is None else _version_gaps(chosen)
    if keep:
        gaps.append(Gap.THUMBPRINT_CHANGED)
    if not target:
        gaps.append(Gap.NO_TARGET)
    return tuple(gaps)


def _why_none(newest_first: list[Backup], checked: list[tuple[Backup, VersionCheck]]) -> Gap:
    """The first thing missing, in the order an operator would fix it."""
    if not newest_first:
        return Gap.NO_BACKUPS
    succeeded = [b for b in newest_first if b.outcome is Outcome.SUCCEEDED]
    if not succeeded:
        return Gap.NONE_SUCCEEDED
    if checked:
        return Gap.VERSION_TOO_OLD  # recovery-ready ones exist, and every one is too old
    if any(b.is_cloud_recovery_ready is True for b in succeeded):
        return Gap.NOT_COMPLETELY_UPLOADED
    return Gap.NOT_RECOVERY_READY


def _version_gaps(check: VersionCheck) -> list[Gap]:
    if check.supported is None:
        return [Gap.VERSION_UNKNOWN]
    return [Gap.VERSION_BEHIND] if check.verdict is Verdict.PREVIOUS else []
