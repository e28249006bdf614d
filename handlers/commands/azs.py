"""``/azs ...``: parse, acknowledge within Slack's 3 s, then answer through ``response_url``."""

from __future__ import annotations

from collections.abc import Callable
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext, Respond

from bot import messages
from bot.backups import BackupService
from bot.commands import Action, Command, parse
from bot.messages import Message
from handlers.reply import reply

RUNNERS: dict[Action, tuple[str, Callable[[BackupService, Command], Message]]] = {
    Action.START: ("prepare a backup", lambda service, _: service.preview()),
    Action.STATUS: ("read the running backups", lambda service, _: service.status()),
    Action.LIST: ("list backups", lambda service, _: service.list()),
    Action.SHOW: ("read the backup", lambda service, cmd: service.show(cmd.backup_id or "")),
    Action.CONFIG: ("read the backup configuration", lambda service, _: service.config()),
}


def azs_command(ack: Ack, command: dict[str, Any], respond: Respond, context: BoltContext, logger: Logger) -> None:
    """Answer help and refusals in the ack itself (no I/O); everything else after it."""
    parsed = parse(command.get("text"))
    service: BackupService = context["service"]
    user = str(command.get("user_id", ""))
    if parsed.action == Action.HELP:
        ack(**messages.help_message(parsed.problem).as_kwargs())
        return
    if parsed.action == Action.START and not service.can_start(user):
        ack(**messages.not_an_operator(user, bool(service.operators)).as_kwargs())
        return
    ack()
    what, run = RUNNERS[parsed.action]
    try:
        reply(respond, service.guarded(what, lambda: run(service, parsed)), logger, response_type="ephemeral")
    except Exception:
        logger.exception("could not answer /azs %s", parsed.action.value)
