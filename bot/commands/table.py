"""The command table: every ``/azs`` command, and the Start click, in one row, so adding one is a row and its runner.

The parser (:mod:`bot.commands.parse`), the help text (:func:`usage`, worded by
:func:`bot.words.replies.help_message`), who may run what and the refusal's wording
(:meth:`bot.commands.access.AccessPolicy.refusal`), the lane the work waits in, the runner the pipeline calls
(:meth:`bot.commands.pipeline.Pipeline.answer`) and both Slack manifests' ``usage_hint`` (:func:`usage_hint`,
checked by a test, rewritten by ``python -m bot.commands.table``) all read this table. A runner is named by
reference: a :class:`~bot.commands.backups.BackupService` method or a function of the same shape, taking the
chosen stamp's service and the :class:`~bot.commands.request.Request`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.commands.backups import BackupService
from bot.commands.request import Request
from bot.words import replies
from bot.words.mrkdwn import Message

Runner = Callable[[BackupService, Request], Message]
"""Answers one command: the service of the stamp the pipeline chose, and the request."""


class Action(StrEnum):
    """Every command and click the bot answers; the value is what the audit trail and the metrics call it."""

    HELP = "help"
    START = "start"
    START_CLICK = "start-click"
    STATUS = "status"
    LIST = "list"
    SHOW = "show"
    CONFIG = "config"
    HISTORY = "history"
    DR = "dr"
    AUDIT = "audit"
    WATCH = "watch"
    CANCEL = "cancel"
    THREADS = "threads"
    STAMPS = "stamps"
    USE_STAMP = "use-stamp"
    DIGEST = "digest"
    TIMEZONE = "timezone"
    REPORT_MONTHLY = "report monthly"
    REPORT = "report"


class Args(StrEnum):
    """What a verb takes after its word."""

    NONE = "none"
    BACKUP_ID = "backup-id"
    """Exactly one backup id (a GUID, or a resource id ending in one)."""
    CHOICE = "choice"
    """One of ``choices``; when ``default`` is set the word may be left out."""
    WORDS = "words"
    """One to :data:`MAX_WORDS` words, kept as typed for the runner to read; ``choices`` holds examples."""
    DAYS_PAGE = "days-page"
    """``[days] [page N]``, both optional, carried as the option ``"<days>:<page>"``."""
    REPORT = "report"
    """``[YYYY-MM] [stamp|all]``, in any order: the month in ``option``, a named stamp in ``stamp``."""


class Lane(StrEnum):
    """Where the work waits after the ack (:mod:`bot.serve.lanes`)."""

    READS = "reads"
    """The stamp's lane."""
    OPERATOR = "operator"
    """The stamp's operator lane: the Start card and click never wait behind reads, and count apart."""
    BOT = "bot"
    """About the bot itself (no stamp is called): one lane for all of it."""
    SNAPSHOT = "snapshot"
    """Answered from the stamp's snapshot in Redis, not the stamp: one lane for every stamp, never full, so a read
    never answers "busy" (the stamp is asked only before the worker's first refresh)."""


@dataclass(frozen=True)
class Verb:
    """One row of the table."""

    action: Action
    usage: str
    """How the help writes the command (the bot's own mrkdwn: ``<`` and ``>`` as entities); "" hides it."""
    help: str
    """What the help says it does."""
    runner: Runner
    """What answers it; the pipeline authorises first, catches failures and audits after."""
    doing: str = ""
    """What the runner does, for failures: "I could not <doing> on <stamp>"."""
    operator_only: bool = False
    refusal: str = "change this setting"
    """What a non-operator is told they may not do: "only backup operators may <refusal>"."""
    args: Args = Args.NONE
    choices: tuple[str, ...] = ()
    default: str | None = None
    hint: str = ""
    """This verb in the manifests' ``usage_hint`` ("" leaves it out: the hint is short)."""
    under_backup: bool = True
    """Written after ``/azs backup``; the bot's own commands (``stamps``, ``help``) and the click are not."""
    lane: Lane = Lane.READS
    in_ack: bool = False
    """Answered in the ack itself: the runner does no I/O (nothing to wait for, nothing to audit)."""


def show_help(_service: BackupService, request: Request) -> Message:
    """The usage, with what was not understood (``request.command.problem``) above it."""
    return replies.help_message(usage(), request.command.problem)


WATCH_MODES = ("all", "failures", "off")
MAX_WORDS = 4

TABLE: tuple[Verb, ...] = (
    Verb(
        Action.START,
        "`/azs backup` (or `/azs backup start`)",
        "start an infrastructure backup, after a confirmation",
        runner=BackupService.preview,
        doing="prepare a backup",
        operator_only=True,
        refusal="start a backup",
        lane=Lane.OPERATOR,
    ),
    Verb(
        Action.STATUS,
        "`/azs backup status`",
        "backups the bot is following, and the stamp as last read",
        runner=BackupService.status,
        doing="read the running backups",
        hint="status",
        lane=Lane.SNAPSHOT,
    ),
    Verb(
        Action.LIST,
        "`/azs backup list`",
        "the latest backups, newest first",
        runner=BackupService.list,
        doing="list backups",
        hint="list",
        lane=Lane.SNAPSHOT,
    ),
    Verb(
        Action.SHOW,
        "`/azs backup show &lt;backup id&gt;`",
        "one backup in full, with role statuses",
        runner=BackupService.show,
        doing="read the backup",
        args=Args.BACKUP_ID,
        hint="show <id>",
        lane=Lane.SNAPSHOT,
    ),
    Verb(
        Action.CONFIG,
        "`/azs backup config`",
        "the backup location and scheduler",
        runner=BackupService.config,
        doing="read the backup configuration",
        hint="config",
        lane=Lane.SNAPSHOT,
    ),
    Verb(
        Action.HISTORY,
        "`/azs backup history [days] [page N]`",
        "every backup the bot recorded in the last 30 days (or the days given), newest first, kept after the "
        "stamp deleted them; `page 2` for the next page",
        runner=BackupService.history,
        doing="read the backup history",
        args=Args.DAYS_PAGE,
        hint="history [days]",
        lane=Lane.SNAPSHOT,
    ),
    Verb(
        Action.DR,
        "`/azs backup dr`",
        "cloud-recovery readiness: the backup to recover from, its version against the stamp's, what is missing",
        runner=BackupService.dr,
        doing="check cloud-recovery readiness",
        hint="dr",
        lane=Lane.SNAPSHOT,
    ),
    Verb(
        Action.AUDIT,
        "`/azs backup audit`",
        "who did what, latest first (operators)",
        runner=BackupService.audit_trail,
        doing="read the audit trail",
        operator_only=True,
        refusal="read the audit trail",
        hint="audit",
    ),
    Verb(
        Action.WATCH,
        "`/azs backup watch [all|failures|off]`",
        "tell this channel about every backup that ends (operators)",
        runner=BackupService.watch,
        doing="change the watch",
        operator_only=True,
        refusal="change what this channel watches",
        args=Args.CHOICE,
        choices=WATCH_MODES,
        default="all",
        hint="watch",
    ),
    Verb(
        Action.CANCEL,
        "`/azs backup cancel`",
        "why a backup cannot be cancelled, and what runs",
        runner=BackupService.cancel,
        doing="look for the running backup",
        hint="cancel",
    ),
    Verb(
        Action.THREADS,
        "`/azs backup threads on|off`",
        "outcomes in the announcement's thread or as new messages (operators)",
        runner=BackupService.threads,
        doing="change threading",
        operator_only=True,
        args=Args.CHOICE,
        choices=("on", "off"),
    ),
    Verb(
        Action.DIGEST,
        "`/azs backup digest daily [HH:MM]|weekly [day HH:MM]|problems-only|off`",
        "one message a day or week about every stamp in this channel (operators)",
        runner=BackupService.digest,
        choices=("daily 08:00",),
        doing="change the digest",
        operator_only=True,
        refusal="change this channel's digest",
        args=Args.WORDS,
        lane=Lane.BOT,
    ),
    Verb(
        Action.TIMEZONE,
        "`/azs backup timezone &lt;zone&gt;`",
        "this channel's time zone for the digest and the monthly report, e.g. `Europe/Berlin` (operators)",
        runner=BackupService.timezone,
        choices=("Europe/Berlin",),
        doing="change the time zone",
        operator_only=True,
        refusal="change this channel's time zone",
        args=Args.WORDS,
        lane=Lane.BOT,
    ),
    Verb(
        Action.REPORT_MONTHLY,
        "`/azs backup report monthly on|off`",
        "last month's backup report in this channel on the 1st of each month (operators)",
        runner=BackupService.report_monthly,
        doing="change the monthly report",
        operator_only=True,
        refusal="change this channel's monthly report",
        args=Args.CHOICE,
        choices=("on", "off"),
        lane=Lane.BOT,
    ),
    Verb(
        Action.REPORT,
        "`/azs backup report [YYYY-MM] [stamp|all]`",
        "the monthly backup report (CSV, chart, RPO compliance) uploaded here; default: last month (operators)",
        runner=BackupService.report,
        doing="build the backup report",
        operator_only=True,
        refusal="upload a backup report",
        args=Args.REPORT,
        hint="report",
        lane=Lane.BOT,
    ),
    Verb(
        Action.STAMPS,
        "`/azs stamps`, `/azs stamps use &lt;stamp&gt;`",
        "the stamps, and this channel's default",
        runner=BackupService.stamps,
        doing="list the stamps",
        under_backup=False,
        lane=Lane.BOT,
    ),
    Verb(
        Action.USE_STAMP,
        "",
        "",
        runner=BackupService.use_here,
        doing="change the channel's stamp",
        operator_only=True,
        under_backup=False,
        lane=Lane.BOT,
    ),
    Verb(
        Action.START_CLICK,
        "",
        "",
        runner=BackupService.start_click,
        doing="start a backup",
        operator_only=True,
        refusal="start a backup",
        under_backup=False,
        lane=Lane.OPERATOR,
    ),
    Verb(Action.HELP, "`/azs help`", "this help", runner=show_help, under_backup=False, lane=Lane.BOT, in_ack=True),
)
"""In the help's order (rows with no ``usage`` are not in it)."""

BY_ACTION = {verb.action: verb for verb in TABLE}
BACKUP_VERBS = {verb.action.value: verb for verb in TABLE if verb.under_backup}
"""The words after ``/azs backup [stamp]`` that name a verb (``help`` too: ``/azs backup help``)."""
BACKUP_VERBS["help"] = BY_ACTION[Action.HELP]
FIRST_WORDS = frozenset(name.split()[0] for name in BACKUP_VERBS)
"""The first word of every verb: a word after ``/azs backup`` that is one of these is not a stamp name."""


def usage() -> list[tuple[str, str]]:
    """The help's rows, in table order (``help`` last): how each verb is written, and what it does."""
    return [(verb.usage, verb.help) for verb in TABLE if verb.usage]


def usage_hint() -> str:
    """The slash command's ``usage_hint`` in both manifests (Slack shows it while typing ``/azs``)."""
    verbs = "|".join(verb.hint for verb in TABLE if verb.hint)
    return f"backup [stamp] [{verbs}] | stamps | help"


MANIFESTS = ("slack/manifest.json", "slack/manifest.socket-mode.json")


def write_usage_hints(root: Path) -> list[Path]:
    """Rewrite ``usage_hint`` in the manifests under ``root`` from the table; the files that changed."""
    changed = []
    for name in MANIFESTS:
        path = root / name
        manifest = json.loads(path.read_text())
        for command in manifest["features"]["slash_commands"]:
            if command["command"] == "/azs" and command.get("usage_hint") != usage_hint():
                command["usage_hint"] = usage_hint()
                path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
                changed.append(path)
    return changed


if __name__ == "__main__":  # python -m bot.commands.table [repository root]: regenerate the manifests' usage_hint
    for path in write_usage_hints(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(f"updated {path}")
