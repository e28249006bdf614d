"""Prometheus metrics, served on ``/metrics`` by the web process and on ``AZS_METRICS_PORT`` by workers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS_IN_FLIGHT = Gauge("azs_jobs_in_flight", "Backups started from Slack and not yet reported")
POLLS = Counter("azs_polls_total", "Polls of running backups", ["strategy", "result"])
ARM_ERRORS = Counter("azs_arm_errors_total", "Failed stamp (ARM) requests, by HTTP status or kind", ["code"])
SLACK_ERRORS = Counter("azs_slack_errors_total", "Failed Slack Web API calls, by Slack error", ["error"])
COMMANDS = Counter("azs_commands_total", "Slash commands and clicks answered", ["action", "outcome"])
REPORT_LAG = Histogram("azs_report_lag_seconds", "From the stamp finishing a backup to its outcome in Slack",
                       buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800))
