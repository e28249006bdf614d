"""Per-stamp metrics: read from the durable history and the snapshots at scrape time, against a real Redis."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.config.settings import Settings
from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.model.snapshot import StampSnapshot
from bot.model.update import UpdateLocation, UpdateStates
from bot.ops.metrics import BACKUP_DURATION, BACKUP_OUTCOMES, StampCollector, record_outcome, register_stamp_metrics
from bot.state.history import HistoryStore
from bot.state.snapshots import SnapshotStore
from tests.harness import FIXTURES

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()
LOCATION = BackupLocation.from_json(json.loads((FIXTURES / "backup_location_2002.json").read_text()))
STATES = UpdateStates(Settings.update_clean_states, Settings.update_running_states, Settings.update_failed_states)
GOOD = "11111111-1111-4111-8111-111111111111"
LATER_FAILED = "22222222-2222-4222-8222-222222222222"


def backup(backup_id: str, status: str, hours_ago: float) -> Backup:
    return Backup(backup_id, status, created=datetime.fromtimestamp(NOW - hours_ago * 3600, UTC))


def scrape(client: redis.Redis, stamps: tuple[str, ...] = ("east", "west")) -> dict[tuple[str, str], float]:
    """(metric, stamp) -> value, as Prometheus would read this collector."""
    registry = CollectorRegistry()
    collector = StampCollector(
        stamps, HistoryStore(client, keep_days=400), SnapshotStore(client, stale_after=60), STATES, lambda: NOW
    )
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, sample.labels["stamp"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_newest_good_backup_per_stamp_and_nothing_made_up(store_redis: redis.Redis) -> None:
    history = HistoryStore(store_redis, keep_days=400)
    history.record("east", [backup(GOOD, "Succeeded", 30), backup(LATER_FAILED, "Failed", 2)], NOW)
    values = scrape(store_redis)
    good_at = NOW - 30 * 3600
    assert values[("azs_last_successful_backup_timestamp_seconds", "east")] == pytest.approx(good_at)
    assert values[("azs_last_successful_backup_age_seconds", "east")] == pytest.approx(30 * 3600)
    # West has no history and no snapshot: no backup time, no frequency; not in an update.
    assert ("azs_last_successful_backup_age_seconds", "west") not in values
    assert ("azs_backup_frequency_seconds", "east") not in values
    assert values[("azs_update_in_progress", "west")] == 0.0


def test_snapshot_gives_frequency_and_update_windows(store_redis: redis.Redis) -> None:
    snapshots = SnapshotStore(store_redis, stale_after=60)
    running = UpdateLocation(name="local", state="UpdateInProgress")
    snapshot = StampSnapshot().with_location(replace(LOCATION, frequency_hours=6), NOW).with_update(running, NOW)
    snapshots.write("east", snapshot)
    snapshots.write("west", StampSnapshot().with_update(replace(running, state="AppliedSuccessfully"), NOW))
    values = scrape(store_redis)
    assert values[("azs_backup_frequency_seconds", "east")] == 6 * 3600
    assert values[("azs_update_in_progress", "east")] == 1.0
    assert values[("azs_update_in_progress", "west")] == 0.0
    snapshots.write("east", snapshot.with_update(replace(running, state="NeedsAttention"), NOW))
    assert scrape(store_redis)[("azs_update_in_progress", "east")] == 1.0, "not clean: backups still paused"
    snapshots.write("east", snapshot.with_update(replace(running, state="SomethingNobodyListed"), NOW))
    assert scrape(store_redis)[("azs_update_in_progress", "east")] == 0.0, "unknown states never silence alerts"


def test_a_redis_that_does_not_answer_gives_no_value_and_no_error() -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    assert scrape(dead) == {}


def test_outcomes_and_durations_are_labelled_by_stamp_and_bounded() -> None:
    def count(status: str) -> float:
        return float(BACKUP_OUTCOMES.labels(stamp="north", status=status)._value.get())

    registry = CollectorRegistry()
    for _ in range(2):  # a second worker built in the same process replaces the first one's collector
        register_stamp_metrics(
            StampCollector(("north",), None, None, STATES),  # type: ignore[arg-type]  # never scraped here
            registry,
        )
    assert count("succeeded") == 0.0 and count("error") == 0.0, "every outcome series exists from the start"
    finished = replace(backup(GOOD, "PartialSucceeded", 0), time_taken_seconds=1500.0)
    record_outcome("north", finished, started_at=NOW - 2000, ended_at=NOW)
    record_outcome("north", backup(GOOD, "SomeNewStatus", 0), started_at=NOW - 600, ended_at=NOW)
    record_outcome("north", None, started_at=NOW - 600, ended_at=NOW)
    assert (count("partial"), count("skipped"), count("error")) == (1.0, 1.0, 1.0)
    (family,) = BACKUP_DURATION.collect()
    samples = {s.name: s.value for s in family.samples if s.labels.get("stamp") == "north"}
    assert samples["azs_backup_duration_seconds_count"] == 2.0  # no duration for one that never answered
    assert samples["azs_backup_duration_seconds_sum"] == 1500.0 + 600.0
