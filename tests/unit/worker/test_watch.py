"""The update-aware watch in process: snapshots as the refresher writes them, a real Redis, a fake Slack poster.

No stamp here: the watcher reads only the snapshot (the refresher is the one reader of each stamp), so each test
writes the snapshot and notes the update windows as the refresher would, then runs the watch's turn.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
import redis

from bot.config.settings import Settings
from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.model.snapshot import StampSnapshot
from bot.model.update import UpdateLocation, UpdateStates
from bot.state import keys
from bot.state.jobs import JobStore
from bot.state.snapshots import SnapshotStore
from bot.state.update_windows import UpdateWindowStore
from bot.state.watches import WatchStore
from bot.words.mrkdwn import Message
from bot.words.replies import START_ACTION_ID
from bot.worker.update_watch import DAY, NOTICE_CLAIM_SECONDS, NOTICE_MEMORY_SECONDS, UpdateWatch
from bot.worker.watch import Watcher
from tests.unit.fakes import FakePoster

HOUR = 3600.0
OLD, NEW = "1.2102.0.9", "1.2108.2.65"
STATES = (Settings.update_clean_states, Settings.update_running_states, Settings.update_failed_states)


def backup(backup_id: str, hours_ago: float, status: str = "Succeeded", version: str = OLD) -> Backup:
    created = datetime.fromtimestamp(time.time() - hours_ago * HOUR, UTC)
    return Backup(backup_id=backup_id, status=status, created=created, stamp_version=version)


LOCATION = BackupLocation(
    name="east",
    path=r"\\share\backups",
    blob_url=None,
    user_name="u",
    scheduler_enabled=True,
    frequency_hours=12,
    retention_days=7,
    available_capacity="1 TB",
    next_backup=None,
    last_backup=None,
    encryption_cert_thumbprint=None,
)
GOOD = "6f1c9f2e-2c7e-4a3b-9a6e-0d3b9c1f2a41"
SKIPPED = "0b8a0c1d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


@dataclass
class Rig:
    watcher: Watcher
    snapshots: SnapshotStore
    windows: UpdateWindowStore
    watches: WatchStore
    poster: FakePoster
    redis: redis.Redis

    def read(self, state: str, version: str = OLD, backups: tuple[Backup, ...] = (), denied: str | None = None) -> None:
        """What the refresher does: write the snapshot and note the update state."""
        now = time.time()
        snapshot = StampSnapshot().with_location(LOCATION, now).with_backups(backups, now)
        if denied:
            snapshot = snapshot.with_update_denied(denied)
        else:
            snapshot = snapshot.with_update(UpdateLocation("east", state, version), now)
            paused = self.watcher.updates is not None and self.watcher.updates.states.classify(state).pauses_backups
            self.windows.note("east", paused, state, now)
        self.snapshots.write("east", snapshot)

    def turn(self) -> None:
        """One watch turn (the turn key taken away first, as if the interval had passed)."""
        self.redis.delete(keys.watch_turn_key("east"))
        self.watcher.run_due()

    def said(self, channel: str, words: str) -> list[str]:
        texts = [json.dumps(p.message.blocks) for p in self.poster.posted if p.channel == channel]
        return [t for t in texts if words in t]


def make_rig(client: redis.Redis, poster: FakePoster) -> Rig:
    snapshots = SnapshotStore(client, stale_after=180.0)
    windows, watches = UpdateWindowStore(client, keep_days=30), WatchStore(client)
    states = UpdateStates(*STATES)
    watcher = Watcher(
        watches,
        JobStore(client),
        snapshots,
        ["east"],
        poster.as_slack_poster(),
        interval=300.0,
        max_age_hours=48.0,
        updates=lambda post: UpdateWatch(watches, windows, states, post, max_age_hours=48.0),
    )
    return Rig(watcher, snapshots, windows, watches, poster, client)


@pytest.fixture
def rig(store_redis: redis.Redis, poster: FakePoster) -> Rig:
    made = make_rig(store_redis, poster)
    for channel in ("CBACKUPS", "COPS"):
        made.watches.subscribe("east", channel, "all")
    return made


def test_an_update_silences_the_overdue_alarm_and_is_told_once_per_channel(rig: Rig, poster: FakePoster) -> None:
    old = (backup(GOOD, 60),)  # 60 h old, with a 12 h scheduler: overdue, were it not for the update
    rig.read("PreparationInProgress", backups=old)
    rig.turn()
    rig.read("UpdateInProgress", backups=old)
    rig.turn()
    make_rig(rig.redis, poster).turn()  # a second worker's turn
    for channel in ("CBACKUPS", "COPS"):
        assert len(rig.said(channel, "skipped by design while the update runs")) == 1
        assert rig.said(channel, "overdue for a good backup") == []
    rig.read("AppliedSuccessfully", backups=old)
    rig.turn()
    rig.turn()
    for channel in ("CBACKUPS", "COPS"):
        assert len(rig.said(channel, "is over")) == 1
        assert rig.said(channel, "overdue for a good backup") == []  # the scheduler's time runs from the update's end


def test_a_channel_that_was_not_told_of_the_update_is_not_told_it_ended(rig: Rig) -> None:
    rig.read("UpdateInProgress", backups=(backup(GOOD, 2),))
    rig.turn()
    rig.watches.subscribe("east", "CLATE", "all")
    rig.read("AppliedSuccessfully", backups=(backup(GOOD, 2),))
    rig.turn()
    assert rig.said("CLATE", "is over") == [] and len(rig.said("COPS", "is over")) == 1


def test_without_an_update_an_old_backup_is_still_overdue(rig: Rig) -> None:
    rig.read("AppliedSuccessfully", backups=(backup(GOOD, 60),))
    rig.turn()
    assert len(rig.said("CBACKUPS", "overdue for a good backup")) == 1
    assert rig.said("CBACKUPS", "skipped by design") == []


def test_a_failed_update_keeps_backups_paused(rig: Rig) -> None:
    rig.read("UpdateFailed", backups=(backup(GOOD, 60),))
    rig.turn()
    assert (
        rig.said("CBACKUPS", "overdue for a good backup") == [] and len(rig.said("CBACKUPS", "skipped by design")) == 1
    )


def test_a_new_version_without_a_backup_on_it_asks_for_one_with_the_start_button(rig: Rig) -> None:
    rig.read("AppliedSuccessfully", NEW, backups=(backup(GOOD, 5, version=OLD),))
    rig.turn()
    rig.turn()
    for channel in ("CBACKUPS", "COPS"):
        [notice] = [p for p in rig.poster.posted if p.channel == channel and NEW in json.dumps(p.message.blocks)]
        [button] = [e for b in notice.message.blocks if b["type"] == "actions" for e in b["elements"]]
        assert (button["action_id"], button["value"]) == (START_ACTION_ID, "east")
        assert "more than one version older" in json.dumps(notice.message.blocks)
    pttl = int(rig.redis.pttl(keys.watch_notice_key("east", next(iter(notice_names(rig))), "COPS")))
    assert DAY * 1000 - 60_000 < pttl <= DAY * 1000  # repeated no more than daily (2 x 12 h = 24 h)
    rig.redis.delete(*rig.redis.keys(keys.watch_notice_key("east", "*", "*")))  # as if a day had passed
    on_new = (backup(GOOD, 5, version=OLD), backup("9c2d3e4f-1a2b-4c3d-8e9f-0a1b2c3d4e5f", 1, version=NEW))
    rig.read("AppliedSuccessfully", NEW, backups=on_new)
    rig.turn()
    assert len(rig.said("COPS", NEW)) == 1  # a Succeeded backup on the new version: no more asking


def notice_names(rig: Rig) -> list[str]:
    prefix = keys.watch_notice_key("east", "", "")[: -len("::")]
    return sorted({str(k).removeprefix(prefix + ":").rsplit(":", 1)[0] for k in rig.redis.keys(prefix + ":*")})


def test_the_repeat_is_twice_the_frequency_and_at_least_a_day(rig: Rig) -> None:
    updates = rig.watcher.updates
    assert updates is not None
    snapshot = StampSnapshot().with_location(LOCATION, 1.0)
    assert updates._repeat_after(snapshot) == DAY
    assert updates._repeat_after(snapshot.with_location(replace(LOCATION, frequency_hours=20), 1.0)) == 40 * HOUR
    assert updates._repeat_after(StampSnapshot()) == 48 * HOUR  # no scheduler known: the overdue setting


def test_missing_update_permission_is_said_once_per_channel(rig: Rig) -> None:
    why = "read the update location: the service principal lacks permission; it needs X [HTTP 403]"
    for _ in range(3):
        rig.read("", backups=(backup(GOOD, 2),), denied=why)
        rig.turn()
    assert [len(rig.said(c, "cannot read the update state")) for c in ("CBACKUPS", "COPS")] == [1, 1]
    rig.read("AppliedSuccessfully", backups=(backup(GOOD, 2),))
    rig.turn()
    rig.read("", backups=(backup(GOOD, 2),), denied=why)  # revoked again later: said again
    rig.turn()
    assert len(rig.said("COPS", "cannot read the update state")) == 2


def test_a_refused_notice_is_tried_again_next_turn(rig: Rig, poster: FakePoster) -> None:
    rig.read("UpdateInProgress", backups=(backup(GOOD, 2),))
    poster.fail("internal_error", times=1)
    rig.turn()
    rig.turn()
    assert [len(rig.said(c, "skipped by design")) for c in ("CBACKUPS", "COPS")] == [1, 1]


def test_a_notice_is_marked_briefly_until_posted_and_forgotten_when_its_post_raises(rig: Rig) -> None:
    """A worker killed between the mark and the post delays the notice by minutes, not by the mark's month."""
    rig.read("UpdateInProgress", backups=(backup(GOOD, 2),))
    window = rig.windows.current("east")
    assert window is not None
    key = keys.watch_notice_key("east", f"update-began:{window.start:.0f}", "COPS")
    during: list[float] = []

    def post(channel: str, _message: Message) -> bool:
        during.append(rig.redis.pttl(key) / 1000)
        if len(during) == 1:
            raise RuntimeError("killed mid-post")
        return True

    watch = UpdateWatch(rig.watches, rig.windows, UpdateStates(*STATES), post, max_age_hours=48.0)
    subs, now = [s for s in rig.watches.subscriptions("east") if s.channel == "COPS"], time.time()
    view = rig.snapshots.read("east", now)
    assert view is not None
    snapshot = view.snapshot
    with pytest.raises(RuntimeError):
        watch.check("east", snapshot, subs, now)
    assert not rig.redis.exists(key)  # forgotten: the next turn says it
    assert watch.check("east", snapshot, subs, now) and len(during) == 2
    assert 0 < during[1] <= NOTICE_CLAIM_SECONDS
    assert NOTICE_MEMORY_SECONDS - 60 < rig.redis.pttl(key) / 1000 <= NOTICE_MEMORY_SECONDS
    watch.check("east", snapshot, subs, now)
    assert len(during) == 2  # told: not again


def test_a_skipped_backup_reads_as_skipped_not_failed(rig: Rig) -> None:
    rig.read("UpdateInProgress", backups=(backup(SKIPPED, 0.0, status="Skipped"),))
    rig.turn()
    [said] = rig.said("CBACKUPS", SKIPPED)
    assert "skipped scheduled backup" in said and "not a failure" in said and ":x:" not in said


def test_nothing_is_said_before_the_first_snapshot(rig: Rig, poster: FakePoster) -> None:
    rig.turn()
    assert poster.posted == []
