"""A stamp snapshot: each part with its read time, the last error, its age and when it counts as stale."""

from __future__ import annotations

import json

import pytest

from bot.model.backup import backups_from_list
from bot.model.location import BackupLocation
from bot.model.snapshot import StampSnapshot
from bot.model.update import UpdateLocation
from tests.harness import FIXTURES

LOCATION = BackupLocation.from_json(json.loads((FIXTURES / "backup_location_2108_blob.json").read_text()))
BACKUPS = backups_from_list(json.loads((FIXTURES / "backups_list_2108_partial.json").read_text()))
UPDATE = UpdateLocation("redmond", "AppliedSuccessfully", "1.2108.0.32", "2.2.2008.4")
FULL = StampSnapshot().with_location(LOCATION, 100.0).with_backups(BACKUPS, 101.0).with_update(UPDATE, 102.0)


def test_a_snapshot_survives_its_stored_form() -> None:
    for snapshot in (StampSnapshot(), FULL, FULL.with_error("backups", "the stamp did not answer", 200.0, "Timeout")):
        assert StampSnapshot.from_json(snapshot.to_json()) == snapshot


def test_no_secret_goes_into_the_stored_form() -> None:
    """The recorded list carries no key, but a createBackup result does: it is never parsed, so never stored."""
    text = FULL.to_json()
    assert "encryptedBackupEncryptionKey" not in text and "password" not in text


def test_its_age_is_the_oldest_parts() -> None:
    assert FULL.read_at == 100.0 and FULL.age(160.0) == 60.0
    assert StampSnapshot().age(5.0) is None and StampSnapshot().is_stale(5.0, 60.0)


@pytest.mark.parametrize(
    ("snapshot", "now", "stale"),
    [
        (FULL, 150.0, False),
        (FULL, 161.0, True),  # older than stale_after (60 s)
        (FULL.with_error("update", "HTTP 500", 130.0), 140.0, True),  # a read failed since: the stamp stopped answering
        (FULL.with_error("update", "HTTP 500", 90.0), 140.0, False),  # an error before the reads held
        (FULL.with_location(LOCATION, 150.0).with_backups(BACKUPS, 150.0).with_update(UPDATE, 150.0), 200.0, False),
    ],
)
def test_stale(snapshot: StampSnapshot, now: float, stale: bool) -> None:
    assert snapshot.is_stale(now, stale_after=60.0) is stale


def test_a_failed_read_keeps_what_was_read() -> None:
    failed = FULL.with_error("backups", "list backups: the stamp did not answer (ConnectTimeout)", 300.0)
    assert failed.backups == FULL.backups and failed.location == LOCATION and failed.update == UPDATE
    assert (failed.error_part, failed.error_at) == ("backups", 300.0)
    with pytest.raises(ValueError, match="part"):
        FULL.with_error("elsewhere", "x", 1.0)


def test_a_missing_permission_is_a_standing_condition_not_an_error() -> None:
    denied = FULL.with_update_denied("it needs Microsoft.Update.Admin/updateLocations/read")
    assert denied.update is None and denied.error is None and denied.update_denied
    assert denied.read_at == 100.0 and not denied.is_stale(150.0, 60.0)
    assert denied.with_update(UPDATE, 170.0).update_denied is None
