"""The watch's update half: what a watched channel hears while an update pauses backups, and after it.

Read from the snapshot (the refresher is the one reader of the stamp) and the update windows it notes:

- while the update state pauses backups (:meth:`bot.model.update.UpdateClass.pauses_backups`): one notice per
  channel per update that scheduled backups are skipped by design, and the overdue alarm stays quiet;
- when the state is clean again: one notice per channel told that it began;
- after the version changed (a backup on another version exists) and until a ``Succeeded`` backup on the current
  version does: one notice per channel with the Start button, repeated once twice the backup frequency has
  passed, never more than daily;
- the update location may not be read (missing permission): said once per stamp per channel.

Each notice is marked with Redis ``SET NX`` per channel before it is posted (two workers post it once), for
:data:`NOTICE_CLAIM_SECONDS` only; the mark gets its full memory once the post went out, and is dropped when the
post fails (or raises), so the next turn tries again. A worker killed mid-post delays the notice by minutes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from bot.model.backup import Backup
from bot.model.snapshot import StampSnapshot
from bot.model.update import UpdateLocation, UpdateStates
from bot.state.update_windows import UpdateWindowStore
from bot.state.watches import Subscription, WatchStore
from bot.words import notices
from bot.words.mrkdwn import Message

DAY = 86_400.0
NOTICE_MEMORY_SECONDS = 30 * DAY
"""How long a "began"/"ended" mark is kept: longer than any update runs."""
PERMISSION_MEMORY_SECONDS = 365 * DAY
"""The missing permission is said once: the mark lasts a year, or until the update location is read again."""
DENIED = "update-denied"
NOTICE_CLAIM_SECONDS = 120.0
"""How long a notice's mark lasts before its post is known to have gone out: a killed poster's turn comes back."""

Post = Callable[[str, Message], bool]


class UpdateWatch:
    def __init__(
        self, store: WatchStore, windows: UpdateWindowStore, states: UpdateStates, post: Post, *, max_age_hours: float
    ) -> None:
        self.store, self.windows, self.states, self.post = store, windows, states, post
        self.max_age_hours = max_age_hours

    def check(self, stamp: str, snapshot: StampSnapshot, subs: Sequence[Subscription], now: float) -> bool:
        """Post what the channels are owed; True while an update pauses backups (no overdue alarm then)."""
        self._permission(stamp, snapshot, subs)
        update = snapshot.update
        if update is None:
            return False
        if self.states.classify(update.state).pauses_backups:
            window = self.windows.current(stamp)
            if window is not None:
                message = notices.update_running(stamp, update.state, window.start)
                self._once(stamp, f"update-began:{window.start:.0f}", subs, message, NOTICE_MEMORY_SECONDS)
            return True
        self._ended(stamp, update, subs, now)
        self._version(stamp, update, snapshot, subs)
        return False

    def resumed_at(self, stamp: str, now: float) -> float | None:
        """When the last update that paused backups ended (within the notice memory), for the overdue alarm."""
        ends = [w.end for w in self.windows.windows(stamp, now - NOTICE_MEMORY_SECONDS, now) if w.end is not None]
        return max(ends) if ends else None

    def _permission(self, stamp: str, snapshot: StampSnapshot, subs: Sequence[Subscription]) -> None:
        if snapshot.update_denied:
            message = notices.update_permission_missing(stamp, snapshot.update_denied)
            self._once(stamp, DENIED, subs, message, PERMISSION_MEMORY_SECONDS)
        elif snapshot.update is not None:
            self.store.forget_notice(stamp, DENIED, [s.channel for s in subs])  # granted: say it again if revoked

    def _ended(self, stamp: str, update: UpdateLocation, subs: Sequence[Subscription], now: float) -> None:
        closed = [w for w in self.windows.windows(stamp, now - NOTICE_MEMORY_SECONDS, now) if w.end is not None]
        if not closed:
            return
        last = closed[-1]
        began = f"update-began:{last.start:.0f}"
        told = [s for s in subs if self.store.notice_told(stamp, began, s.channel)]
        message = notices.update_ended(stamp, update.state, update.current_version, (last.end or now) - last.start)
        self._once(stamp, f"update-ended:{last.start:.0f}", told, message, NOTICE_MEMORY_SECONDS)

    def _version(
        self, stamp: str, update: UpdateLocation, snapshot: StampSnapshot, subs: Sequence[Subscription]
    ) -> None:
        version = update.current_version
        if version is None or not version_changed(snapshot.backups, version):
            return
        newest = max(
            (b for b in snapshot.backups if b.status.lower() == "succeeded" and b.created is not None),
            key=lambda b: b.created.timestamp() if b.created else 0.0,
            default=None,
        )
        message = notices.no_backup_on_version(stamp, version, newest, stamp)
        digest = hashlib.sha256(version.encode()).hexdigest()[:16]
        self._once(stamp, f"version:{digest}", subs, message, self._repeat_after(snapshot))

    def _repeat_after(self, snapshot: StampSnapshot) -> float:
        """Twice the backup frequency (the scheduler's, else the overdue setting), and at least a day."""
        location = snapshot.location
        hours = (
            location.frequency_hours
            if location is not None and location.scheduler_enabled and location.frequency_hours
            else self.max_age_hours / 2
        )
        return max(2 * hours * 3600, DAY)

    def _once(self, stamp: str, notice: str, subs: Sequence[Subscription], message: Message, ttl: float) -> None:
        for sub in subs:
            if not self.store.notice_due(stamp, notice, sub.channel, NOTICE_CLAIM_SECONDS):
                continue
            try:
                posted = self.post(sub.channel, message)
            except BaseException:
                self.store.forget_notice(stamp, notice, [sub.channel])
                raise
            if posted:
                self.store.keep_notice(stamp, notice, sub.channel, ttl)
            else:
                self.store.forget_notice(stamp, notice, [sub.channel])


def version_changed(backups: Sequence[Backup], version: str) -> bool:
    """No ``Succeeded`` backup on ``version`` yet, while a backup on another version shows the version changed."""
    on_version = any(b.status.lower() == "succeeded" and b.stamp_version == version for b in backups)
    other = any(b.stamp_version and b.stamp_version != version for b in backups)
    return other and not on_version
