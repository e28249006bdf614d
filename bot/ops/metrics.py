"""Prometheus metrics, served on ``/metrics`` on ``AZS_METRICS_PORT`` by every process (see :mod:`bot.ops.probes`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.model.backup import Backup, Outcome
from bot.model.snapshot import StampSnapshot

if TYPE_CHECKING:
    from bot.model.update import UpdateStates
    from bot.state.history import HistoryStore
    from bot.state.job import Job
    from bot.state.snapshots import SnapshotStore

log = logging.getLogger(__name__)

JOBS_IN_FLIGHT = Gauge("azs_jobs_in_flight", "Backups started from Slack and not yet reported")
POLLS = Counter("azs_polls_total", "Polls of running backups", ["strategy", "result"])
ARM_ERRORS = Counter("azs_arm_errors_total", "Failed stamp (ARM) requests, by HTTP status or kind", ["code"])
SLACK_ERRORS = Counter("azs_slack_errors_total", "Failed Slack Web API calls, by Slack error", ["error"])
COMMANDS = Counter("azs_commands_total", "Slash commands and clicks answered", ["action", "outcome"])
REPORT_LAG = Histogram(
    "azs_report_lag_seconds",
    "From the stamp finishing a backup to its outcome in Slack",
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
REQUESTS_NOT_ACTED_ON = Counter(
    "azs_requests_not_acted_on_total",
    "Signed requests answered without acting on them: replay (signature seen before), retry (Slack delivery "
    "already taken), rate_limited (over the user's per-minute limit)",
    ["reason"],
)
CONNECTIONS_REFUSED = Counter(
    "azs_connections_refused_total",
    "Connections the web closed on accept: their client address already held its share (AZS_CONNECTIONS_PER_ADDRESS)",
)
SOCKET_ENVELOPES = Counter(
    "azs_socket_envelopes_total",
    "Socket Mode envelopes, by type and outcome (acked, duplicate, unhandled, failed, ack_lost)",
    ["type", "outcome"],
)
SOCKET_ACK_SECONDS = Histogram(
    "azs_socket_ack_seconds",
    "From a Socket Mode envelope's arrival to its ack",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
)
SOCKET_RECONNECTS = Counter(
    "azs_socket_reconnects_total",
    "Socket Mode connections replaced, by reason (refresh, disconnect, dropped, stale, connect_failed)",
    ["reason"],
)
SOCKET_CONNECTIONS = Gauge("azs_socket_connections", "Socket Mode connections open and answering pings")

# Alert inputs (deploy/prometheus/alerts.yaml), refreshed by each worker's housekeeping every few seconds.
JOB_OLDEST_AGE = Gauge(
    "azs_job_oldest_age_seconds",
    "Age of the oldest job in each state: since requested (starting), started (running) "
    "or finished on the stamp with its outcome not yet posted (finished); 0 when none",
    ["state"],
)
PROBLEM = Gauge(
    "azs_problem",
    "1 while /healthz reports this problem (redis-data: Redis lost its data; "
    "slack: Slack rejects the bot token), else 0",
    ["component"],
)

_AGE_SINCE = {"starting": "requested_at", "running": "started_at", "finished": "finished_at"}


def record_jobs(jobs: Iterable[Job], now: float | None = None) -> None:
    """Jobs in flight, and how long the oldest has waited in each state (what on-call alerts on)."""
    now = time.time() if now is None else now
    oldest = dict.fromkeys(_AGE_SINCE, 0.0)
    count = 0
    for job in jobs:
        count += 1
        since = _AGE_SINCE.get(job.state.value)
        if since is not None:
            oldest[job.state.value] = max(oldest[job.state.value], now - (getattr(job, since) or job.requested_at))
    JOBS_IN_FLIGHT.set(count)
    for state, age in oldest.items():
        JOB_OLDEST_AGE.labels(state=state).set(round(age, 1))


def record_problems(problems: Mapping[str, str], components: Iterable[str]) -> None:
    """One 0/1 series per known problem, so an alert fires on it and clears when it goes."""
    for component in components:
        PROBLEM.labels(component=component).set(1 if component in problems else 0)


# Per stamp, in the worker. The ``stamp`` label only ever takes a configured stamp's name (the worker follows
# no other), and ``status`` an :class:`bot.model.backup.Outcome` value or ``error`` (ended without an answer).
BACKUP_OUTCOMES = Counter(
    "azs_backup_outcomes_total",
    "Backups the worker followed to their end, by stamp and outcome (succeeded, partial, failed, skipped, "
    "deleted; error: given up without the stamp's answer)",
    ["stamp", "status"],
)
BACKUP_DURATION = Histogram(
    "azs_backup_duration_seconds",
    "How long the backups the worker followed ran on the stamp (its timeTakenInSeconds, else start to end)",
    ["stamp"],
    buckets=(300, 600, 900, 1200, 1500, 1800, 2400, 3000, 3600, 5400, 7200, 10800, 14400),
)
OUTCOME_STATUSES = (*(o.value for o in Outcome if o is not Outcome.RUNNING), "error")


def record_outcome(stamp: str, backup: Backup | None, started_at: float, ended_at: float) -> None:
    """One followed backup ended: its outcome, and how long it ran when it did run."""
    status = backup.outcome.value if backup is not None else "error"
    BACKUP_OUTCOMES.labels(stamp=stamp, status=status).inc()
    seconds = backup.duration_seconds if backup is not None else None
    if seconds is None and backup is not None and started_at:
        seconds = ended_at - started_at
    if seconds is not None and seconds >= 0:
        BACKUP_DURATION.labels(stamp=stamp).observe(seconds)


def _stamp_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    """The per-stamp gauges, empty: newest good backup's time and age, the frequency, and update windows."""
    stamp = ["stamp"]
    return (
        GaugeMetricFamily(
            "azs_last_successful_backup_timestamp_seconds",
            "Creation time of the stamp's newest Succeeded backup in the bot's history",
            labels=stamp,
        ),
        GaugeMetricFamily(
            "azs_last_successful_backup_age_seconds", "Age of the stamp's newest Succeeded backup", labels=stamp
        ),
        GaugeMetricFamily(
            "azs_backup_frequency_seconds",
            "The stamp's scheduled backup frequency (backupFrequencyInHours of its backup location, last read)",
            labels=stamp,
        ),
        GaugeMetricFamily(
            "azs_update_in_progress",
            "1 while the stamp's update state pauses its backups (running, failed or needing attention), else 0",
            labels=stamp,
        ),
    )


class StampCollector(Collector):
    """Per stamp, read at scrape time: the newest good backup in the durable history (its time and age), and
    from the stamp's snapshot its backup frequency and whether an update pauses its backups. One history read
    and one snapshot read per stamp; what is not known, or a Redis that does not answer, gives no value (never a
    made-up one), except ``azs_update_in_progress``, 0 until a snapshot says otherwise."""

    def __init__(
        self,
        stamps: Iterable[str],
        history: HistoryStore,
        snapshots: SnapshotStore,
        update_states: UpdateStates,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stamps = tuple(stamps)
        self.history, self.snapshots, self.update_states, self.clock = history, snapshots, update_states, clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families without values: registering reads no Redis (and finds a name registered twice)."""
        yield from _stamp_families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        last, age, frequency, updating = _stamp_families()
        now = self.clock()
        for name in self.stamps:
            try:
                created = self._newest_good(name)
                view = self.snapshots.read(name, now)
            except redis.RedisError as exc:
                log.debug("stamp metrics for %s skipped: Redis did not answer (%s)", name, type(exc).__name__)
                continue
            if created is not None:
                last.add_metric([name], created)
                age.add_metric([name], max(0.0, now - created))
            snapshot = view.snapshot if view is not None else StampSnapshot()
            if snapshot.location is not None and snapshot.location.frequency_hours:
                frequency.add_metric([name], snapshot.location.frequency_hours * 3600.0)
            updating.add_metric([name], 1.0 if self._update_pauses(snapshot) else 0.0)
        yield from (last, age, frequency, updating)

    def _update_pauses(self, snapshot: StampSnapshot) -> bool:
        update = snapshot.update
        return update is not None and self.update_states.classify(update.state).pauses_backups

    def _newest_good(self, stamp: str) -> float | None:
        entry = self.history.newest_succeeded(stamp)
        return None if entry is None else entry.created if entry.created is not None else entry.first_seen


_REGISTERED: dict[CollectorRegistry, StampCollector] = {}


def register_stamp_metrics(collector: StampCollector, registry: CollectorRegistry = REGISTRY) -> None:
    """The per-stamp series, scraped from this process from now on (in place of a collector registered before:
    a process builds one worker, a test may build more); the outcome series start at 0 per stamp, so a rule's
    ``increase()`` sees the first outcome."""
    previous = _REGISTERED.pop(registry, None)
    if previous is not None:
        registry.unregister(previous)
    registry.register(collector)
    _REGISTERED[registry] = collector
    for stamp in collector.stamps:
        BACKUP_DURATION.labels(stamp=stamp)
        for status in OUTCOME_STATUSES:
            BACKUP_OUTCOMES.labels(stamp=stamp, status=status)
