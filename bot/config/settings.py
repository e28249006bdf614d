"""Configuration from the environment, validated once at start.

Every process calls :func:`load_settings` before doing anything else, so a missing or malformed
setting stops it with one line that names the variable instead of failing on the first request.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.config import limits
from bot.config.env import SettingsError, number, optional_file, required, shown_url, url_parts, whole
from bot.config.limits import POLL_ATTEMPTS, POLL_MAX_BACKOFF
from bot.config.proxy import proxy_passwords
from bot.config.redis_url import RedisUrlError, check_url, url_password
from bot.config.stamps import StampSettings, load_stamp, load_stamps_file

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class Settings:
    """Everything a process needs; secrets are excluded from ``repr`` so they never reach a log."""

    redis_url: str = field(repr=False)
    stamps: tuple[StampSettings, ...]
    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    operators: frozenset[str] = frozenset()
    operator_group: str | None = None
    channels: frozenset[str] = frozenset()
    poll_interval: float = 30.0
    lease_seconds: float = 90.0
    start_grace: float = 300.0
    backup_timeout: float = 7200.0
    max_retry_after: float = 600.0
    """The longest ``Retry-After`` from a stamp that is obeyed (``AZS_MAX_RETRY_AFTER``)."""
    host: str = "0.0.0.0"
    """Address the web server and the probe/metrics servers bind (``HOST``)."""
    port: int = 3000
    metrics_port: int = 9102
    watch_interval: float = 300.0
    max_backup_age_hours: float = 48.0
    progress_interval: float = 60.0
    work_threads: int = 1
    job_retention_days: float = 30.0
    operator_group_max_age: float = 900.0
    redis_ca_bundle: str | None = None
    """CA bundle that ``rediss://`` servers and sentinels are checked against (``REDIS_CA_BUNDLE``)."""
    socket_connections: int = 2
    """Socket Mode connections per process (``AZS_SOCKET_CONNECTIONS``, Slack allows 10 per app)."""
    socket_ping_interval: float = 5.0
    """Seconds between Socket Mode pings; a link without a pong is replaced (``AZS_SOCKET_PING_INTERVAL``)."""
    slack_retry_seconds: float = 20.0
    """How long one post may wait out Slack's 429s (``AZS_SLACK_RETRY_SECONDS``); capped at a third of the lease."""
    user_commands_per_minute: int = 20
    """Commands and clicks per user per minute, counted across all processes (``AZS_USER_COMMANDS_PER_MINUTE``)."""
    connections_per_address: int = 50
    proxy_secrets: tuple[str, ...] = field(default=(), repr=False)
    """Passwords in the proxy variables, for the log's secret filter (read from the environment, not a setting)."""
    # Issue 19: the backup history and the update states.
    history_days: int = 400
    """Days a backup stays in the bot's history after it was created (``AZS_HISTORY_DAYS``)."""
    update_clean_states: tuple[str, ...] = (
        "AppliedSuccessfully",
        "AppliedUpdateAvailableSuccessfully",
        "UpdateAvailable",
    )
    """Update location states in which backups run as usual (``AZS_UPDATE_CLEAN_STATES``). Only
    ``AppliedSuccessfully`` was seen on the wire; the other two are read from their names."""
    update_running_states: tuple[str, ...] = ("PreparationInProgress", "UpdateInProgress")
    """States in which an update is preparing or running: the stamp skips scheduled backups and blocks
    on-demand ones (``AZS_UPDATE_RUNNING_STATES``; never recorded, read from the names and the backup docs)."""
    update_failed_states: tuple[str, ...] = ("PreparationFailed", "UpdateFailed", "NeedsAttention")
    """States of a failed or blocked update: not clean, so backups count as paused until the state is clean
    again (``AZS_UPDATE_FAILED_STATES``; whether a stamp still blocks backups in them is unverified)."""
    snapshot_interval: float = 60.0
    """Seconds between the worker's reads of each stamp for the snapshot that commands answer from
    (``AZS_SNAPSHOT_INTERVAL``): three requests per stamp per interval, whoever is typing."""
    capacity_samples: int = limits.CAPACITY_SAMPLES
    capacity_spacing: float = limits.CAPACITY_SPACING
    config_changes_kept: int = limits.CONFIG_CHANGES_KEPT
    """Connections one client address may hold open to the web process (``AZS_CONNECTIONS_PER_ADDRESS``)."""
    lane_queue: int = 16
    """Requests that may wait in one stamp's lane after their ack; past it, "busy" (``AZS_LANE_QUEUE``)."""
    home_cache_seconds: float = 60.0
    """How long a process reuses a stamp's App Home section: ARM reads per stamp (``AZS_HOME_CACHE_SECONDS``)."""
    # Fixed limits (bot/config/limits.py, no variable): carried here because the worker reads them from its
    # settings, and tests shorten them.
    max_retry_delay: float = limits.MAX_RETRY_DELAY
    max_permanent_failures: int = limits.MAX_PERMANENT_FAILURES
    max_announce_attempts: int = limits.MAX_ANNOUNCE_ATTEMPTS
    poll_concurrency: int = limits.POLL_CONCURRENCY

    @property
    def snapshot_stale_after(self) -> float:
        """Seconds after which a snapshot is shown as stale: a few refreshes missed, not one slow read."""
        return limits.SNAPSHOT_STALE_INTERVALS * self.snapshot_interval

    @property
    def stamp(self) -> StampSettings:
        """The default stamp: the first one listed."""
        return self.stamps[0]

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line or a message."""
        values = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            *(s.client_secret or "" for s in self.stamps),
            url_password(self.redis_url) or "",
            *self.proxy_secrets,
        ]
        return [v for v in values if len(v) >= 6]


SLACK_IDS = {
    # Slack's id prefixes: U/W users (W on Enterprise Grid), C/G channels (G: older private ones), S user groups.
    "AZS_OPERATORS": (re.compile(r"^[UW][A-Z0-9]{1,20}$"), "Slack user ids such as U012AB3CD"),
    "AZS_CHANNELS": (re.compile(r"^[CG][A-Z0-9]{1,20}$"), "Slack channel ids such as C012AB3CD"),
    "AZS_OPERATOR_GROUP": (re.compile(r"^S[A-Z0-9]{1,20}$"), "a Slack user group id such as S012AB3CD"),
}
HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


def _slack_ids(env: Mapping[str, str], name: str) -> frozenset[str]:
    """Comma-separated Slack ids; anything else (``<@U123>``, names, mrkdwn) stops the process."""
    pattern, expected = SLACK_IDS[name]
    ids = frozenset(part.strip() for part in env.get(name, "").split(",") if part.strip())
    bad = sorted(i for i in ids if not pattern.match(i))
    if bad:
        raise SettingsError(f"{name} must list {expected}, got {bad[0][:40]!r}")
    return ids


def _host(env: Mapping[str, str]) -> str:
    """``HOST``: an IP literal (IPv6 with or without brackets) or a host name; stored without brackets."""
    raw = env.get("HOST", "").strip() or "0.0.0.0"
    bare = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])  # "fe80::1%eth0": a zone index is allowed
        return bare
    except ValueError:
        if HOST_NAME.match(bare):
            return bare
    raise SettingsError(f"HOST must be an IP address or a host name to bind, got {raw[:70]!r}")


def _redis_url(env: Mapping[str, str]) -> str:
    """``REDIS_URL``: any form :func:`bot.state.connection.connect` understands (Sentinel and TLS included)."""
    value = env.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    try:
        return check_url(value)
    except RedisUrlError as exc:
        raise SettingsError(f"REDIS_URL {exc}") from None
    except ValueError:  # urlsplit's own complaints (a broken IPv6 literal) may quote the URL: don't
        raise SettingsError(f"REDIS_URL is not a valid URL, got {shown_url(value)!r}") from None


def check_cross_fields(settings: Settings) -> None:
    """The rules that tie two settings together; the message names both."""
    slowest = max(settings.stamps, key=lambda s: s.timeout_seconds)
    timeout = slowest.timeout_seconds
    if settings.start_grace <= timeout:
        raise SettingsError(
            f"AZS_START_GRACE_SECONDS ({settings.start_grace:g}) must be above AZS_HTTP_TIMEOUT ({timeout:g}"
            f"{'' if len(settings.stamps) == 1 else ', stamp ' + slowest.name}): a slow but successful start "
            "would be taken for a failed one"
        )
    longest_poll = timeout * POLL_ATTEMPTS + POLL_MAX_BACKOFF
    if settings.lease_seconds <= longest_poll:
        raise SettingsError(
            f"AZS_LEASE_SECONDS ({settings.lease_seconds:g}) must be above the longest poll: AZS_HTTP_TIMEOUT "
            f"({timeout:g}) x {POLL_ATTEMPTS} calls + {POLL_MAX_BACKOFF:g} s = {longest_poll:g} s; "
            "otherwise a second worker takes the job over while the first still polls"
        )


LOOPBACK_NAMES = frozenset({"localhost"})
_URL_TROUBLE = re.compile(r"[\\\s\x00-\x1f\x7f]")
"""Characters HTTP clients and ``urlsplit`` may read differently (backslash, white space, control characters)."""


def _slack_api_url(env: Mapping[str, str]) -> str:
    """Where the bot token is sent: over https anywhere, over plain http only to this machine (a local fake)."""
    url = env.get("SLACK_API_URL", "").strip() or Settings.slack_api_url
    scheme, netloc, _ = url_parts("SLACK_API_URL", url)
    if scheme not in ("http", "https") or not url.endswith("/api/") or not netloc:
        raise SettingsError(f"SLACK_API_URL must be a URL ending in /api/, got {shown_url(url)!r}")
    if "@" in netloc or _URL_TROUBLE.search(url):
        raise SettingsError(
            f"SLACK_API_URL must not carry a user name, backslashes, spaces or control characters, "
            f"got {shown_url(url)!r}"
        )
    if scheme == "http" and not _loopback(urlsplit(url).hostname or ""):
        raise SettingsError(
            "SLACK_API_URL may use http:// only on this machine (127.0.0.0/8, ::1, localhost); anywhere else it "
            f"must be https://, or the bot token would cross the network in clear text; got {shown_url(url)!r}"
        )
    return url


def _loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(env: Mapping[str, str], name: str, default: int, note: str) -> int:
    """A TCP port; ``note`` says when 0 (off) is allowed."""
    raw = env.get(name, "").strip() or str(default)
    lowest = 0 if note else 1
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5) or not lowest <= int(raw) < 65536:
        raise SettingsError(f"{name} must be a TCP port number{note}, got {raw[:40]!r}")
    return int(raw)


UPDATE_STATE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
MAX_UPDATE_STATES = 32
UPDATE_STATE_LISTS = {
    "AZS_UPDATE_CLEAN_STATES": "update_clean_states",
    "AZS_UPDATE_RUNNING_STATES": "update_running_states",
    "AZS_UPDATE_FAILED_STATES": "update_failed_states",
}
"""Each update-state variable and its ``Settings`` field; a state may be in one list only."""


def _state_list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list of update location states (``AppliedSuccessfully,UpdateAvailable``); empty keeps the default."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    states = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    bad = next((s for s in states if not UPDATE_STATE.match(s)), None)
    if bad is not None or not states or len(states) > MAX_UPDATE_STATES:
        raise SettingsError(
            f"{name} must list 1 to {MAX_UPDATE_STATES} update states such as AppliedSuccessfully (letters and "
            f"digits, comma-separated), got {(bad or raw)[:40]!r}"
        )
    return states


def _update_states(env: Mapping[str, str]) -> tuple[tuple[str, ...], ...]:
    """The clean, running and failed update-state lists; a state in two of them is refused, naming both."""
    lists = {name: _state_list(env, name, getattr(Settings, field)) for name, field in UPDATE_STATE_LISTS.items()}
    seen: dict[str, str] = {}
    for name, states in lists.items():
        for state in states:
            other = seen.setdefault(state.lower(), name)
            if other != name:
                raise SettingsError(
                    f"{name} and {other} both list the update state {state[:64]!r}: a state has one meaning"
                )
    return tuple(lists.values())


def load_settings(env: Mapping[str, str] | None = None, *, need_slack: bool = True) -> Settings:
    """Validate the environment; raise :class:`SettingsError` naming the first bad variable."""
    env = os.environ if env is None else env
    slack_api_url = _slack_api_url(env)
    port_raw = str(_port(env, "PORT", Settings.port, ""))
    metrics_raw = str(_port(env, "AZS_METRICS_PORT", Settings.metrics_port, " (0 = off)"))
    operators = _slack_ids(env, "AZS_OPERATORS")
    groups = _slack_ids(env, "AZS_OPERATOR_GROUP")
    if len(groups) > 1:
        raise SettingsError("AZS_OPERATOR_GROUP takes one user group id, got several")
    update_states = _update_states(env)
    settings = Settings(
        redis_url=_redis_url(env),
        stamps=load_stamps_file(stamps_file)
        if (stamps_file := env.get("AZS_STAMPS_FILE", "").strip())
        else (load_stamp(env),),
        slack_bot_token=required(env, "SLACK_BOT_TOKEN", "set it to the app's xoxb- bot token"),
        slack_signing_secret=(
            required(env, "SLACK_SIGNING_SECRET", "copy it from the app's Basic Information page")
            if need_slack
            else env.get("SLACK_SIGNING_SECRET", "")
        ),
        slack_app_token=env.get("SLACK_APP_TOKEN", "").strip(),
        slack_api_url=slack_api_url,
        operators=operators,
        operator_group=next(iter(groups), None),
        channels=_slack_ids(env, "AZS_CHANNELS"),
        poll_interval=number(env, "AZS_POLL_INTERVAL", Settings.poll_interval),
        lease_seconds=number(env, "AZS_LEASE_SECONDS", Settings.lease_seconds),
        start_grace=number(env, "AZS_START_GRACE_SECONDS", Settings.start_grace),
        backup_timeout=number(env, "AZS_BACKUP_TIMEOUT", Settings.backup_timeout),
        max_retry_after=number(env, "AZS_MAX_RETRY_AFTER", Settings.max_retry_after),
        host=_host(env),
        port=int(port_raw),
        metrics_port=int(metrics_raw),
        watch_interval=number(env, "AZS_WATCH_INTERVAL", Settings.watch_interval),
        max_backup_age_hours=number(env, "AZS_MAX_BACKUP_AGE_HOURS", Settings.max_backup_age_hours),
        progress_interval=number(env, "AZS_PROGRESS_INTERVAL", Settings.progress_interval),
        work_threads=whole(env, "AZS_WORK_THREADS", Settings.work_threads),
        job_retention_days=number(env, "AZS_JOB_RETENTION_DAYS", Settings.job_retention_days),
        operator_group_max_age=number(env, "AZS_OPERATOR_GROUP_MAX_AGE", Settings.operator_group_max_age),
        redis_ca_bundle=optional_file(env, "REDIS_CA_BUNDLE"),
        socket_connections=whole(env, "AZS_SOCKET_CONNECTIONS", Settings.socket_connections),
        socket_ping_interval=number(env, "AZS_SOCKET_PING_INTERVAL", Settings.socket_ping_interval),
        slack_retry_seconds=number(env, "AZS_SLACK_RETRY_SECONDS", Settings.slack_retry_seconds),
        user_commands_per_minute=whole(env, "AZS_USER_COMMANDS_PER_MINUTE", Settings.user_commands_per_minute),
        connections_per_address=whole(env, "AZS_CONNECTIONS_PER_ADDRESS", Settings.connections_per_address),
        history_days=whole(env, "AZS_HISTORY_DAYS", Settings.history_days),
        snapshot_interval=number(env, "AZS_SNAPSHOT_INTERVAL", Settings.snapshot_interval),
        proxy_secrets=tuple(proxy_passwords(env)),
        update_clean_states=update_states[0],
        update_running_states=update_states[1],
        update_failed_states=update_states[2],
        lane_queue=whole(env, "AZS_LANE_QUEUE", Settings.lane_queue),
        home_cache_seconds=number(env, "AZS_HOME_CACHE_SECONDS", Settings.home_cache_seconds),
    )
    check_cross_fields(settings)
    return settings
