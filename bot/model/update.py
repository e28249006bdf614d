"""The stamp's update state (``Microsoft.Update.Admin/updateLocations/{region}``) and release arithmetic.

Why the bot reads it: during an update the stamp skips scheduled backups and blocks on-demand ones, so the
watch must not call those backups overdue; and cloud recovery is not supported from a backup more than one
release older than the stamp. Parsed as leniently as :mod:`bot.model.backup`: every field may be missing
(the 2022 recording has no ``lastUpdated``) and times come with 7 fractional digits and ``Z``, with
``+00:00`` or with no offset at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.model.fields import as_dict, parse_time, text_or_none

_RELEASE = re.compile(r"^(\d+)\.(\d{4})\.(\d+)\.(\d+)$")
_OLD_SCHEME = re.compile(r"^1\.0\.(\d{6})\.(\d+)$")


@dataclass(frozen=True, order=True)
class Release:
    """One release of Azure Stack Hub, ``YYMM``: ``1.2108.0.32`` and the hotfix ``1.2108.2.65`` are both 2108.

    "One version" in Microsoft's cloud-recovery rule is read as one release, not one hotfix: the servicing
    policy calls ``1.1809.12.114`` a hotfix of 1809. That is an inference from the docs, not a documented
    definition. Builds of early 2018 used ``1.0.YYMMDD.B`` (``1.0.180302.1``), read as release ``1803``.
    """

    yymm: int

    @classmethod
    def of(cls, version: str | None) -> Release | None:
        """The release a version string belongs to; ``None`` when it is not shaped like one."""
        text = (version or "").strip()
        match = _RELEASE.match(text)
        yymm = match.group(2) if match else None
        old = _OLD_SCHEME.match(text)
        if old:
            yymm = old.group(1)[:4]
        if yymm is None or not 1 <= int(yymm[2:]) <= 12:
            return None  # e.g. the 2022 recording's synthetic 9.2222.0.222
        return cls(int(yymm))

    def __str__(self) -> str:
        return f"{self.yymm:04d}"

    def months_to(self, later: Release) -> int:
        """Months from this release to ``later`` (2108 to 2206: 10)."""
        return (later.yymm // 100 - self.yymm // 100) * 12 + later.yymm % 100 - self.yymm % 100


class Verdict(StrEnum):
    """A backup's release against the stamp's, for cloud recovery."""

    SAME = "same"
    """The same release: supported."""
    PREVIOUS = "previous"
    """Older, with no release known between the two (:data:`KNOWN_RELEASES` and the versions seen): the release
    just before, so supported (Microsoft: not supported "more than one version" back)."""
    TOO_OLD = "too_old"
    """Older, with at least one release known between: more than one release back, not supported."""
    NEWER = "newer"
    """The backup names a later release than the stamp: one of the two readings is out of date."""
    UNKNOWN = "unknown"
    """A version is missing or not shaped like ``1.YYMM.P.B``; or (``VersionCheck.unsure_between``) the two are
    more than a year apart past the newest known release, so a release may have come between unseen."""


KNOWN_RELEASES: tuple[Release, ...] = tuple(
    Release(yymm)
    for yymm in (
        *(1802, 1803, 1804, 1805, 1807, 1808, 1809, 1811),
        *(1901, 1902, 1903, 1904, 1905, 1906, 1907, 1908, 1910),
        *(2002, 2005, 2008, 2102, 2108, 2206, 2301, 2306, 2311, 2406, 2408, 2501, 2506),
    )
)
"""Every Azure Stack Hub release (full update) Microsoft has published. Source: the version list of the release
notes, MicrosoftDocs/azure-stack-docs ``azure-stack/operator/release-notes.md`` (``ms.date`` 09/22/2025: 2506,
2501 and 2408 supported, 1802-2406 archived), read 2026. Releases are applied in order (update packages are not
cumulative: azure-stack-servicing-policy.md), so a stamp ran every release between two of its versions. A
release after 2506 is unknown here: past it, only the versions the bot saw tell what came between."""
UNSURE_AFTER_MONTHS = 12
"""Two releases further apart than this, with no release known between, may have had one between."""


@dataclass(frozen=True)
class VersionCheck:
    """A backup's version against the stamp's, with the releases known between them."""

    backup_version: str | None
    stamp_version: str | None
    verdict: Verdict
    between: tuple[Release, ...] = ()
    unsure_between: bool = False
    """UNKNOWN because nothing is known between two releases more than a year apart (not a missing version)."""

    @property
    def supported(self) -> bool | None:
        """True when cloud recovery from the backup is supported, False when it is not, None if unknown."""
        return {Verdict.SAME: True, Verdict.PREVIOUS: True, Verdict.TOO_OLD: False}.get(self.verdict)


def compare_versions(
    backup_version: str | None,
    stamp_version: str | None,
    seen: Iterable[str] = (),
    known: tuple[Release, ...] = KNOWN_RELEASES,
) -> VersionCheck:
    """Apply the one-release rule: ``known`` are the published releases, ``seen`` other versions the stamp is known
    to have run (the backups' ``stampVersion``, the history); both reveal releases between the two."""
    backup, stamp = Release.of(backup_version), Release.of(stamp_version)
    if backup is None or stamp is None:
        return VersionCheck(backup_version, stamp_version, Verdict.UNKNOWN)
    if backup >= stamp:
        return VersionCheck(backup_version, stamp_version, Verdict.SAME if backup == stamp else Verdict.NEWER)
    seen_releases = {r for r in map(Release.of, seen) if r is not None}
    between = _releases_between(backup, stamp, {*known, *seen_releases})
    verdict, unsure = _older(backup, stamp, between, known)
    return VersionCheck(backup_version, stamp_version, verdict, between, unsure_between=unsure)


def _older(
    backup: Release, stamp: Release, between: tuple[Release, ...], known: tuple[Release, ...]
) -> tuple[Verdict, bool]:
    """The verdict on an older backup, and whether it is UNKNOWN for a stretch past the known releases."""
    if between:
        return Verdict.TOO_OLD, False
    if known and stamp > max(known) and backup.months_to(stamp) > UNSURE_AFTER_MONTHS:
        return Verdict.UNKNOWN, True
    return Verdict.PREVIOUS, False


def _releases_between(older: Release, newer: Release, releases: set[Release]) -> tuple[Release, ...]:
    return tuple(sorted(r for r in releases if older < r < newer))


class UpdateClass(StrEnum):
    """What an update location ``state`` means for backups."""

    CLEAN = "clean"
    """No update runs: backups are expected, the overdue alarm applies."""
    RUNNING = "running"
    """An update is preparing or running: the stamp skips scheduled backups and blocks on-demand ones."""
    FAILED = "failed"
    """An update failed or needs attention: not clean, so backups count as paused until it is."""
    UNKNOWN = "unknown"
    """A state in none of the lists (the enum is open: ``modelAsString``), or none at all."""

    @property
    def pauses_backups(self) -> bool:
        """Whether missing backups are expected. An unknown state does not pause: silencing the overdue alarm
        on a state nobody listed would hide the very gap the alarm exists for."""
        return self in (UpdateClass.RUNNING, UpdateClass.FAILED)


@dataclass(frozen=True)
class UpdateStates:
    """Which ``state`` values fall in which class; from the settings (``AZS_UPDATE_*_STATES``), because only
    ``AppliedSuccessfully`` and ``UpdateFailed`` were ever seen on the wire. Compared case-insensitively."""

    clean: tuple[str, ...]
    running: tuple[str, ...]
    failed: tuple[str, ...]

    def classify(self, state: str | None) -> UpdateClass:
        key = (state or "").strip().lower()
        for states, kind in ((self.clean, UpdateClass.CLEAN), (self.running, UpdateClass.RUNNING)):
            if key in (s.lower() for s in states):
                return kind
        if key in (s.lower() for s in self.failed):
            return UpdateClass.FAILED
        return UpdateClass.UNKNOWN


@dataclass(frozen=True)
class UpdateLocation:
    """The stamp's update location: its state, installed versions and when it last updated and checked."""

    name: str
    state: str | None = None
    current_version: str | None = None
    current_oem_version: str | None = None
    last_updated: datetime | None = None
    last_checked: datetime | None = None

    @property
    def release(self) -> Release | None:
        return Release.of(self.current_version)

    @classmethod
    def from_json(cls, body: Any) -> UpdateLocation:
        """From an ``UpdateLocations_Get`` body (or one item of the list); any field may be absent."""
        doc = as_dict(body)
        props = as_dict(doc.get("properties"))
        return cls(
            name=text_or_none(doc.get("name")) or "?",
            state=text_or_none(props.get("state")),
            current_version=text_or_none(props.get("currentVersion")),
            current_oem_version=text_or_none(props.get("currentOemVersion")),
            last_updated=parse_time(props.get("lastUpdated")),
            last_checked=parse_time(props.get("lastChecked")),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form for the snapshot."""
        return {
            "name": self.name,
            "state": self.state,
            "current_version": self.current_version,
            "current_oem_version": self.current_oem_version,
            "last_updated": self.last_updated.isoformat() if self.last_updated else None,
            "last_checked": self.last_checked.isoformat() if self.last_checked else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UpdateLocation:
        return cls(
            name=str(data.get("name") or "?"),
            state=text_or_none(data.get("state")),
            current_version=text_or_none(data.get("current_version")),
            current_oem_version=text_or_none(data.get("current_oem_version")),
            last_updated=parse_time(data.get("last_updated")),
            last_checked=parse_time(data.get("last_checked")),
        )
