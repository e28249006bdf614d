"""What each command does on one stamp: the runners the command table names, independent of Slack's plumbing.

The pipeline (:mod:`bot.commands.pipeline`) chooses the stamp, authorises, calls a runner here with the
:class:`~bot.commands.request.Request`, turns a stamp or Redis failure into a reply and audits the result; so a
runner only does its work and returns the :class:`Message` the operator sees.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import redis

from bot.commands import schedules
from bot.commands.reads import StampReads
from bot.commands.request import Request
from bot.config.limits import ANNOUNCE_LEASE_SECONDS, ANNOUNCE_RETRY_SECONDS, RECOVERED_START_MAX_AGE
from bot.model.backup import Backup
from bot.model.location import BackupLocation, Preflight, parse_capacity
from bot.model.update import UpdateLocation
from bot.slack.client import SlackPoster
from bot.slack.delivery import ANNOUNCEMENT, Delivery
from bot.stamp import lro
from bot.stamp.arm import ArmClient, StartedBackup
from bot.stamp.errors import StampError
from bot.state.audit import AuditLog
from bot.state.job import Job, JobState
from bot.state.jobs import JobStore
from bot.state.prefs import ChannelPrefs
from bot.state.schedules import ScheduleStore
from bot.state.watches import WatchStore
from bot.words import home, posts, replies, steward
from bot.words import report as report_words
from bot.words.mrkdwn import Message

if TYPE_CHECKING:
    from bot.commands.report import Reporter

log = logging.getLogger(__name__)

UNDECIDED_STATES = frozenset({JobState.STARTING, JobState.RUNNING, JobState.FINISHED})
UPDATE_BLOCKED_CODES = frozenset({"BackupBlockedByUpdate"})
"""``createBackup`` refused because an update (or a hardware replacement) runs: said in plain words."""


@dataclass
class BackupService:
    """One stamp's backup operations as the bot offers them; each runner takes the request and returns the reply."""

    stamp: str
    store: JobStore
    arm: ArmClient
    poster: SlackPoster
    poll_interval: float
    audit_log: AuditLog
    prefs: ChannelPrefs
    watches: WatchStore
    start_grace: float
    """How long a start may go unconfirmed before a worker reconciles it (``AZS_START_GRACE_SECONDS``)."""
    home_cache_seconds: float
    """How long this process reuses the stamp's App Home section (``AZS_HOME_CACHE_SECONDS``)."""
    reads: StampReads
    """The stamp's snapshot and history: what the read commands and App Home answer from."""
    reporter: Reporter | None = None
    """Builds and uploads the monthly report (:mod:`bot.commands.report`); shared by every stamp's service."""
    clock: Callable[[], float] = time.time
    """When a job was requested and started (the worker shares it in tests, which step time themselves)."""
    default_timezone: str = "UTC"
    """The bot's time zone (``AZS_TIMEZONE``) for channels that set none (``/azs backup timezone``)."""
    _home: tuple[float, Message] | None = field(default=None, init=False, repr=False)
    _home_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def with_redis(self, client: redis.Redis) -> BackupService:
        """This stamp's service with every store on ``client`` (the ack path's, whose timeouts are short)."""
        return replace(
            self,
            store=JobStore(client, retention_seconds=self.store.retention_seconds),
            audit_log=AuditLog(client),
            prefs=ChannelPrefs(client),
            watches=WatchStore(client),
            reads=self.reads.with_redis(client),
        )

    def _running_job(self) -> Job | None:
        return next(
            (j for j in self.store.active_jobs() if j.stamp == self.stamp and j.state in UNDECIDED_STATES), None
        )

    def report(self, request: Request) -> Message:
        """The monthly report, uploaded to the channel: on the stamp named (before or after ``report``), else all."""
        if self.reporter is None:
            return report_words.not_set_up()
        return self.reporter.report(request, self.stamp if request.command.stamp else None)  # as configured

    def preview(self, _request: Request) -> Message:
        """The confirmation card with the pre-flight checks, or who is already running a backup."""
        mine = self._running_job()
        if mine is not None:
            return replies.already_running(mine)
        location, backups = self.arm.backup_location(), self.arm.list_backups()
        return replies.confirmation(
            self.stamp,
            self.arm.region,
            location,
            backups[0] if backups else None,
            preflight_problems(location, backups, self._update_pausing()),
        )

    def _update_pausing(self) -> str | None:
        """The update state, read live, when an update pauses backups now; else ``None``. When the stamp does not
        say (no permission, an error), the snapshot's last reading."""
        update: UpdateLocation | None
        try:
            update = self.arm.update_location()
        except StampError as exc:
            log.info("could not read the update location of %s (%s); using the snapshot's", self.stamp, exc)
            view = self.reads.snapshots.read(self.stamp, self.clock())
            update = view.snapshot.update if view is not None else None
        if update is None or not self.reads.update_states.classify(update.state).pauses_backups:
            return None
        return update.state or "unknown"

    def start_click(self, request: Request) -> Message:
        """The Start button: check again, then start. The job is named after the click's durable item, so a process
        that takes over a dead one's click first tells how far that one got."""
        if request.recovered:
            too_old = time.time() - request.received_at > RECOVERED_START_MAX_AGE
            late = self.click_outcome(request.item_id, too_old=too_old)
            if late is not None:
                return late
        return self.start(request.user, request.channel, request.item_id or None)

    def click_outcome(self, job_id: str, *, too_old: bool) -> Message | None:
        """How far a dead process got with a Start click (the job is named after it); ``None``: start it now."""
        job = self.store.get(job_id)
        if job is None:
            return replies.restarted_nothing_started(self.stamp) if too_old else None
        if job.state == JobState.STARTING:
            return replies.start_unknown(self.stamp)
        if job.state == JobState.START_FAILED:
            return replies.start_refused(self.stamp, job.error)
        return posts.started(job)

    def start(self, requester: str, channel: str, job_id: str | None = None) -> Message:
        """Check again, take the stamp's lock, call ``createBackup`` and announce the backup in the channel."""
        refusal = self._start_refusal()
        if refusal is not None:
            return refusal
        job = Job(
            job_id=job_id or Job.new_id(),
            stamp=self.stamp,
            requester=requester,
            channel=channel,
            requested_at=self.clock(),
            threaded=int(self.prefs.threaded(channel)),
        )
        holder = self.store.reserve(job, reconcile_after=self.start_grace)
        if holder is not None:
            return replies.already_running(holder)
        started = self._create_backup(job)
        if isinstance(started, Message):
            return started
        return self._record_started(job, started)

    def _start_refusal(self) -> Message | None:
        """Why not to start now: a backup the bot follows, or a failed pre-flight check."""
        mine = self._running_job()
        if mine is not None:
            return replies.already_running(mine)
        problems = preflight_problems(self.arm.backup_location(), self.arm.list_backups(), self._update_pausing())
        mine = self._running_job()  # another click may have started one while the stamp answered
        if mine is not None:
            return replies.already_running(mine)
        return replies.preflight_refused(self.stamp, problems) if problems else None

    def _create_backup(self, job: Job) -> StartedBackup | Message:
        """``createBackup`` for the reserved ``job``; an answer that does not settle it is left to reconciliation."""
        try:
            return self.arm.start_backup()
        except StampError as exc:
            if exc.code in UPDATE_BLOCKED_CODES:
                self.store.mark_start_failed(job, str(exc))
                return replies.start_blocked_by_update(self.stamp, exc)
            if not definite_refusal(exc):
                # The stamp may have started it: the worker's reconciler lists its backups and finds out.
                log.warning(
                    "createBackup for job %s ended without a clear answer (%s); leaving it to reconciliation",
                    job.job_id,
                    exc,
                )
                if exc.status is None:
                    return replies.start_unknown(self.stamp)
                return replies.start_uncertain(self.stamp, exc.status)
            self.store.mark_start_failed(job, str(exc))
            raise
        except Exception as exc:
            self.store.mark_start_failed(job, type(exc).__name__)
            raise

    def _record_started(self, job: Job, started: StartedBackup) -> Message:
        """Save how to follow the started backup, then announce it."""
        job.backup_id, job.started_at = started.backup_id, self.clock()
        job.poll_url = started.async_url or started.location_url or ""
        job.location_url = started.location_url or ""
        job.strategy = lro.select(job).name  # as the worker chooses on every resume
        job.correlation_id = started.correlation_id or ""
        first_poll = job.started_at + max(self.poll_interval, started.retry_after or 0.0)
        try:
            recorded = self.store.mark_running(job, due_at=first_poll)
        except redis.RedisError as exc:
            # Started, but unrecorded: the job stays "starting", so a worker adopts it from the stamp's list.
            log.error(
                "backup %s started on %s but Redis failed recording it (%s); reconciliation adopts it",
                job.backup_id,
                self.stamp,
                type(exc).__name__,
            )
            return replies.start_unrecorded(self.stamp, job.backup_id)
        if not recorded:
            log.warning("job %s was settled by reconciliation before the stamp answered", job.job_id)
            return replies.start_unknown(self.stamp)
        log.info("backup %s started on %s by %s (job %s)", job.backup_id, self.stamp, job.requester, job.job_id)
        self.announce(job)
        return posts.started(job)

    def announce(self, job: Job) -> None:
        """One short, fenced try at the channel announcement; a worker retries it if this fails.

        The job is claimed like a worker claims it, so the worker can never post the announcement
        while this process does, and the attempt is counted first, so a retry looks for it in the
        channel before posting again (:class:`bot.slack.delivery.Delivery`).
        """
        delivery = Delivery(
            self.store,
            self.poster,
            lease_seconds=ANNOUNCE_LEASE_SECONDS,
            budget=ANNOUNCE_RETRY_SECONDS,
            clock=self.clock,
        )
        delivery.try_once(job.job_id, ANNOUNCEMENT, posts.started(job))

    def status(self, request: Request) -> Message:
        return self.reads.status(replies.status(self.store.active_jobs()), request)

    def list(self, request: Request) -> Message:
        return self.reads.list(request)

    def show(self, request: Request) -> Message:
        return self.reads.show(request)

    def config(self, request: Request) -> Message:
        return self.reads.config(request)

    def history(self, request: Request) -> Message:
        return self.reads.history_page(request)

    def dr(self, request: Request) -> Message:
        return self.reads.dr(request)

    def audit_trail(self, _request: Request) -> Message:
        return replies.audit(self.audit_log.latest())

    def watch(self, request: Request) -> Message:
        mode = request.command.option or "all"
        self.watches.subscribe(self.stamp, request.channel, mode)
        return replies.watch_set(request.channel, self.stamp, mode)

    def cancel(self, _request: Request) -> Message:
        """Azure Stack Hub has no cancel: say so, and show what runs."""
        running = self._running_job()
        on_stamp = None
        if running is None:
            on_stamp = next((b for b in self.arm.list_backups() if not b.is_terminal), None)
        return replies.cancel_impossible(self.stamp, running, on_stamp)

    def threads(self, request: Request) -> Message:
        on = request.command.option == "on"
        self.prefs.set_threaded(request.channel, on)
        return replies.threads_set(request.channel, on)

    def digest(self, request: Request) -> Message:
        """``/azs backup digest ...``: this channel's digest schedule (the worker delivers it)."""
        return schedules.set_digest(ScheduleStore(self.store.redis), self.default_timezone, self.clock(), request)

    def timezone(self, request: Request) -> Message:
        return schedules.set_timezone(ScheduleStore(self.store.redis), request)

    def report_monthly(self, request: Request) -> Message:
        return schedules.set_monthly_report(
            ScheduleStore(self.store.redis), self.default_timezone, self.clock(), request
        )

    def stamps(self, request: Request) -> Message:
        """Every stamp, this one marked as the channel's default (the pipeline chose it as such)."""
        return replies.stamps(list(request.stamps), self.stamp)

    def use_here(self, request: Request) -> Message:
        """``/azs stamps use <stamp>``: this stamp becomes the channel's default."""
        self.prefs.use_stamp(request.channel, self.stamp)
        return replies.stamp_chosen(request.channel, self.stamp)

    def home_section(self) -> Message:
        """This stamp on the App Home tab, read at most once per ``home_cache_seconds`` per process.

        One opener reads the stamp while others for the same stamp wait for that answer (no stampede).
        """
        with self._home_lock:
            if self._home is None or time.monotonic() - self._home[0] >= self.home_cache_seconds:
                self._home = (time.monotonic(), self._read_home_section())
            return self._home[1]

    def _read_home_section(self) -> Message:
        """From the snapshot (the stamp only before its first refresh), with its readiness and update lines."""
        try:
            view, ready, update = self.reads.home_lines()
        except StampError as exc:
            return home.home_stamp(self.stamp, None, None, None, problem=str(exc))
        snapshot = view.snapshot
        return home.home_stamp(
            self.stamp,
            snapshot.location,
            self.reads.latest(view),
            self._running_job(),
            problem=None if snapshot.location else snapshot.error or "the stamp has not answered yet",
            lines=(ready, f"Update: {update}", steward.freshness(view)),
        )


def definite_refusal(exc: StampError) -> bool:
    """Only a 4xx carrying an ARM error says the stamp did not start the backup.

    5xx, gateway errors (502/504), timeouts and an accepted request naming no operation say
    nothing about it; neither does a request timeout (408).
    """
    if exc.code == "AuthenticationFailed" or exc.code == "ForeignHost":
        return True  # refused before anything was sent
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 408 and exc.code is not None


def preflight_problems(location: BackupLocation, backups: list[Backup], updating: str | None = None) -> list[Preflight]:
    """Reasons a backup should not start now; :func:`bot.words.replies.preflight_text` words each for the operator.
    ``updating``: the update state while an update pauses backups (the stamp refuses a start then)."""
    problems = [Preflight("update", status=updating)] if updating else []
    if not location.is_configured:
        problems.append(Preflight("unconfigured"))
    running = next((b for b in backups if not b.is_terminal), None)
    if running is not None:
        problems.append(Preflight("running", backup_id=running.backup_id, status=running.status))
    capacity = parse_capacity(location.available_capacity)
    if capacity is not None and capacity < needed_capacity(backups):
        problems.append(Preflight("capacity", free=location.available_capacity or "", needed_kb=_last_size_kb(backups)))
    return problems


def _last_size_kb(backups: list[Backup]) -> int:
    """The last backup's reported size; 0 when no backup reports one (every recorded stamp)."""
    return next((b.size_kb for b in backups if b.size_kb), None) or 0


MIN_BACKUP_BYTES = 1024**3
"""About 1 GB per backup on Azure AD stamps, the smallest figure Microsoft gives (AD FS stamps: ~20 GB)."""


def needed_capacity(backups: list[Backup]) -> int:
    """Bytes a new backup needs at least: the last reported size, never under 1 GB.

    Real stamps report no ``backupSizeInKb`` in backup lists and 0 in operation results (all recorded
    bodies), so in practice this is the 1 GB floor.
    """
    return max(MIN_BACKUP_BYTES, _last_size_kb(backups) * 1024)
