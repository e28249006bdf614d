"""Durable after-ack work: record the click or command before the ack, run it in its stamp's lane, and
finish the work of a process that died (see :mod:`bot.state.inbox` and :mod:`bot.serve.lanes`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext
from slack_bolt.context.respond import Respond

from bot.commands.parse import Action, parse
from bot.commands.router import Router
from bot.serve.lanes import AfterAckPool
from bot.serve.reply import reply
from bot.state.inbox import WorkItem
from bot.words import messages
from bot.words.messages import Message

log = logging.getLogger(__name__)

RECOVERED_START_MAX_AGE = 120.0
"""A Start click found this long after it was made is not acted on: the operator is told to click again."""
RESPONSE_URL_LIFETIME = 1800.0


def record(context: BoltContext, item: WorkItem) -> None:
    """Before ``ack()``: one Redis round trip, so the work survives this process."""
    pool: AfterAckPool = context["work"]
    pool.record(item)


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
            reply(respond, messages.busy(lane), logger, response_type="ephemeral")
            pool.done(item.item_id)
        except Exception:
            logger.exception("could not refuse %s %s", item.kind, item.item_id)

    pool.submit(work, lane, if_full=refuse)  # a full lane refuses later, when the acks in flight are done


def lane_for(router: Router, item: WorkItem) -> str:
    """The stamp the work will talk to; "" for work about the bot itself."""
    if item.kind == "click":
        return item.stamp or router.default_stamp
    command = parse(item.text)
    if command.action in (Action.STAMPS, Action.USE_STAMP, Action.HELP):
        return ""
    service = router.stamp_for(command.stamp, item.channel)  # a Redis failure there means the default stamp
    return service.stamp if service else ""


def answer(router: Router, item: WorkItem, send: Callable[..., None], *, recovered: bool) -> None:
    if item.kind == "command":
        send(router.command(parse(item.text), item.user, item.channel), response_type="ephemeral")
        return
    if recovered:
        late = _recovered_click(router, item)
        if late is not None:
            send(late, replace_original=True)
            return
    send(messages.starting(item.stamp or router.default_stamp), replace_original=True)
    send(router.start_clicked(item.stamp, item.user, item.channel, job_id=item.item_id), replace_original=True)


def _recovered_click(router: Router, item: WorkItem) -> Message | None:
    """What to tell a clicker whose process died: how far the start got, or ``None`` to start it now."""
    too_old = time.time() - item.received_at > RECOVERED_START_MAX_AGE
    return router.click_outcome(item.stamp, item.item_id, too_old=too_old)
