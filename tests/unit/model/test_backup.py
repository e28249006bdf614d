"""The cloud-recovery fields of every recorded backup, and skipped or unknown statuses never read as failures."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from bot.model.backup import Backup, Outcome, RoleStatus, backups_from_list, outcome_of
from bot.model.location import BackupLocation
from bot.words.mrkdwn import human_duration
from tests.harness import FIXTURES


def fixture(name: str) -> Any:
    document = json.loads((FIXTURES / name).read_text())
    return document["responses"]["200"]["body"] if "responses" in document else document


@pytest.mark.parametrize(
    ("name", "ready", "uploaded", "data_version", "thumbprints"),
    [
        # Every Succeeded backup of the 2002 list says it is not recovery-ready.
        ("backups_list_2002.json", {False}, {True}, {"1.0.1"}, {"126B334D833C9E3AA9C1429B9B2A3C7CF3215FB0"}),
        (
            "backups_list_2108_partial.json",
            {True, False},
            {True},
            {"1.1.0"},
            {
                "67DB85A6E700C72032B4C5A92357AA94022DA06E",
                "D9269CB9976D0EB0EE777D19E2FDF6A67228E562",
                "2376D9CFC85BBDEBAB29FFC1EDE614C3C9991AAD",
            },
        ),
        # The swagger example (1809) has no completelyUploaded: absent, not false.
        ("spec_backups_list.json", {True}, {None}, {"1.0.1"}, {"BDB07F879C1F1A05B74EB43AEAF5E5B5F84DCEA8"}),
    ],
)
def test_recorded_lists_carry_the_cloud_recovery_fields(
    name: str, ready: set[bool], uploaded: set[bool | None], data_version: set[str], thumbprints: set[str]
) -> None:
    backups = backups_from_list(fixture(name))
    assert {b.is_cloud_recovery_ready for b in backups} == ready
    assert {b.completely_uploaded for b in backups} == uploaded
    assert {b.backup_data_version for b in backups} == data_version
    assert {b.encryption_cert_thumbprint for b in backups} == thumbprints


@pytest.mark.parametrize(
    ("name", "thumbprint"),
    [
        ("backup_location_2002.json", "126B334D833C9E3AA9C1429B9B2A3C7CF3215FB0"),
        ("backup_location_2108_blob.json", "2376D9CFC85BBDEBAB29FFC1EDE614C3C9991AAD"),
    ],
)
def test_the_locations_thumbprint_and_target(name: str, thumbprint: str) -> None:
    location = BackupLocation.from_json(fixture(name))
    assert location.encryption_cert_thumbprint == thumbprint
    assert location.target == (location.path or location.blob_url) and location.target
    assert BackupLocation.from_dict(json.loads(json.dumps(location.to_dict()))) == location


def test_configuration_values_are_text_an_operator_reads() -> None:
    values = BackupLocation.from_json(fixture("backup_location_2108_blob.json")).config_values()
    assert values == {
        "frequency_hours": "10",
        "retention_days": "6",
        "scheduler_enabled": "false",
        "target": "https://pazsbcdrblobstore.blob.core.windows.net/211030-n42r1609-83cbfd32",
        "encryption_cert_thumbprint": "2376D9CFC85BBDEBAB29FFC1EDE614C3C9991AAD",
    }


def test_absent_fields_are_none() -> None:
    backup = Backup.from_json({"properties": {"backupInfo": {"backupId": "b", "status": "Succeeded"}}})
    assert backup is not None
    assert (backup.completely_uploaded, backup.backup_data_version, backup.is_cloud_recovery_ready) == (
        None,
        None,
        None,
    )


def test_the_new_fields_survive_the_stored_form() -> None:
    for backup in backups_from_list(fixture("backups_list_2108_partial.json")):
        assert Backup.from_dict(json.loads(json.dumps(backup.to_dict()))) == backup


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("Succeeded", Outcome.SUCCEEDED),
        ("PartialSucceeded", Outcome.PARTIAL),
        ("Failed", Outcome.FAILED),
        ("failed", Outcome.FAILED),
        ("Running", Outcome.RUNNING),
        ("Creating", Outcome.RUNNING),
        ("Queued", Outcome.RUNNING),
        ("Deleted", Outcome.DELETED),
        ("Skipped", Outcome.SKIPPED),
        ("Unknown", Outcome.SKIPPED),
        ("SomethingNew", Outcome.SKIPPED),
        ("", Outcome.SKIPPED),
        (None, Outcome.SKIPPED),
    ],
)
def test_skipped_and_unknown_statuses_are_skipped_not_failed(status: str | None, outcome: Outcome) -> None:
    assert outcome_of(status) is outcome


def test_a_skipped_role_is_not_a_failed_role() -> None:
    """The old rule (anything but Succeeded) listed a Skipped or unknown role as failed."""
    backup = Backup(
        "b",
        "PartialSucceeded",
        roles=(
            RoleStatus("NRP", "Succeeded"),
            RoleStatus("SRP", "Failed"),
            RoleStatus("CRP", "Skipped"),
            RoleStatus("ACS", "SomethingNew"),
        ),
    )
    assert backup.failed_roles == ["SRP"]
    assert Backup("s", "Skipped").outcome is Outcome.SKIPPED


def test_the_recorded_partial_backups_still_list_their_failed_roles() -> None:
    partial = [
        b for b in backups_from_list(fixture("backups_list_2108_partial.json")) if b.status == "PartialSucceeded"
    ]
    assert partial and all(len(b.failed_roles) == 22 for b in partial)


@pytest.mark.parametrize("taken", ["P" + "9" * 400 + "D", "PT" + "9" * 400 + "S", "P3660D", "P99999999D"])
def test_a_duration_of_ten_years_or_more_is_unknown_not_infinite(taken: str) -> None:
    """Hundreds of digits parsed to inf, and human_duration(inf) raised: history failed, the digest every turn."""
    body = {
        "name": "b",
        "properties": {"backupInfo": {"backupId": "b", "status": "Succeeded", "timeTakenToCreate": taken}},
    }
    backup = Backup.from_json(body)
    assert backup is not None and backup.time_taken_seconds is None and backup.time_taken_raw == taken
    assert human_duration(backup.time_taken_seconds) == "unknown"
    nine_years = Backup.from_json(
        {**body, "properties": {"backupInfo": {"backupId": "b", "timeTakenToCreate": "P3287D"}}}
    )
    assert nine_years is not None and nine_years.time_taken_seconds == 3287 * 86400


@pytest.mark.parametrize("stored", [math.inf, -math.inf, math.nan, 1e300, -5.0, True, "PT1S"])
def test_a_duration_stored_before_the_bound_reads_back_as_unknown(stored: object) -> None:
    """A history or snapshot written before the bound holds inf (JSON ``Infinity``): it must read back harmlessly."""
    restored = Backup.from_dict(
        json.loads(json.dumps({**Backup("b", "Succeeded").to_dict(), "time_taken_seconds": stored}))
    )
    assert restored.time_taken_seconds is None
    assert human_duration(restored.time_taken_seconds) == "unknown"
    kept = Backup.from_dict({**Backup("b", "Succeeded").to_dict(), "time_taken_seconds": 1275.5})
    assert kept.time_taken_seconds == 1275.5


SAS_URL = "https://store.blob.core.windows.net/backups?sv=2021-08-06&ss=b&srt=co&sp=rwdl&sig=S3cr3tSig%3D#frag"


def test_a_blob_target_keeps_no_sas_token_in_the_values_the_bot_stores_and_reports() -> None:
    """config_values() is compared, stored in Redis and printed before/after by the monthly report."""
    blob = BackupLocation.from_json(fixture("backup_location_2108_blob.json"))
    location = replace(blob, blob_url=SAS_URL)
    assert location.target == "https://store.blob.core.windows.net/backups"
    assert location.config_values()["target"] == "https://store.blob.core.windows.net/backups"
    assert not any("sig=" in (value or "") or "sv=" in (value or "") for value in location.config_values().values())
    share = replace(blob, path="\\\\10.0.0.9\\backups", blob_url=None)
    assert share.config_values()["target"] == "\\\\10.0.0.9\\backups"  # a share path is kept as the stamp says it
