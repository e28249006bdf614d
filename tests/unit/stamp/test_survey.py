"""One look at a stamp for the snapshot, against the TLS simulator: three requests, failures kept per part."""

from __future__ import annotations

import pytest

from bot.config.stamps import load_stamp
from bot.stamp.arm import ArmClient
from bot.stamp.survey import survey
from devkit.simulator import Fault, StampSimulator


def client_for(sim: StampSimulator) -> ArmClient:
    return ArmClient(load_stamp(sim.env()), max_attempts=1, max_backoff=0.1)


def arm_reads(sim: StampSimulator) -> list[str]:
    return [r.kind for r in sim.requests_log if r.kind in ("backupLocation", "backups", "updateLocation")]


def test_one_request_per_part(stamp: StampSimulator) -> None:
    client = client_for(stamp)
    assert client.region == "local"  # the scope is discovered once, before the survey
    before = len(arm_reads(stamp))
    snapshot = survey(client, None, 100.0)
    assert arm_reads(stamp)[before:] == ["backupLocation", "backups", "updateLocation"]
    assert snapshot.location is not None and snapshot.location.is_configured
    assert snapshot.backups and {b.backup_id for b in snapshot.backups} == {b.backup_id for b in client.list_backups()}
    assert snapshot.update is not None and snapshot.update.current_version == stamp.stamp_version
    assert (snapshot.location_read_at, snapshot.backups_read_at, snapshot.update_read_at) == (100.0, 100.0, 100.0)
    assert snapshot.error is None and not snapshot.is_stale(110.0, 60.0)


def test_a_failed_part_keeps_what_was_read_before(stamp: StampSimulator) -> None:
    client = client_for(stamp)
    first = survey(client, None, 100.0)
    stamp.inject(Fault(status=503, times=1, path_contains="/backups?"))
    second = survey(client, first, 200.0)
    assert second.backups == first.backups and second.backups_read_at == 100.0
    assert (second.location_read_at, second.update_read_at) == (200.0, 200.0)
    assert (second.error_part, second.error_at) == ("backups", 200.0) and "HTTP 503" in (second.error or "")
    assert second.is_stale(210.0, 600.0)  # a read failed after the oldest part held
    third = survey(client, second, 300.0)
    assert third.backups_read_at == 300.0 and not third.is_stale(310.0, 600.0)


def test_a_stamp_that_does_not_answer_is_not_asked_three_times(stamp: StampSimulator) -> None:
    client = client_for(stamp)
    first = survey(client, None, 100.0)
    before = len(stamp.requests_log)
    stamp.inject(Fault(status=0, delay=3.0, times=5))  # every ARM read outlasts the client's timeout
    client.http.timeout = 0.5
    second = survey(client, first, 200.0)
    assert len(stamp.requests_log) - before <= 1
    assert second.error_part == "location" and "did not answer" in (second.error or "")
    assert (second.location, second.backups, second.update) == (first.location, first.backups, first.update)
    assert second.is_stale(200.0, 600.0)


def test_missing_update_permission_is_a_standing_condition_not_an_error(stamp: StampSimulator) -> None:
    client = client_for(stamp)
    first = survey(client, None, 100.0)
    stamp.deny_update_read()
    try:
        denied = survey(client, first, 200.0)
        again = survey(client, denied, 300.0)
    finally:
        stamp.deny_update_read(False)
    for snapshot in (denied, again):
        assert snapshot.update is None and snapshot.error is None
        assert "Microsoft.Update.Admin/updateLocations/read" in (snapshot.update_denied or "")
        assert not snapshot.is_stale(snapshot.backups_read_at or 0.0, 60.0)
    restored = survey(client, again, 400.0)
    assert restored.update is not None and restored.update_denied is None


@pytest.mark.parametrize("part, path", [("location", "/backupLocations/local?"), ("update", "/updateLocations/")])
def test_each_part_fails_alone(stamp: StampSimulator, part: str, path: str) -> None:
    client = client_for(stamp)
    first = survey(client, None, 100.0)
    stamp.inject(Fault(status=500, times=1, path_contains=path))
    second = survey(client, first, 200.0)
    assert second.error_part == part and second.backups_read_at == 200.0
    assert getattr(second, f"{part}_read_at") == 100.0 and getattr(second, part) == getattr(first, part)
