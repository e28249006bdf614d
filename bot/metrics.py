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
SOCKET_ENVELOPES = Counter("azs_socket_envelopes_total", "Socket Mode envelopes, by type and outcome "
                           "(acked, duplicate, unhandled, failed, ack_lost)", ["type", "outcome"])
SOCKET_ACK_SECONDS = Histogram("azs_socket_ack_seconds", "From a Socket Mode envelope's arrival to its ack",
                               buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5))
SOCKET_RECONNECTS = Counter("azs_socket_reconnects_total", "Socket Mode connections replaced, by reason "
                            "(refresh, disconnect, dropped, stale, connect_failed)", ["reason"])
SOCKET_CONNECTIONS = Gauge("azs_socket_connections", "Socket Mode connections open and answering pings")
