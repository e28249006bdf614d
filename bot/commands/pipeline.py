"""The request pipeline: every command and click takes the same way from its listener to its reply.

::

    listener    parse once (bot.commands.parse); help is answered in the ack itself (no I/O)
    admit       the user's per-minute limit and the durable item, one Redis round trip before the ack
                (bot.serve.dispatch; the web's front door refused replays before that)
    in the ack  a snapshot read (status, list, config, show, history, dr) answered from Redis alone, through a
                client with short timeouts                                      Pipeline.answer_from_snapshot
    route       the stamp, chosen once, and the lane the work waits in        Pipeline.route
    answer      authorise -> the row's runner, guarded -> audit                Pipeline.answer
    reply       through the response_url (bot.serve.dispatch)

A snapshot read takes the same route and answer as any command (authorised, audited once), only sooner: a reply
after the ack costs another HTTP round trip to Slack, so a read about a slow stamp answered after the ack can never
come as fast as ``/azs help``. When the answer needs more than Redis (no snapshot yet, an id the snapshot and the
history do not know), Redis does not answer at once, or the answer is not ready well inside Slack's 3 s
(:data:`~bot.config.limits.IN_ACK_BUDGET`), nothing is audited and the command goes the after-ack way.

This module is the Slack-free part (route and answer): the command table (:mod:`bot.commands.table`) says for each
verb who may run it, which lane it takes and which runner answers it, so adding a verb adds no code here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bot.commands.access import AccessPolicy
from bot.commands.backups import BackupService
from bot.commands.parse import command_of
from bot.commands.reads import NotInSnapshot
from bot.commands.request import Command, Request
from bot.commands.table import BY_ACTION, Lane, Verb
from bot.ops import outage
from bot.ops.metrics import COMMANDS
from bot.stamp.errors import StampError
from bot.state import audit
from bot.state.audit import AuditLog
from bot.state.inbox import WorkItem
from bot.state.prefs import ChannelPrefs
from bot.words import replies
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)

OPERATOR_LANE = "/operator"
"""Appended to a stamp's name for the lane of its operator work (stamp names cannot hold a ``/``)."""
SNAPSHOT_LANE = "/snapshot"
"""Appended to a stamp's name for the lane of its snapshot reads (:attr:`Lane.SNAPSHOT`) answered after the ack: those
may call the stamp (the first read's survey, ``show`` of an id the snapshot does not know), so each stamp has its own,
bounded like the others, and an unreachable stamp holds up only its own reads."""
REFUSED = "refused or failed"
"""The audit outcome of a refusal or a failure (a message with ``ok`` false)."""


class TooLateForAck(Exception):
    """A read answered in the ack was ready after its :attr:`~Request.ack_deadline`: nothing was audited, and the
    after-ack path answers it."""


@dataclass(frozen=True)
class Route:
    """Where a command goes: its row, the stamp chosen for it (once), and the lane it waits in."""

    verb: Verb
    service: BackupService | None
    """``None`` when the command names a stamp the bot does not know."""
    named: str
    """The stamp the command named ("" when it named none)."""
    lane: str
    """A stamp's name, that name with :data:`OPERATOR_LANE` or :data:`SNAPSHOT_LANE`, or "" for work about the bot
    itself."""

    @property
    def stamp(self) -> str:
        return self.service.stamp if self.service else self.named


class Pipeline:
    """Routes and answers commands for every stamp; shared concerns (who may do what, the audit trail, channel
    preferences) are its own, wired by :mod:`bot.app`; stamp work is the chosen :class:`BackupService`'s."""

    def __init__(
        self,
        services: dict[str, BackupService],
        *,
        access: AccessPolicy,
        audit_log: AuditLog,
        prefs: ChannelPrefs,
        ack_redis: redis.Redis | None = None,
    ) -> None:
        self.services = services
        """By stamp name, in configuration order: the first is the default."""
        self.access = access
        self.audit_log = audit_log
        self.prefs = prefs
        self.ack_path = self
        """This pipeline with every store on ``ack_redis`` (short timeouts), for the reads answered in the ack."""
        if ack_redis is not None:
            self.ack_path = Pipeline(
                {name: service.with_redis(ack_redis) for name, service in services.items()},
                access=access,
                audit_log=AuditLog(ack_redis),
                prefs=ChannelPrefs(ack_redis),
            )

    @property
    def default_stamp(self) -> str:
        return next(iter(self.services))

    def request(self, item: WorkItem, *, recovered: bool = False) -> Request:
        """The request a durable item carries (parsed by its listener)."""
        return Request(
            command_of(item),
            item.user,
            item.channel,
            item_id=item.item_id,
            received_at=item.received_at,
            recovered=recovered,
            stamps=tuple(self.services),
        )

    def route(self, command: Command, channel: str) -> Route:
        """The command's row, its stamp (named, else the channel's default, else the first) and its lane."""
        verb = BY_ACTION[command.action]
        service = self.stamp_for(command.stamp, channel)
        if service is None or verb.lane == Lane.BOT:
            lane = ""
        else:
            lane = service.stamp + {Lane.OPERATOR: OPERATOR_LANE, Lane.SNAPSHOT: SNAPSHOT_LANE}.get(verb.lane, "")
        return Route(verb, service, command.stamp or "", lane)

    def stamp_for(self, named: str | None, channel: str) -> BackupService | None:
        if named:
            return self._lookup(named)
        if len(self.services) == 1:
            return self.services[self.default_stamp]  # a preference could only name this one: no Redis read
        try:
            preferred = self.prefs.default_stamp(channel)
        except redis.RedisError:
            preferred = None  # the command itself will say Redis is down if it needs it
        return self._lookup(preferred or "") or self.services[self.default_stamp]

    def _lookup(self, name: str) -> BackupService | None:
        return self.services.get(name) or next((s for n, s in self.services.items() if n.lower() == name.lower()), None)

    def answer_in_ack(self, command: Command, user: str, channel: str) -> Message | None:
        """The answer of a row marked ``in_ack`` (help), which does no I/O; ``None`` for every other row."""
        verb = BY_ACTION[command.action]
        if not verb.in_ack:
            return None
        return verb.runner(self.services[self.default_stamp], Request(command, user, channel))

    def answer_from_snapshot(
        self, command: Command, user: str, channel: str, *, item_id: str = "", deadline: float = float("inf")
    ) -> Message | None:
        """A snapshot row answered in the ack: routed, authorised, run and audited like any command, through the ack
        path's Redis client; ``None`` (nothing audited) when the answer needs the stamp, Redis did not answer, or the
        answer was not ready by ``deadline`` (``time.time()``, checked before the audit entry)."""
        if BY_ACTION[command.action].lane != Lane.SNAPSHOT or outage.REDIS.down:
            return None
        quick = self.ack_path
        route = quick.route(command, channel)
        if route.service is None:
            return None  # an unknown stamp: told after the ack, like any other refusal that names the stamps
        request = Request(
            command, user, channel, item_id=item_id, stamps=tuple(self.services), in_ack=True, ack_deadline=deadline
        )
        try:
            return quick.answer(route, request)
        except (NotInSnapshot, redis.RedisError, TooLateForAck) as exc:
            log.info("%s not answered in the ack (%s); answering after it", command.action.value, type(exc).__name__)
            return None

    def answer(self, route: Route, request: Request) -> Message:
        """Authorise, run the row's runner (a failure becomes a reply), and audit: the one way every verb is answered.

        The stamp names are only for those allowed the command: an unknown stamp is told after the check.
        """
        message = self.access.refusal(route.verb, request.user, request.channel) or self._run(route, request)
        if request.in_ack and time.time() > request.ack_deadline:
            raise TooLateForAck  # audited once, by the after-ack path that answers it
        outcome = "ok" if message.ok else REFUSED
        COMMANDS.labels(action=route.verb.action.value, outcome=outcome).inc()
        self.record(request, route.stamp, outcome)
        return message

    def _run(self, route: Route, request: Request) -> Message:
        service, runner = route.service, route.verb.runner
        if service is None:
            return replies.unknown_stamp(route.named, list(self.services))
        passing = (NotInSnapshot, redis.RedisError) if request.in_ack else ()
        return guarded(route.verb.doing, service.stamp, lambda: runner(service, request), passing=passing)

    def answer_now(self, command: Command, user: str, channel: str, *, item_id: str = "") -> Message:
        """Route and answer ``command`` at once, in this thread (what the dispatcher does in a lane)."""
        request = Request(command, user, channel, item_id=item_id, stamps=tuple(self.services))
        return self.answer(self.route(command, channel), request)

    def record(self, request: Request, stamp: str, outcome: str) -> None:
        """The request in the audit trail, with how it went."""
        entry = audit.entry(request.user, request.channel, stamp, request.command.action.value, outcome)
        self.audit_log.record(entry)


def guarded(
    what: str, stamp: str, action: Callable[[], Message], *, passing: tuple[type[Exception], ...] = ()
) -> Message:
    """Run ``action`` and turn any failure into a reply the operator can act on; ``passing`` failures are raised
    (a read answered in the ack leaves them to the after-ack path)."""
    try:
        return action()
    except passing:
        raise
    except redis.RedisError as exc:
        outage.REDIS.failed(exc)  # one line per outage, not a traceback per command
        log.warning("redis failed while trying to %s (%s)", what, type(exc).__name__)
        return replies.redis_down()
    except StampError as exc:
        log.warning("stamp call failed while trying to %s: %s (correlation id %s)", what, exc, exc.correlation_id)
        return replies.stamp_call_failed(what, stamp, exc)
    except Exception:
        log.exception("unexpected failure while trying to %s", what)
        return replies.unexpected_failure(what)
