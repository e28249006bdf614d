"""Prometheus metrics, served on ``/metrics`` on ``AZS_METRICS_PORT`` by every process (see :mod:`bot.ops.probes`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from bot.state.job import Job

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
