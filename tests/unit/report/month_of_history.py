"""One simulated month (March 2026) of a stamp's backups, fed through the real HistoryStore and SnapshotStore,
and the figures a hand calculation gives for it (written out here, not computed by the code under test).

Backups every 12 h at 02:00 and 14:00 UTC, 30 min each, plus one on demand on the 25th, except:
- 5th 14:00 Failed (a role whose name starts like a spreadsheet formula); 10th 02:00 PartialSucceeded (NRP);
  12th 02:00 and 14:00 Failed;
- an update from the 20th 10:00 to the 21st 20:00: the stamp skips the 20th 14:00, the 21st 02:00 and 14:00;
  from the 22nd on, backups carry the new version;
- retention changed 7 -> 14 days on the 15th 09:00; the share path changed on the 16th 09:00.
History also holds 28 Feb 14:00 (the last good backup before the month) and 1 Apr 02:00 (after it).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import redis

from bot.model.backup import Backup, RoleStatus
from bot.model.location import BackupLocation
from bot.model.snapshot import StampSnapshot
from bot.state.history import HistoryStore
from bot.state.snapshots import SnapshotStore
from bot.state.update_windows import UpdateWindowStore
from tests.harness import FIXTURES

STAMP = "east"
HOUR, DAY = 3600.0, 86_400.0
OLD, NEW = "1.2602.0.10", "1.2603.0.5"
FORMULA_ROLE = '=HYPERLINK("http://x")'
NEW_PATH = "\\\\fs2\\<!here>backups"


def at(day: int, hour: float, month: int = 3) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC).replace(hour=int(hour), minute=int(hour % 1 * 60))


def ts(day: int, hour: float, month: int = 3) -> float:
    return at(day, hour, month).timestamp()


NOW = ts(2, 0, month=4)
WINDOW = (ts(20, 10), ts(21, 20))
SKIPPED = {(20, 14), (21, 2), (21, 14)}
FAILED = {(5, 14), (12, 2), (12, 14)}
PARTIAL = {(10, 2)}


def _id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def _backup(number: int, when: datetime, status: str, *, automatic: bool = True, roles: tuple[str, ...] = ()) -> Backup:
    version = NEW if when.timestamp() >= ts(22, 0) else OLD
    return Backup(
        backup_id=_id(number),
        status=status,
        created=when,
        time_taken_seconds=1800.0,
        stamp_version=version,
        is_automatic=automatic,
        is_cloud_recovery_ready=status == "Succeeded",
        roles=tuple(RoleStatus(r, "Failed") for r in roles),
    )


def march_backups() -> list[Backup]:
    backups = [_backup(1, at(28, 14, month=2), "Succeeded"), _backup(2, at(1, 2, month=4), "Succeeded")]
    number = 100
    for day in range(1, 32):
        for hour in (2, 14):
            if (day, hour) in SKIPPED:
                continue
            number += 1
            if (day, hour) in FAILED:
                roles = (FORMULA_ROLE, "KeyVault") if (day, hour) == (5, 14) else ("ACS",)
                backups.append(_backup(number, at(day, hour), "Failed", roles=roles))
            elif (day, hour) in PARTIAL:
                backups.append(_backup(number, at(day, hour), "PartialSucceeded", roles=("NRP",)))
            else:
                backups.append(_backup(number, at(day, hour), "Succeeded"))
    backups.append(_backup(999, at(25, 9.5), "Succeeded", automatic=False))
    return backups


def location() -> BackupLocation:
    base = BackupLocation.from_json(json.loads((FIXTURES / "backup_location_2002.json").read_text()))
    return replace(base, frequency_hours=12, retention_days=7, scheduler_enabled=True)


def feed(client: redis.Redis, stamp: str = STAMP) -> tuple[HistoryStore, SnapshotStore]:
    """The month recorded as the worker records it: the history in batches as lists are read, and the
    configuration as snapshots are written (first seen in February, two changes in March)."""
    history = HistoryStore(client, keep_days=400)
    backups = march_backups()
    for start in range(0, len(backups), 10):
        batch = backups[start : start + 10]
        history.record(stamp, batch, max(b.created.timestamp() for b in batch if b.created) + HOUR)
    snapshots = SnapshotStore(client, stale_after=600.0)
    first = location()
    for when, loc in (
        (ts(20, 9, month=2), first),
        (ts(15, 9), replace(first, retention_days=14)),
        (ts(16, 9), replace(first, retention_days=14, path=NEW_PATH)),
    ):
        snapshots.write(stamp, StampSnapshot().with_location(loc, when))
    return history, snapshots


def windows(client: redis.Redis, stamp: str = STAMP) -> UpdateWindowStore:
    """The update as the refresher notes it: clean before, running from the 20th 10:00, clean at the 21st 20:00."""
    store = UpdateWindowStore(client, keep_days=400)
    store.note(stamp, False, "AppliedSuccessfully", WINDOW[0] - DAY)
    store.note(stamp, True, "UpdateInProgress", WINDOW[0])
    store.note(stamp, True, "UpdateInProgress", WINDOW[0] + 6 * HOUR)
    store.note(stamp, False, "AppliedSuccessfully", WINDOW[1])
    return store
