"""The Slack side of the request pipeline (:mod:`bot.commands.pipeline`): the ack path, the lanes, the replies.

Before ``ack()``: the user's per-minute limit and the durable item, in one Redis round trip, so the work survives
this process (:meth:`Dispatcher.admit`); then a snapshot read is answered in the ack itself when Redis alone can
answer it (:meth:`Dispatcher.answer_from_snapshot`). After it: the command's route (its stamp, chosen once, and its
lane), the work queued in that lane (:mod:`bot.serve.lanes`), the pipeline's answer sent through the ``response_url``,
and the work of processes that died finished here (:meth:`Dispatcher.recover`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from slack_bolt.context.respond import Respond

from bot.commands.parse import command_of
from bot.commands.pipeline import Pipeline, Route
from bot.commands.request import Command, Request
from bot.commands.table import BY_ACTION, Lane
from bot.config.limits import IN_ACK_ADMIT_MAX, IN_ACK_BUDGET
from bot.ops.metrics import REQUESTS_NOT_ACTED_ON
from bot.serve.lanes import AfterAckPool
from bot.state.inbox import WorkItem
from bot.words import replies
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)

OVER_LIMIT = "rate-limited"
"""The audit outcome of a command or click refused for the user's per-minute limit."""


class Reply(Protocol):
    """Sends ``message`` to a ``response_url`` (``options``: ``response_type``, ``replace_original``)."""

    def __call__(self, response_url: str, message: Message, **options: Any) -> None: ...


def reply_to(response_url: str, message: Message, **options: Any) -> None:
    """``respond()`` does not raise on HTTP errors (an expired URL is a 404), so check it here."""
    result = Respond(response_url=response_url)(**message.as_kwargs(), **options)
    if getattr(result, "status_code", 200) != 200:
        log.error("response_url refused the reply: HTTP %s %s", result.status_code, result.body)


class Dispatcher:
    """What the listeners hand their work to; one per process, with the pipeline and the after-ack pool."""

    def __init__(
        self, pipeline: Pipeline, pool: AfterAckPool, *, response_url_lifetime: float, reply: Reply = reply_to
    ) -> None:
        self.pipeline = pipeline
        self.pool = pool
        self.response_url_lifetime = response_url_lifetime
        """Slack's ``response_url`` takes replies this long: a recovered item older than that is dropped."""
        self.reply = reply

    def answer_in_ack(self, command: Command, user: str, channel: str) -> Message | None:
        """Help, answered in the ack itself; ``None`` for anything that is recorded and queued."""
        return self.pipeline.answer_in_ack(command, user, channel)

    def admit(self, item: WorkItem) -> Message | None:
        """Before ``ack()``: the user's limit and the item into Redis, in one round trip; over the limit, the
        refusal (nothing is recorded, queued or acted on)."""
        if self.pool.admit(item, operator=_operator_work(item)):
            return None
        return replies.rate_limited(self.pool.user_limit.per_minute if self.pool.user_limit else 0)

    def answer_from_snapshot(self, item: WorkItem) -> Message | None:
        """After :meth:`admit`, before ``ack()``: a snapshot read's answer for the ack (the item is then finished
        after the acks); ``None`` when it must wait for the after-ack path (:meth:`dispatch`), as when admitting it
        already took :data:`IN_ACK_ADMIT_MAX` or the answer is not ready :data:`IN_ACK_BUDGET` after it arrived."""
        waited = time.time() - item.received_at
        if waited > IN_ACK_ADMIT_MAX:
            log.info("%s %s admitted after %.1fs; answering after the ack", item.kind, item.item_id, waited)
            return None
        request = self.pipeline.request(item)
        try:
            message = self.pipeline.answer_from_snapshot(
                request.command,
                item.user,
                item.channel,
                item_id=item.item_id,
                deadline=item.received_at + IN_ACK_BUDGET,
            )
        except Exception:
            log.exception("could not answer %s %s in the ack; answering after it", item.kind, item.item_id)
            return None
        if message is not None:
            self.pool.after_acks(lambda: self.pool.done(item.item_id))
        return message

    def refuse(self, item: WorkItem, refusal: Message) -> None:
        """After ``ack()``, over the limit: a click is told through its ``response_url`` (a command was told in its
        ack), and the refusal goes to the audit trail, where repeats within a minute add to one entry."""
        REQUESTS_NOT_ACTED_ON.labels(reason="rate_limited").inc()
        request = self.pipeline.request(item)

        def answer() -> None:
            try:
                if item.kind == "click":
                    self.reply(item.response_url, refusal, response_type="ephemeral")
                self.pipeline.record(request, request.command.stamp or "", OVER_LIMIT)
            except Exception:
                log.exception("could not refuse %s %s", item.kind, item.item_id)

        self.pool.after_acks(answer)

    def dispatch(self, item: WorkItem) -> None:
        """After ``ack()``: queue the item in its lane, or answer "busy" (after the acks) when that lane is full."""
        self._run(item, recovered=False)

    def recover(self, item: WorkItem) -> None:
        """An item a dead process left: answered like a fresh one, unless its ``response_url`` has expired."""
        if time.time() - item.received_at > self.response_url_lifetime:
            log.error(
                "dropping %s %s from user %s: too old to answer (its response_url has expired)",
                item.kind,
                item.item_id,
                item.user,
            )
            self.pool.done(item.item_id)
            return
        self._run(item, recovered=True)

    def later(self, what: str, work: Callable[[], object]) -> None:
        """Hand ``work`` that is no command (the App Home tab) to the after-ack pool."""

        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("could not %s", what)

        if not self.pool.submit(run):
            log.warning("the after-ack queue is full; not going to %s", what)

    def _run(self, item: WorkItem, *, recovered: bool) -> None:
        request = self.pipeline.request(item, recovered=recovered)
        route = self.pipeline.route(request.command, request.channel)
        self.pool.submit(
            lambda: self._answer(item, route, request),
            route.lane,
            if_full=lambda: self._busy(item, route),
        )

    def _answer(self, item: WorkItem, route: Route, request: Request) -> None:
        try:
            if not self.pool.still_mine(item.item_id):
                log.warning("%s %s was taken over by another process; leaving it to that one", item.kind, item.item_id)
                return
            if item.kind == "click" and not request.recovered:
                self._send(item, replies.starting(route.stamp))
            self._send(item, self.pipeline.answer(route, request))
            self.pool.done(item.item_id)
        except Exception:
            log.exception("could not answer %s %s", item.kind, item.item_id)

    def _send(self, item: WorkItem, message: Message) -> None:
        """A command's reply is ephemeral; a click's replaces the card. Checked again before each reply: a process
        frozen mid-work may have been replaced."""
        if self.pool.still_mine(item.item_id):
            options = {"replace_original": True} if item.kind == "click" else {"response_type": "ephemeral"}
            self.reply(item.response_url, message, **options)

    def _busy(self, item: WorkItem, route: Route) -> None:
        try:
            log.warning("lane %r is full; %s %s gets a busy reply", route.lane, item.kind, item.item_id)
            self.reply(
                item.response_url, replies.busy(route.lane.partition("/")[0]), response_type="ephemeral"
            )  # the stamp
            self.pool.done(item.item_id)
        except Exception:
            log.exception("could not refuse %s %s", item.kind, item.item_id)


def _operator_work(item: WorkItem) -> bool:
    """The Start card and the Start click: their own lane, and their own count against the limit."""
    return BY_ACTION[command_of(item).action].lane == Lane.OPERATOR
