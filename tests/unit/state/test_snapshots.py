"""The per-stamp snapshot in a real Redis: one writer, many readers, its age, staleness and the two series."""

from __future__ import annotations

import json
from dataclasses import replace

import redis

from bot.config.stamps import load_stamp
from bot.model.backup import backups_from_list
from bot.model.location import BackupLocation
from bot.model.snapshot import StampSnapshot
from bot.stamp.arm import ArmClient
from bot.stamp.errors import StampError
from bot.state import keys
from bot.state.snapshots import SnapshotStore
from devkit.simulator import Fault, StampSimulator
from tests.harness import FIXTURES

LOCATION = BackupLocation.from_json(json.loads((FIXTURES / "backup_location_2002.json").read_text()))
BACKUPS = backups_from_list(json.loads((FIXTURES / "backups_list_2002.json").read_text()))
HOUR = 3600.0


def snapshots(client: redis.Redis, *, samples: int = 500, spacing: float = 6 * HOUR, kept: int = 200) -> SnapshotStore:
    return SnapshotStore(
        client, stale_after=600.0, capacity_samples=samples, capacity_spacing=spacing, config_changes_kept=kept
    )


def test_nothing_before_the_first_write(store_redis: redis.Redis) -> None:
    assert snapshots(store_redis).read("east", 10.0) is None


def test_readers_get_the_snapshot_with_its_age(store_redis: redis.Redis) -> None:
    store = snapshots(store_redis)
    snapshot = StampSnapshot().with_location(LOCATION, 1000.0).with_backups(BACKUPS, 1001.0)
    store.write("east", snapshot)
    view = store.read("east", 1300.0)
    assert view is not None and view.snapshot == snapshot
    assert (view.age, view.stale) == (300.0, False)
    old = store.read("east", 1700.0)
    assert old is not None and old.stale and old.age == 700.0
    assert store.read("west", 1300.0) is None


def test_one_refresher_per_stamp_per_interval(store_redis: redis.Redis) -> None:
    store = snapshots(store_redis)
    assert [store.take_turn("east", 60.0) for _ in range(3)] == [True, False, False]
    assert store.take_turn("west", 60.0)
    assert 0 < int(store_redis.pttl(keys.snapshot_turn_key("east"))) <= 60_000


def test_a_stamp_that_stops_answering_keeps_its_last_snapshot_marked_stale(
    store_redis: redis.Redis, stamp: StampSimulator
) -> None:
    """What the second half's refresher does, by hand: read the stamp, write; the stamp fails; write the error."""
    client = ArmClient(load_stamp(stamp.env()), max_attempts=1, max_backoff=0.1)
    store = snapshots(store_redis)
    read = StampSnapshot().with_location(client.backup_location(), 100.0).with_backups(client.list_backups(), 100.0)
    read = read.with_update(client.update_location(), 100.0)
    store.write("sim", read)
    stamp.inject(Fault(status=503, times=5, path_contains="/backups"))
    try:
        client.list_backups()
    except StampError as exc:
        store.write("sim", read.with_error("backups", str(exc), 160.0, exc.code))
    view = store.read("sim", 200.0)
    assert view is not None and view.stale and view.age == 100.0
    assert view.snapshot.backups == read.backups and view.snapshot.location == read.location
    assert view.snapshot.error_part == "backups" and "HTTP 503" in (view.snapshot.error or "")
    assert view.snapshot.update is not None and view.snapshot.update.state == "AppliedSuccessfully"


def test_capacity_samples_are_spaced_and_bounded(store_redis: redis.Redis) -> None:
    store = snapshots(store_redis, samples=5, spacing=6 * HOUR)
    for hour in range(0, 60):  # a refresh every hour for 60 hours, capacity falling
        free = replace(LOCATION, available_capacity=f"{1000 - hour} GB")
        store.write("east", StampSnapshot().with_location(free, hour * HOUR))
    samples = store.capacity("east")
    assert [s.at / HOUR for s in samples] == [30.0, 36.0, 42.0, 48.0, 54.0]  # every 6 h, the last 5
    assert [s.text for s in samples] == ["970 GB", "964 GB", "958 GB", "952 GB", "946 GB"]
    assert samples[0].available_bytes == 970 * 1024**3
    assert [s.at / HOUR for s in store.capacity("east", since=45 * HOUR)] == [48.0, 54.0]


def test_a_blob_target_has_no_capacity_to_sample(store_redis: redis.Redis) -> None:
    store = snapshots(store_redis)
    store.write("east", StampSnapshot().with_location(replace(LOCATION, available_capacity=None), 1.0))
    assert store.capacity("east") == []


def test_configuration_changes_only_with_their_times(store_redis: redis.Redis) -> None:
    store = snapshots(store_redis, kept=3)
    steps = [
        (0.0, LOCATION),
        (HOUR, LOCATION),  # unchanged: nothing kept
        (2 * HOUR, replace(LOCATION, retention_days=7)),
        (3 * HOUR, replace(LOCATION, retention_days=7)),
        (4 * HOUR, replace(LOCATION, retention_days=7, encryption_cert_thumbprint="AB" * 20, scheduler_enabled=True)),
    ]
    for at, location in steps:
        store.write("east", StampSnapshot().with_location(location, at))
    changes = store.config_changes("east")
    assert [(c.at / HOUR, c.changed) for c in changes] == [
        (0.0, ("encryption_cert_thumbprint", "frequency_hours", "retention_days", "scheduler_enabled", "target")),
        (2.0, ("retention_days",)),
        (4.0, ("encryption_cert_thumbprint", "scheduler_enabled")),
    ]
    assert changes[-1].values["encryption_cert_thumbprint"] == "AB" * 20 and changes[-1].values["retention_days"] == "7"
    store.write("east", StampSnapshot().with_location(replace(LOCATION, frequency_hours=4), 5 * HOUR))
    assert [c.at / HOUR for c in store.config_changes("east")] == [2.0, 4.0, 5.0]  # bounded: the oldest goes


def test_a_snapshot_without_a_location_leaves_the_series_alone(store_redis: redis.Redis) -> None:
    store = snapshots(store_redis)
    store.write("east", StampSnapshot().with_backups(BACKUPS, 5.0))
    assert store.capacity("east") == [] and store.config_changes("east") == []


def test_a_target_kept_with_its_sas_token_reads_back_without_it(store_redis: redis.Redis) -> None:
    """Changes recorded before the model dropped the query still hold the SAS: read back bare, and the bare target
    the stamp now reports is no change (no spurious "target" entry to print the old value)."""
    store = snapshots(store_redis)
    sas = "https://store.blob.core.windows.net/backups?sv=2021-08-06&sp=rwdl&sig=S3cr3tSig%3D"
    blob = replace(LOCATION, path=None, blob_url=sas)
    old_values = {**blob.config_values(), "target": sas}  # as an older bot stored it
    store_redis.rpush(keys.config_changes_key("east"), json.dumps({"at": 0.0, "values": old_values, "changed": []}))
    assert [c.values["target"] for c in store.config_changes("east")] == ["https://store.blob.core.windows.net/backups"]
    store.write("east", StampSnapshot().with_location(blob, HOUR))
    changes = store.config_changes("east")
    assert len(changes) == 1 and "sig=" not in json.dumps([c.values for c in changes])
    store.write("east", StampSnapshot().with_location(replace(blob, retention_days=9), 2 * HOUR))
    assert store.config_changes("east")[-1].changed == ("retention_days",)
    assert "sig=" not in str(store_redis.lindex(keys.config_changes_key("east"), -1))
