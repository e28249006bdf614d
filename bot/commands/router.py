"""Which stamp a command is for: named in the command, else the channel's default, else the first.

Holds one :class:`BackupService` per stamp; commands about the bot itself (``/azs stamps``) are
answered here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis

from bot.commands.access import AccessPolicy, PerUserLimit
from bot.commands.backups import BackupService, guarded, record
from bot.commands.parse import Action, Command
from bot.state import audit
from bot.state.audit import AuditLog
from bot.state.jobs import JobState, JobStore
from bot.state.prefs import ChannelPrefs
from bot.words import home, posts, replies
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)

HOME_OPEN_SECONDS = 10.0
"""One App Home refresh per user per this many seconds per process; Slack keeps showing the last one."""


@dataclass
class Router:
    """Shared concerns (who may do what, the audit trail, channel preferences, the job store) are its own
    references, wired by :func:`bot.app.wire`; only stamp work goes to a :class:`BackupService`."""

    services: dict[str, BackupService]
    """By stamp name, in configuration order: the first is the default."""
    store: JobStore
    access: AccessPolicy
    audit_log: AuditLog
    prefs: ChannelPrefs
    home_opens: PerUserLimit = field(default_factory=lambda: PerUserLimit(HOME_OPEN_SECONDS))

    @property
    def first(self) -> BackupService:
        return next(iter(self.services.values()))

    @property
    def default_stamp(self) -> str:
        return self.first.stamp

    def click_outcome(self, stamp: str, job_id: str, *, too_old: bool) -> Message | None:
        """How far a dead process got with a Start click (the job is named after it); ``None``: start it now."""
        stamp = stamp or self.default_stamp
        job = self.store.get(job_id)
        if job is None:
            return replies.restarted_nothing_started(stamp) if too_old else None
        if job.state == JobState.STARTING:
            return replies.start_unknown(stamp)
        if job.state == JobState.START_FAILED:
            return replies.start_refused(stamp, job.error)
        return posts.started(job)

    def stamp_for(self, named: str | None, channel: str) -> BackupService | None:
        if named:
            return self._lookup(named)
        if len(self.services) == 1:
            return self.first  # a channel preference can only name this one: no Redis read beside the acks
        try:
            preferred = self.prefs.default_stamp(channel)
        except redis.RedisError:
            preferred = None  # the command itself will say Redis is down if it needs it
        return self._lookup(preferred) if preferred and self._lookup(preferred) else self.first

    def _lookup(self, name: str) -> BackupService | None:
        return self.services.get(name) or next((s for n, s in self.services.items() if n.lower() == name.lower()), None)

    def command(self, command: Command, user: str, channel: str) -> Message:
        if command.action in (Action.STAMPS, Action.USE_STAMP):
            return self._stamps_command(command, user, channel)
        service = self.stamp_for(command.stamp, channel)
        if service is None:
            return self._unknown_stamp(command.stamp or "", command.action.value, user, channel)
        return service.command(command, user, channel)

    def start_clicked(self, stamp: str, user: str, channel: str, job_id: str | None = None) -> Message:
        service = self._lookup(stamp) if stamp else self.first
        if service is None:
            return self._unknown_stamp(stamp, "start-click", user, channel)
        return service.start_clicked(user, channel, job_id)

    def _unknown_stamp(self, name: str, action: str, user: str, channel: str) -> Message:
        """The stamp names are only for those allowed the command: authorise first, and audit either way."""
        action_checked = Action.START.value if action == "start-click" else action
        message = self.access.refusal(action_checked, user, channel) or replies.unknown_stamp(name, list(self.services))
        self.audit_log.record(audit.entry(user, channel, name, action, "refused or failed"))
        return message

    def _stamps_command(self, command: Command, user: str, channel: str) -> Message:
        def answer() -> Message:
            if command.action == Action.STAMPS:
                current = self.stamp_for(None, channel) or self.first
                return replies.stamps(list(self.services), current.stamp)
            chosen = self._lookup(command.option or "")
            if chosen is None:
                return replies.unknown_stamp(command.option or "", list(self.services))
            self.prefs.use_stamp(channel, chosen.stamp)
            return replies.stamp_chosen(channel, chosen.stamp)

        refusal = self.access.refusal(command.action, user, channel)
        message = refusal or guarded("change the channel's stamp", self.default_stamp, answer)
        record(self.audit_log, user, channel, self.default_stamp, command.action.value, message)
        return message

    def home(self, user: str) -> dict[str, object] | None:
        """The App Home view for ``user``; ``None`` when they opened it too often (publish nothing)."""
        if not self.home_opens.allow(user):
            return None
        if not self.access.may_read_home(user):
            self.audit_log.record(audit.entry(user, "(App Home)", "*", "home", "refused or failed"))
            return home.home_restricted()
        return home.home([(name, service.home_section()) for name, service in self.services.items()])
