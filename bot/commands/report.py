"""``/azs backup report [YYYY-MM] [stamp|all]``: build the monthly report from Redis and upload it to the channel.

Reads the bot's history and snapshots only (never a stamp), so it waits in the bot's lane, not a stamp's. The
files (CSV, chart) go up through Slack's upload flow with the summary as their message; the operator who asked
is told where they went, or why they could not be uploaded. The worker's scheduler sends the same report on the
1st of each month through :meth:`Reporter.scheduled`, tagged so a retry can find it in the channel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.commands.request import Request
from bot.config.limits import FIRST_REPORT_YEAR
from bot.model.schedule import Period
from bot.report.monthly import WindowSource, build_monthly_report, frequencies
from bot.report.period import Month
from bot.slack.client import PostFailed, SlackPoster
from bot.state.history import HistoryStore
from bot.state.snapshots import SnapshotStore
from bot.words import report as words
from bot.words.mrkdwn import Message

log = logging.getLogger(__name__)


@dataclass
class Reporter:
    """What the report command needs, shared by every stamp's service."""

    history: HistoryStore
    snapshots: SnapshotStore
    windows: WindowSource | None
    poster: SlackPoster
    clock: Callable[[], float] = time.time
    stamps: tuple[str, ...] = ()
    """Every configured stamp: what a scheduled report covers (a command names its own)."""

    def report(self, request: Request, named: str | None) -> Message:
        """The report on the named stamp (or all of them) for the command's month, uploaded to the channel."""
        now = self.clock()
        try:
            month = Month.parse(request.command.option) if request.command.option else Month.last_complete(now)
        except ValueError:  # the parser took it, the calendar does not (1969-12 and before)
            return words.month_out_of_range(request.command.option or "", not_started=False)
        if month.year < FIRST_REPORT_YEAR or month.start > now:
            return words.month_out_of_range(str(month), not_started=month.start > now)
        stamps = [named] if named else list(request.stamps)
        if not stamps:
            return words.no_stamps()
        built = build_monthly_report(
            self.history, self.snapshots, self.windows, stamps, month, frequencies(self.snapshots, stamps, now), now
        )
        try:
            self.poster.upload_files(request.channel, built.files, built.caption())
        except PostFailed as exc:
            log.warning("cannot upload the %s report to %s: %s", month, request.channel, exc.error)
            return words.upload_failed(str(month), exc.error)
        return words.uploaded(str(month), stamps, built.files)

    def scheduled(
        self, channel: str, period: Period, tag: str, guard: Callable[[], bool], budget: float | None = None
    ) -> str:
        """The monthly schedule's report on every stamp for ``period``'s month, uploaded to ``channel`` with
        ``tag`` in its comment (:meth:`SlackPoster.find_upload` finds it again); returns the uploaded file ids.

        Raises :class:`PostFailed` when Slack did not take it, :class:`~bot.slack.client.Fenced` when ``guard``
        said no before an attempt."""
        if period.month is None:
            raise ValueError(f"{period.key} names no month")
        now, month, stamps = self.clock(), Month(*period.month), list(self.stamps)
        built = build_monthly_report(
            self.history, self.snapshots, self.windows, stamps, month, frequencies(self.snapshots, stamps, now), now
        )
        comment = built.caption(words.scheduled_tail(tag))
        ids = self.poster.upload_files(channel, built.files, comment, guard=guard, budget=budget)
        log.info("monthly report for %s uploaded to %s (%s)", month, channel, ", ".join(ids))
        return ",".join(ids) or tag
