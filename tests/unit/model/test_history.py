"""A history entry: what it keeps of a backup, its compact stored form, and how a later observation updates it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.model.backup import Backup, backups_from_list
from bot.model.history import ON_DEMAND, SCHEDULED, HistoryEntry
from tests.harness import FIXTURES

LIST_2108 = backups_from_list(json.loads((FIXTURES / "backups_list_2108_partial.json").read_text()))


@pytest.mark.parametrize("backup", LIST_2108, ids=lambda b: b.status + b.backup_id[:4])
def test_an_entry_keeps_what_a_report_and_a_recovery_need(backup: Backup) -> None:
    entry = HistoryEntry.from_backup(backup, seen_at=1_700_000_000.0)
    assert entry.backup_id == backup.backup_id and entry.status == backup.status
    assert backup.created is not None and entry.created == round(backup.created.timestamp(), 3)
    assert entry.kind == (SCHEDULED if backup.is_automatic else ON_DEMAND)
    assert (entry.stamp_version, entry.oem_version) == ("1.2108.0.32", "2.2.2008.4")
    assert (entry.is_cloud_recovery_ready, entry.completely_uploaded) == (backup.is_cloud_recovery_ready, True)
    assert entry.encryption_cert_thumbprint == backup.encryption_cert_thumbprint
    assert entry.backup_data_version == "1.1.0"
    assert list(entry.failed_roles) == backup.failed_roles
    assert entry.duration_seconds == backup.duration_seconds
    assert HistoryEntry.from_json(entry.backup_id, entry.to_json()) == entry
    shown = entry.as_backup()
    assert (shown.backup_id, shown.status, shown.is_automatic, shown.failed_roles) == (
        backup.backup_id,
        backup.status,
        backup.is_automatic,
        backup.failed_roles,
    )
    assert shown.created is not None and abs(shown.created.timestamp() - backup.created.timestamp()) < 0.001


def test_the_stored_form_is_compact() -> None:
    succeeded = next(b for b in LIST_2108 if b.status == "Succeeded")
    text = HistoryEntry.from_backup(succeeded, 1_700_000_000.0).to_json()
    assert len(text) < 200, text
    assert succeeded.backup_id not in text and "null" not in text


def test_an_entry_without_a_kind_or_time_round_trips() -> None:
    entry = HistoryEntry.from_backup(Backup("0f0e0d0c-0b0a-0908-0706-050403020100", "Running"), 5.0)
    assert (entry.kind, entry.created) == (None, None)
    assert HistoryEntry.from_json(entry.backup_id, entry.to_json()) == entry


RUNNING = HistoryEntry("id", "Running", 100.0, kind=ON_DEMAND, stamp_version="1.2108.0.32", first_seen=10.0)


def test_a_finished_observation_completes_a_running_entry() -> None:
    done = HistoryEntry("id", "Succeeded", 100.0, duration_seconds=246.0, is_cloud_recovery_ready=True, first_seen=20.0)
    merged = RUNNING.merged_with(done)
    assert (merged.status, merged.duration_seconds, merged.is_cloud_recovery_ready) == ("Succeeded", 246.0, True)
    assert (merged.kind, merged.stamp_version, merged.first_seen) == (ON_DEMAND, "1.2108.0.32", 10.0)


def test_a_stale_running_observation_never_undoes_a_finished_one() -> None:
    done = replace(RUNNING, status="Succeeded", duration_seconds=246.0)
    assert done.merged_with(replace(RUNNING, first_seen=30.0)) == done


def test_seeing_the_same_backup_again_changes_nothing() -> None:
    for backup in LIST_2108:
        first = HistoryEntry.from_backup(backup, 1.0)
        assert first.merged_with(HistoryEntry.from_backup(backup, 2.0)) == first


def test_failed_roles_follow_the_outcome() -> None:
    partial = replace(RUNNING, status="PartialSucceeded", failed_roles=("SRP",))
    assert partial.merged_with(replace(partial, failed_roles=())).failed_roles == ("SRP",)  # a list without roles
    retried = partial.merged_with(replace(RUNNING, status="Succeeded"))
    assert retried.failed_roles == ()


def test_created_in_the_entry_is_utc() -> None:
    entry = HistoryEntry("id", "Succeeded", datetime(2021, 10, 31, 13, 17, 57, tzinfo=UTC).timestamp())
    assert entry.created_at == datetime(2021, 10, 31, 13, 17, 57, tzinfo=UTC)
