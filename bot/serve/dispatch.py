"""Durable, fair after-ack work: check the user's limit and record the click or command before the ack, run it
in its stamp's lane (reads and operator work apart), and finish the work of a process that died (see
:mod:`bot.state.inbox` and :mod:`bot.serve.lanes`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext
from slack_bolt.context.respond import Respond

from bot.commands.parse import Action, parse
from bot.commands.router import Router
from bot.ops.metrics import REQUESTS_NOT_ACTED_ON
from bot.serve.lanes import AfterAckPool
from bot.serve.reply import reply
from bot.state import audit
from bot.state.inbox import WorkItem
from bot.words import replies
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)

RECOVERED_START_MAX_AGE = 120.0
"""A Start click found this long after it was made is not acted on: the operator is told to click again."""
RESPONSE_URL_LIFETIME = 1800.0
OPERATOR_LANE = "/operator"
"""Appended to a stamp's name for the lane of its operator work (stamp names cannot hold a ``/``)."""
OVER_LIMIT = "rate-limited"
"""The audit outcome of a command or click refused for the user's per-minute limit."""


def admit(context: BoltContext, item: WorkItem) -> Message | None:
    """Before ``ack()``: the user's per-minute limit and the item into Redis, in one round trip, so the work
    survives this process; over the limit, the refusal (nothing is recorded, queued or acted on)."""
    pool: AfterAckPool = context["work"]
    if pool.admit(item, operator=operator_work(item)):
        return None
    return replies.rate_limited(pool.user_limit.per_minute if pool.user_limit else 0)


def refused_over_limit(context: BoltContext, item: WorkItem, refusal: Message, logger: logging.Logger) -> None:
    """After ``ack()``: a click is told through its ``response_url`` (a command was told in its ack), and the
    refusal goes to the audit trail, where repeats within a minute add to one entry."""
    router: Router = context["router"]
    REQUESTS_NOT_ACTED_ON.labels(reason="rate_limited").inc()
    if item.kind == "click":
        action, stamp = "start-click", item.stamp or router.default_stamp
    else:
        command = parse(item.text)
        action, stamp = command.action.value, command.stamp or ""

    def answer() -> None:
        try:
            if item.kind == "click":
                reply(Respond(response_url=item.response_url), refusal, logger, response_type="ephemeral")
            router.audit_log.record(audit.entry(item.user, item.channel, stamp, action, OVER_LIMIT))
        except Exception:
            logger.exception("could not refuse %s %s", item.kind, item.item_id)

    pool: AfterAckPool = context["work"]
    pool.after_acks(answer)


def dispatch(context: BoltContext, item: WorkItem, logger: logging.Logger) -> None:
    """After ``ack()``: queue the item in its stamp's lane, or answer "busy" (after the acks) when that lane is full."""
    run(context["router"], context["work"], item, logger, recovered=False)


def run(router: Router, pool: AfterAckPool, item: WorkItem, logger: logging.Logger, *, recovered: bool) -> None:
    respond = Respond(response_url=item.response_url)
    lane = lane_for(router, item)
    if recovered and time.time() - item.received_at > RESPONSE_URL_LIFETIME:
        logger.error(
            "dropping %s %s from user %s: too old to answer (its response_url has expired)",
            item.kind,
            item.item_id,
            item.user,
        )
        pool.done(item.item_id)
        return

    def work() -> None:
        try:
            if not pool.still_mine(item.item_id):
                logger.warning(
                    "%s %s was taken over by another process; leaving it to that one", item.kind, item.item_id
                )
                return

            def send(message: Message, **options: Any) -> None:
                # Checked again before each reply: a process frozen mid-work may have been replaced.
                if pool.still_mine(item.item_id):
                    reply(respond, message, logger, **options)

            answer(router, item, send, recovered=recovered)
            pool.done(item.item_id)
        except Exception:
            logger.exception("could not answer %s %s", item.kind, item.item_id)

    def refuse() -> None:
        try:
            logger.warning("lane %r is full; %s %s gets a busy reply", lane, item.kind, item.item_id)
            reply(respond, replies.busy(lane.removesuffix(OPERATOR_LANE)), logger, response_type="ephemeral")
            pool.done(item.item_id)
        except Exception:
            logger.exception("could not refuse %s %s", item.kind, item.item_id)

    pool.submit(work, lane, if_full=refuse)  # a full lane refuses later, when the acks in flight are done


def lane_for(router: Router, item: WorkItem) -> str:
    """The stamp the work will talk to ("" for work about the bot itself); operator work gets that stamp's
    operator lane.

    Operator work is the Start card (``/azs backup``, ``start``) and the Start click: it never waits behind
    reads, which one user could otherwise queue until the lane is full (17 slow reads made a click "busy").
    A non-operator's Start card lands there too, and is refused at once.
    """
    if item.kind == "click":
        return (item.stamp or router.default_stamp) + OPERATOR_LANE
    command = parse(item.text)
    if command.action in (Action.STAMPS, Action.USE_STAMP, Action.HELP):
        return ""
    service = router.stamp_for(command.stamp, item.channel)  # a Redis failure there means the default stamp
    if service is None:
        return ""
    return service.stamp + OPERATOR_LANE if operator_work(item) else service.stamp


def operator_work(item: WorkItem) -> bool:
    """The Start click and the Start card (``/azs backup``, ``start``): their own lane and their own count."""
    return item.kind == "click" or parse(item.text).action == Action.START


def answer(router: Router, item: WorkItem, send: Callable[..., None], *, recovered: bool) -> None:
    if item.kind == "command":
        send(router.command(parse(item.text), item.user, item.channel), response_type="ephemeral")
        return
    if recovered:
        late = _recovered_click(router, item)
        if late is not None:
            send(late, replace_original=True)
            return
    send(replies.starting(item.stamp or router.default_stamp), replace_original=True)
    send(router.start_clicked(item.stamp, item.user, item.channel, job_id=item.item_id), replace_original=True)


def _recovered_click(router: Router, item: WorkItem) -> Message | None:
    """What to tell a clicker whose process died: how far the start got, or ``None`` to start it now."""
    too_old = time.time() - item.received_at > RECOVERED_START_MAX_AGE
    return router.click_outcome(item.stamp, item.item_id, too_old=too_old)
