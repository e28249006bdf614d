"""Cloud-recovery readiness, table-tested against every recorded backup list and each recorded session's backup."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.model.backup import Backup, backups_from_list
from bot.model.location import BackupLocation
from bot.model.recovery import MAX_RETENTION_DAYS, Gap, KeepKey, VersionSource, readiness
from bot.model.update import UpdateLocation, Verdict
from tests.harness import FIXTURES
from tests.replay import recorded_sessions

T2108 = datetime(2021, 10, 31, 13, 20, tzinfo=UTC)
"""Just after the 2108 list was read (its newest backup: 13:17:57)."""
OLD_KEY, MIDDLE_KEY, NEW_KEY = (
    "67DB85A6E700C72032B4C5A92357AA94022DA06E",
    "D9269CB9976D0EB0EE777D19E2FDF6A67228E562",
    "2376D9CFC85BBDEBAB29FFC1EDE614C3C9991AAD",
)


def fixture(name: str) -> Any:
    document = json.loads((FIXTURES / name).read_text())
    return document["responses"]["200"]["body"] if "responses" in document else document


def location(name: str) -> BackupLocation:
    return BackupLocation.from_json(fixture(name))


def backups(name: str) -> list[Backup]:
    return backups_from_list(fixture(name))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_2002_list_succeeded_but_nothing_is_recovery_ready() -> None:
    result = readiness(
        location("backup_location_2002.json"), backups("backups_list_2002.json"), None, at("2020-03-04T13:00:00")
    )
    assert not result.ready and result.backup is None
    assert result.gaps == (Gap.NOT_RECOVERY_READY,)
    assert (result.stamp_version, result.version_source) == ("1.2002.0.35", VersionSource.NEWEST_BACKUP)
    assert result.share_path == "\\\\su1fileserver\\SU1_Infrastructure_1\\BackupStore"
    assert result.keep_keys == ()  # every backup uses the location's certificate


def test_the_2108_list_three_thumbprints_in_one_day() -> None:
    update = UpdateLocation("redmond", "AppliedSuccessfully", "1.2108.0.32")
    result = readiness(
        location("backup_location_2108_blob.json"), backups("backups_list_2108_partial.json"), update, T2108
    )
    assert result.ready and result.backup is not None
    assert result.backup.backup_id == "237e5a7a-3b1d-4bf5-b1d6-f495b8d48253"  # the one Succeeded, 1 role
    assert result.version is not None and result.version.verdict is Verdict.SAME
    assert (result.stamp_version, result.version_source) == ("1.2108.0.32", VersionSource.UPDATE_LOCATION)
    assert result.thumbprint == NEW_KEY == result.current_thumbprint
    assert result.share_path == "https://pazsbcdrblobstore.blob.core.windows.net/211030-n42r1609-83cbfd32"
    # The older keys are kept until the last (partial) backup made with each is deleted: created + 6 days.
    assert result.keep_keys == (
        KeepKey(
            MIDDLE_KEY,
            "c5eeeeee-fddc-4729-af7b-bee63f94ff62",
            at("2021-10-31T11:41:06.202461"),
            at("2021-11-06T11:41:06.202461"),
        ),
        KeepKey(
            OLD_KEY,
            "09dbb597-fd9c-4e89-9bb1-673676620b21",
            at("2021-10-31T00:22:07.663504"),
            at("2021-11-06T00:22:07.663504"),
        ),
    )
    assert result.gaps == (Gap.THUMBPRINT_CHANGED,)


def test_a_key_is_free_once_its_last_backup_aged_out() -> None:
    update = UpdateLocation("redmond", "AppliedSuccessfully", "1.2108.0.32")
    listed, blob = backups("backups_list_2108_partial.json"), location("backup_location_2108_blob.json")
    between = readiness(blob, listed, update, at("2021-11-06T06:00:00"))
    assert [k.thumbprint for k in between.keep_keys] == [MIDDLE_KEY]
    after = readiness(blob, listed, update, at("2021-11-06T12:00:00"))
    assert after.keep_keys == () and after.gaps == ()


def test_an_unknown_retention_keeps_a_key_for_the_longest_the_stamp_allows() -> None:
    listed = backups("backups_list_2108_partial.json")
    blob = replace(location("backup_location_2108_blob.json"), retention_days=None)
    result = readiness(blob, listed, None, T2108)
    assert result.retention_days == MAX_RETENTION_DAYS
    assert result.keep_keys[0].keep_until == at("2021-10-31T11:41:06.202461") + timedelta(days=MAX_RETENTION_DAYS)


def test_the_swagger_list_without_completely_uploaded_is_ready() -> None:
    result = readiness(
        location("spec_backup_location_get.json"), backups("spec_backups_list.json"), None, at("2018-08-28T08:00:00")
    )
    assert result.ready and result.backup is not None and result.backup.completely_uploaded is None
    assert result.gaps == ()


@pytest.mark.parametrize("session", recorded_sessions(), ids=lambda s: s.name)
def test_each_recorded_sessions_backup(session: Any) -> None:
    """The backup each recorded createBackup session ended with, as the only one on its stamp."""
    backup = Backup.from_json(session.final_backup())
    assert backup is not None and backup.created is not None
    result = readiness(None, [backup], None, backup.created + timedelta(minutes=5))
    recovery_ready = {"1.1809.0.45": True, "1.2002.0.35": False, "1.2108.0.32": True}[session.build]
    assert result.ready is recovery_ready
    assert Gap.NO_TARGET in result.gaps  # no location was passed
    if not recovery_ready:
        assert result.gaps[0] is Gap.NOT_RECOVERY_READY


def ready_backup(backup_id: str, created: datetime, version: str = "1.2108.0.32", **changes: Any) -> Backup:
    fields: dict[str, Any] = {
        "created": created,
        "stamp_version": version,
        "is_cloud_recovery_ready": True,
        "completely_uploaded": True,
        "encryption_cert_thumbprint": NEW_KEY,
        **changes,
    }
    return Backup(backup_id, "Succeeded", **fields)


NOW = datetime(2022, 7, 1, 12, tzinfo=UTC)
STORE = replace(location("backup_location_2108_blob.json"), retention_days=7)


@pytest.mark.parametrize(
    ("listed", "stamp", "ready", "chosen", "gaps"),
    [
        ([], "1.2108.0.32", False, None, (Gap.NO_BACKUPS,)),
        ([Backup("p", "PartialSucceeded", created=NOW)], "1.2108.0.32", False, None, (Gap.NONE_SUCCEEDED,)),
        ([Backup("s", "Skipped", created=NOW)], "1.2108.0.32", False, None, (Gap.NONE_SUCCEEDED,)),
        (
            [ready_backup("u", NOW, completely_uploaded=False)],
            "1.2108.0.32",
            False,
            None,
            (Gap.NOT_COMPLETELY_UPLOADED,),
        ),
        ([ready_backup("r", NOW, is_cloud_recovery_ready=None)], "1.2108.0.32", False, None, (Gap.NOT_RECOVERY_READY,)),
        # After an update: the backup is one release behind, still supported; the next update makes it too old.
        ([ready_backup("b", NOW, "1.2108.0.32")], "1.2206.0.12", True, "b", (Gap.VERSION_BEHIND,)),
        # A newer recovery-ready backup on the current version wins over an older one.
        (
            [ready_backup("old", NOW - timedelta(days=1), "1.2108.0.32"), ready_backup("new", NOW, "1.2206.0.12")],
            "1.2206.0.12",
            True,
            "new",
            (),
        ),
        # A release seen between (an older backup on 2206) makes the 2108 backup two releases behind.
        (
            [
                ready_backup("b", NOW - timedelta(days=3), "1.2108.0.32"),
                Backup("f", "Failed", created=NOW, stamp_version="1.2206.0.12"),
            ],
            "1.2301.0.1",
            False,
            None,
            (Gap.VERSION_TOO_OLD,),
        ),
        # A newest backup that failed does not hide an older good one.
        (
            [ready_backup("g", NOW - timedelta(hours=12)), Backup("f", "Failed", created=NOW)],
            "1.2108.0.32",
            True,
            "g",
            (),
        ),
        # Versions that cannot be compared: shown, but not called ready.
        ([ready_backup("x", NOW, "9.2222.0.222")], "9.8888.0.888", False, "x", (Gap.VERSION_UNKNOWN,)),
    ],
)
def test_the_rules(listed: list[Backup], stamp: str, ready: bool, chosen: str | None, gaps: tuple[Gap, ...]) -> None:
    result = readiness(STORE, listed, UpdateLocation("local", "AppliedSuccessfully", stamp), NOW)
    assert result.ready is ready
    assert (result.backup.backup_id if result.backup else None) == chosen
    assert result.gaps == gaps
    assert any(g.blocking for g in result.gaps) is not ready  # ready exactly when nothing blocks


def test_a_recovery_backup_made_with_an_older_certificate_needs_that_key() -> None:
    older = ready_backup("b", NOW - timedelta(days=2), encryption_cert_thumbprint=OLD_KEY)
    result = readiness(STORE, [older], UpdateLocation("local", "AppliedSuccessfully", "1.2108.0.32"), NOW)
    assert result.ready and result.thumbprint == OLD_KEY != result.current_thumbprint
    assert older.created is not None
    assert [(k.thumbprint, k.keep_until) for k in result.keep_keys] == [(OLD_KEY, older.created + timedelta(days=7))]
    assert result.gaps == (Gap.THUMBPRINT_CHANGED,)


def test_thumbprints_compare_without_case() -> None:
    lower = ready_backup("b", NOW, encryption_cert_thumbprint=NEW_KEY.lower())
    assert readiness(STORE, [lower], None, NOW).keep_keys == ()


def test_the_history_reveals_a_release_in_between() -> None:
    """Past the newest published release (2506), only the versions seen tell of a release between."""
    listed = [ready_backup("b", NOW, "1.2601.0.9")]
    update = UpdateLocation("local", "AppliedSuccessfully", "1.2609.0.1")
    assert readiness(STORE, listed, update, NOW).ready
    assert not readiness(STORE, listed, update, NOW, seen_versions=["1.2605.0.12"]).ready


def test_a_backup_published_releases_older_is_too_old_though_none_was_seen() -> None:
    """1809 on a 2108 stamp: the release notes list 1811 ... 2102 between, so it is not "the previous release"."""
    listed = [ready_backup("b", NOW, "1.1809.0.45")]
    result = readiness(STORE, listed, UpdateLocation("local", "AppliedSuccessfully", "1.2108.0.32"), NOW)
    assert not result.ready and result.gaps == (Gap.VERSION_TOO_OLD,)


def test_a_gap_of_more_than_a_year_past_the_known_releases_cannot_be_confirmed() -> None:
    listed = [ready_backup("b", NOW, "1.2506.0.15")]
    result = readiness(STORE, listed, UpdateLocation("local", "AppliedSuccessfully", "1.2612.0.1"), NOW)
    assert result.version is not None and result.version.unsure_between
    assert not result.ready and Gap.VERSION_UNKNOWN in result.gaps
