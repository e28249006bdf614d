"""Every number the bot runs by, in one place: the range of each number setting, and the fixed limits.

A **setting** is a number a deployment may tune: it has a field in :class:`bot.config.settings.Settings`, an
``AZS_*`` variable, a row in the README's settings table, and its range in :data:`LIMITS` (outside it the setting is
refused by name). A **fixed limit** below is set by a protocol (Slack's, ARM's), by another limit it must agree
with, or by safety; changing one is a code change, and each says why it is what it is.

Plain data: it imports nothing of the bot, so every layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """The range of a number setting: what a person would set. Outside it the setting is refused by name, so an
    absurd value (``1e306`` days) cannot overflow later inside a transaction or turn a safety limit off."""

    low: float
    high: float
    unit: str = "seconds"
    whole: bool = False

    def words(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        unit = f" of {self.unit}" if self.unit else ""
        return f"{kind}{unit} from {self.low:g} to {self.high:g}"


DAY = 86_400.0

# --- fixed limits: the web server and the front door -------------------------------------------------------------

MAX_BODY_BYTES = 1024 * 1024
"""Far above Slack's largest real payload (a few tens of KB); larger bodies get 413 unread."""
SIGNATURE_WINDOW_SECONDS = 300
"""Slack's replay window: a request whose timestamp is further than this from now is refused."""
SIGNATURE_MEMORY_SECONDS = 2 * SIGNATURE_WINDOW_SECONDS
"""A signature accepted now carries a timestamp at most one window ahead: it is fresh for two windows at most."""
DELIVERY_MEMORY_SECONDS = 900
"""Slack retries an event about 1 and 5 minutes after the first try; a third of an hour covers the last one."""
WEB_THREADS = 32
"""Requests that reached the app at once: each waits only for its listener's ack (milliseconds)."""
WEB_CONNECTION_LIMIT = 500
"""Open connections served at once (more wait in the listen backlog); ``AZS_CONNECTIONS_PER_ADDRESS`` is a share."""
WEB_IDLE_SECONDS = 10
"""An idle connection, or one that stopped sending, is closed after this (Slack sends a request at once)."""
REQUEST_DEADLINE_SECONDS = 10.0
"""A whole request must arrive within this; Slack gives up on the ack after 3 s anyway."""
LOOP_MAX_AGE = 30.0
"""An event loop beats every second; this long without a beat, its ``/healthz`` says it stalled."""
ACK_PRIORITY_MAX_WAIT = 2.0
"""Work after an ack waits at most this long for the acks in flight to finish (they have 3 s; replies 30 min)."""
LISTENER_THREADS = 32
"""Bolt's listener threads: one per request being acked, as many as the server's threads."""

# --- fixed limits: the request pipeline ----------------------------------------------------------------------------

RESPONSE_URL_LIFETIME = 1800.0
"""Slack takes replies on a ``response_url`` for 30 minutes: older recovered work is dropped, not answered."""
RECOVERED_START_MAX_AGE = 120.0
"""A Start click found this long after it was made is not acted on: the operator is told to click again."""
INBOX_LEASE_SECONDS = 10.0
"""A process that stops renewing its acked work for this long loses it to another (a few recovery turns)."""
INBOX_RECOVERY_SECONDS = 2.0
"""How often leases are renewed and dead processes' work is looked for: five turns per lease."""
ORPHANS_PER_TURN = 20
"""Dead processes' items taken over per turn, so one process does not take a whole backlog at once."""
USER_LIMIT_WINDOW_SECONDS = 60
"""``AZS_USER_COMMANDS_PER_MINUTE`` counts over a sliding minute."""
USER_LIMIT_COUNTER_TTL = 120
"""A per-user, per-minute counter outlives its minute and the next, so late clocks still find it."""
HOME_OPEN_SECONDS = 10.0
"""One App Home refresh per user per this many seconds per process; Slack keeps showing the last one."""
PER_USER_MEMORY = 10_000
"""Users one process remembers for its in-process limits before it forgets those whose window has passed."""
INTERACTIVE_ARM_ATTEMPTS = 2
"""Stamp calls behind a reply are tried twice: the work lane is small, and the operator can ask again."""
INTERACTIVE_ARM_MAX_BACKOFF = 5.0
"""The longest wait between those two tries, in seconds."""

# --- fixed limits: who may do what, and the audit trail ------------------------------------------------------------

GROUP_CACHE_SECONDS = 300.0
"""The operator group's members are read again after this (within ``AZS_OPERATOR_GROUP_MAX_AGE``)."""
GROUP_FIRST_RETRY_SECONDS = 5.0
GROUP_MAX_RETRY_SECONDS = 300.0
"""A failed group read is retried after 5 s, doubling to 5 min: checks in between make no Slack call."""
GROUP_COLD_START_WAIT_SECONDS = 10.0
"""With no member known yet, a check waits this long for the first read rather than refuse an operator."""
AUDIT_MAX_ENTRIES = 10_000
"""The audit stream keeps about this many entries (Redis trims the oldest)."""
AUDIT_REPEAT_WINDOW_SECONDS = 60
"""A refusal within this long of the same one adds to its entry; a minute of quiet starts a new one."""

# --- fixed limits: Redis --------------------------------------------------------------------------------------------

REDIS_CONNECT_TIMEOUT = 1.0
REDIS_READ_TIMEOUT = 2.0
"""Short, so a Redis outage turns into a clear reply well inside Slack's 3 s."""
REDIS_ACK_PATH_TIMEOUT = 0.5
"""The Socket Mode envelope dedupe and the snapshot reads answered in the ack sit on the ack path: they must leave
most of Slack's 3 s to the ack."""
IN_ACK_ADMIT_MAX = 1.0
"""A command whose admission (its Redis round trip) took longer than this since it arrived is acked at once and
answered after the ack: the snapshot read would risk Slack's 3 s."""
IN_ACK_BUDGET = 1.5
"""A snapshot read answered in the ack must be ready this long after the command arrived, before its audit entry
(at most one more :data:`REDIS_ACK_PATH_TIMEOUT`); later, it is answered after the ack: a late ack is dropped by
Slack, and the answer with it."""
REPLICA_ACK_TIMEOUT_MS = 1000
"""How long a must-not-lose write waits for a replica; well inside Slack's 3 s for the start."""
HEALTH_PROBLEM_TTL_SECONDS = 900
"""A reported problem (Slack rejects the token, Redis lost data) is shown this long unless reported again."""

# --- fixed limits: Socket Mode ------------------------------------------------------------------------------------

SOCKET_MAX_CONNECTIONS = 10
"""Slack's limit per app."""
SOCKET_HELLO_TIMEOUT = 10.0
"""Slack greets a new connection at once; silence means a bad URL or a dead server."""
SOCKET_DRAIN_TIMEOUT = 3.5
"""A retired connection waits this long for its in-flight acks (Slack allows 3 s)."""
SOCKET_RETIRE_GRACE = 0.5
"""A retired connection keeps reading this long, for envelopes already on the wire."""
SOCKET_WARNED_LINGER = 60.0
"""After a ``warning`` the old connection serves on until Slack's refresh, at most this long."""
SOCKET_HEALTHY_AFTER = 30.0
"""A connection that lived this long resets the reconnect backoff."""
SOCKET_MAX_BACKOFF = 30.0
"""The longest wait between reconnect attempts."""
SOCKET_DISPATCH_THREADS = 16
"""Envelopes dispatched to Bolt at once; each holds a thread only until its ack."""
ENVELOPE_MEMORY_SECONDS = 600.0
"""How long an envelope id is remembered: Slack redelivers an unacked envelope within seconds."""
ENVELOPE_MEMORY_COUNT = 4096
"""Envelope ids one process remembers in memory, for when Redis does not answer."""

# --- fixed limits: the worker (read through Settings, where tests shorten them) --------------------------------------

WORKER_LOOP_MAX_AGE = 60.0
"""The worker's loop is stalled after twice the lease without a turn, and never sooner than this."""
POLL_ATTEMPTS = 2
"""Stamp calls the lease rule counts per claim. The worker makes one attempt per call and never sleeps; a
claim polls once, and after an operation ends reads the final backup (a second call, rarely a third)."""
POLL_MAX_BACKOFF = 5.0
"""Slack for a token refresh and Redis round trips within one claim, in seconds."""
MAX_RETRY_DELAY = 300.0
"""The longest backoff after consecutive failures, and how long a job for an unknown stamp waits."""
MAX_PERMANENT_FAILURES = 10
"""Consecutive non-retryable answers (401 after a token refresh, 403, 404) before a job is reported failed."""
MAX_ANNOUNCE_ATTEMPTS = 5
"""Refused start announcements before the outcome is posted on its own, saying so."""
POLL_CONCURRENCY = 16
"""Jobs one worker polls at the same time."""
ANNOUNCE_LEASE_SECONDS = 30.0
ANNOUNCE_RETRY_SECONDS = 5.0
"""The web process's try at the announcement: short, since a worker retries it (fenced) if it fails."""

# --- the snapshot's series (issue 19) ---------------------------------------------------------------------------

CAPACITY_SAMPLES = 500
"""``availableCapacity`` samples kept per stamp (at one per ``CAPACITY_SPACING``, about 125 days)."""
CAPACITY_SPACING = 6 * 3600.0
"""The least time between two kept capacity samples, in seconds."""
CONFIG_CHANGES_KEPT = 200
"""Backup configuration changes kept per stamp (frequency, retention, scheduler, target, thumbprint)."""

SNAPSHOT_STALE_INTERVALS = 3
"""Snapshot refresh intervals (``AZS_SNAPSHOT_INTERVAL``) missed before a snapshot is shown as stale."""
FIRST_REPORT_YEAR = 2016
"""The earliest year a monthly report covers (before Azure Stack Hub kept infrastructure backups)."""
SCHEDULE_CHECK_SECONDS = 10.0
"""How often each worker looks for an owed digest or monthly report (a Redis read; delivery is once per period)."""

JOB_HISTORY_LENGTH = 50
"""Finished jobs remembered per stamp, to name who started a backup the watcher reports."""

# --- the settings' ranges ------------------------------------------------------------------------------------------

LIMITS: dict[str, Limit] = {
    "AZS_POLL_INTERVAL": Limit(0.05, 3600.0),
    "AZS_LEASE_SECONDS": Limit(1.0, DAY),
    "AZS_START_GRACE_SECONDS": Limit(1.0, DAY),
    "AZS_BACKUP_TIMEOUT": Limit(1.0, DAY),
    "AZS_MAX_RETRY_AFTER": Limit(1.0, DAY),
    "AZS_HTTP_TIMEOUT": Limit(1.0, 600.0),
    "AZS_WATCH_INTERVAL": Limit(1.0, DAY),
    "AZS_MAX_BACKUP_AGE_HOURS": Limit(1.0, 720.0, "hours"),
    "AZS_PROGRESS_INTERVAL": Limit(1.0, 3600.0),
    "AZS_JOB_RETENTION_DAYS": Limit(1.0, 3650.0, "days"),
    "AZS_OPERATOR_GROUP_MAX_AGE": Limit(1.0, DAY),
    "AZS_SOCKET_PING_INTERVAL": Limit(1.0, 60.0),
    "AZS_SLACK_RETRY_SECONDS": Limit(0.0, 600.0),
    "AZS_HOME_CACHE_SECONDS": Limit(1.0, 3600.0),
    "AZS_WORK_THREADS": Limit(1, 64, "", whole=True),
    "AZS_LANE_QUEUE": Limit(1, 1000, "", whole=True),
    "AZS_SOCKET_CONNECTIONS": Limit(1, SOCKET_MAX_CONNECTIONS, "", whole=True),
    "AZS_USER_COMMANDS_PER_MINUTE": Limit(1, 10_000, "", whole=True),
    "AZS_CONNECTIONS_PER_ADDRESS": Limit(1, WEB_CONNECTION_LIMIT, "", whole=True),
    # The history keeps what the stamp no longer does (14 days at most), so it keeps at least that long.
    "AZS_HISTORY_DAYS": Limit(14, 3650, "days", whole=True),
    "AZS_SNAPSHOT_INTERVAL": Limit(1.0, 3600.0),
}
"""Every number setting and its range (the README's settings table lists them); one without an entry is a
``KeyError`` at the first start, so a new setting cannot arrive without a maximum."""
