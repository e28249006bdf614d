"""Which stamp a command is for: named in the command, else the channel's default, else the first.

Holds one :class:`BackupService` per stamp; commands about the bot itself (``/azs stamps``) are
answered here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from bot import messages
from bot.backups import BackupService
from bot.commands import Action, Command
from bot.messages import Message

log = logging.getLogger(__name__)


@dataclass
class Router:
    services: dict[str, BackupService]
    """By stamp name, in configuration order: the first is the default."""

    @property
    def first(self) -> BackupService:
        return next(iter(self.services.values()))

    def stamp_for(self, named: str | None, channel: str) -> BackupService | None:
        if named:
            return self._lookup(named)
        try:
            preferred = self.first.prefs.default_stamp(channel)
        except redis.RedisError:
            preferred = None  # the command itself will say Redis is down if it needs it
        return self._lookup(preferred) if preferred and self._lookup(preferred) else self.first

    def _lookup(self, name: str) -> BackupService | None:
        return self.services.get(name) or next(
            (s for n, s in self.services.items() if n.lower() == name.lower()), None)

    def command(self, command: Command, user: str, channel: str) -> Message:
        if command.action in (Action.STAMPS, Action.USE_STAMP):
            return self._stamps_command(command, user, channel)
        service = self.stamp_for(command.stamp, channel)
        if service is None:
            return messages.unknown_stamp(command.stamp or "", list(self.services))
        return service.command(command, user, channel)

    def start_clicked(self, stamp: str, user: str, channel: str, job_id: str | None = None) -> Message:
        service = self._lookup(stamp) if stamp else self.first
        if service is None:
            return messages.unknown_stamp(stamp, list(self.services))
        return service.start_clicked(user, channel, job_id)

    def _stamps_command(self, command: Command, user: str, channel: str) -> Message:
        first = self.first

        def answer() -> Message:
            if command.action == Action.STAMPS:
                current = self.stamp_for(None, channel) or first
                return messages.stamps(list(self.services), current.stamp)
            chosen = self._lookup(command.option or "")
            if chosen is None:
                return messages.unknown_stamp(command.option or "", list(self.services))
            first.prefs.use_stamp(channel, chosen.stamp)
            return messages.stamp_chosen(channel, chosen.stamp)

        refusal = first.authorise(command.action, user, channel)
        message = refusal or first.guarded("change the channel's stamp", answer)
        first.record(user, channel, command.action.value, message)
        return message

    def home(self) -> dict[str, object]:
        return messages.home([(name, service.home_section()) for name, service in self.services.items()])
