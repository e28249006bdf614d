"""Configuration from the environment, validated once at start.

Every process calls :func:`load_settings` before doing anything else, so a missing or malformed
setting stops it with one line that names the variable instead of failing on the first request.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse, urlsplit, urlunsplit

from bot.config.redis_url import RedisUrlError, check_url, url_password

DEFAULT_API_VERSION = "2018-09-01"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
POLL_ATTEMPTS = 2
"""Stamp calls the lease rule counts per claim. The worker makes one attempt per call and never sleeps; a
claim polls once, and after an operation ends reads the final backup (a second call, rarely a third)."""
POLL_MAX_BACKOFF = 5.0
"""Slack for a token refresh and Redis round trips within one claim, in seconds."""


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


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
    "AZS_WORK_THREADS": Limit(1, 64, "", whole=True),
    "AZS_SOCKET_CONNECTIONS": Limit(1, 10, "", whole=True),
    "AZS_USER_COMMANDS_PER_MINUTE": Limit(1, 10_000, "", whole=True),
    "AZS_CONNECTIONS_PER_ADDRESS": Limit(1, 500, "", whole=True),  # the server's whole connection limit
    # Issue 19: the history keeps what the stamp no longer does (14 days at most), so it keeps at least that long.
    "AZS_HISTORY_DAYS": Limit(14, 3650, "days", whole=True),
}
"""Every number setting and its range (the README's settings table lists them); one without an entry is a
``KeyError`` at the first start, so a new setting cannot arrive without a maximum."""


@dataclass(frozen=True)
class StampSettings:
    """How to reach and authenticate to one stamp's admin Azure Resource Manager endpoint."""

    name: str
    arm_endpoint: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    client_cert_path: str | None = None
    tenant_id: str | None = None
    ca_bundle: str | None = None
    subscription_id: str | None = None
    location: str | None = None
    api_version: str = DEFAULT_API_VERSION
    adfs_scope_suffix: str = "/openid"
    aad_scope_suffix: str = "/.default"
    timeout_seconds: float = 30.0
    update_api_version: str = "2021-07-01"
    """``Microsoft.Update.Admin`` api-version (``AZS_UPDATE_API_VERSION``): the 2022 recordings' version; the
    2018 stamps answered ``2016-05-01``."""


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
    """Connections one client address may hold open to the web process (``AZS_CONNECTIONS_PER_ADDRESS``)."""
    # Issue 19: the backup history, the update states, the snapshot's series.
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
    capacity_samples: int = 500
    """Fixed: ``availableCapacity`` samples kept per stamp (at one per ``capacity_spacing``, about 125 days)."""
    capacity_spacing: float = 6 * 3600.0
    """Fixed: the least time between two kept capacity samples, in seconds."""
    config_changes_kept: int = 200
    """Fixed: backup configuration changes kept per stamp (frequency, retention, scheduler, target, thumbprint)."""
    # Fixed limits (no variable): here so the worker and the web process share one value.
    max_retry_delay: float = 300.0
    """The longest backoff after consecutive failures, and how long a job for an unknown stamp waits."""
    max_permanent_failures: int = 10
    """Consecutive non-retryable answers (401 after a token refresh, 403, 404) before a job is reported failed."""
    max_announce_attempts: int = 5
    """Refused start announcements before the outcome is posted on its own, saying so."""
    poll_concurrency: int = 16
    """Jobs one worker polls at the same time."""

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
        ]
        return [v for v in values if len(v) >= 6]


def _required(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: {hint}")
    return value


def shown_url(value: str) -> str:
    """``value`` as it may be echoed: without user name, password, query or fragment (they may hold secrets)."""
    try:
        parts = urlsplit(value)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "(an unparsable URL)"


def _url_parts(name: str, value: str) -> tuple[str, str, str]:
    """(scheme, host part, path) of a URL setting; a URL that does not parse (``https://[::1``) is refused."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError:
        raise SettingsError(f"{name} is not a valid URL, got {shown_url(value)!r}") from None
    return parts.scheme, parts.netloc, parts.path


def _https_url(env: Mapping[str, str], name: str, value: str) -> str:
    scheme, netloc, _ = _url_parts(name, value)
    if scheme != "https" or not netloc:
        raise SettingsError(f"{name} must be an https:// URL, got {shown_url(value)!r}")
    return value.rstrip("/")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    """A number within the setting's :data:`LIMITS` (``nan`` and ``inf`` parse as floats, and are refused)."""
    raw, limit = env.get(name, "").strip(), LIMITS[name]
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and limit.low <= value <= limit.high):
        raise SettingsError(f"{name} must be {limit.words()}, got {raw[:40]!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number within the setting's :data:`LIMITS`, in ASCII digits (``int()`` takes Arabic-Indic ones)."""
    raw, limit = env.get(name, "").strip(), LIMITS[name]
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and limit.low <= int(raw) <= limit.high):
        raise SettingsError(f"{name} must be {limit.words()}, got {raw[:40]!r}")
    return int(raw)


def _readable_file(name: str, path: str) -> str:
    if not os.path.isfile(path):
        raise SettingsError(f"{name} names {path!r}, which is not a readable file")
    return path


STAMP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
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


def _stamp_name(value: str, name: str) -> str:
    if not STAMP_NAME.match(value):
        raise SettingsError(
            f"{name} must be 1-63 letters, digits, '.', '_' or '-' (starting with a letter or "
            f"digit), got {value[:70]!r}"
        )
    return value


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


_FILE_KEYS = {
    "name",
    "arm_endpoint",
    "tenant_id",
    "client_id",
    "client_secret",
    "client_cert",
    "ca_bundle",
    "subscription_id",
    "location",
    "api_version",
    "adfs_scope_suffix",
    "http_timeout",
    "update_api_version",
}


def load_stamps_file(path: str) -> tuple[StampSettings, ...]:
    """Stamps from ``AZS_STAMPS_FILE``: a TOML file of ``[[stamp]]`` tables (see the README)."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"AZS_STAMPS_FILE names {path!r}, which cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"AZS_STAMPS_FILE {path!r} is not valid TOML: {exc}") from None
    tables = document.get("stamp")
    if not isinstance(tables, list) or not tables:
        raise SettingsError(f"AZS_STAMPS_FILE {path!r} lists no [[stamp]] tables")
    stamps = [_stamp_from_table(index, table) for index, table in enumerate(tables, 1)]
    names = [s.name for s in stamps]
    if len(set(names)) != len(names):
        raise SettingsError(f"AZS_STAMPS_FILE {path!r} names a stamp twice")
    return tuple(stamps)


def _stamp_from_table(index: int, table: dict[str, object]) -> StampSettings:
    """One ``[[stamp]]`` table, read as the ``AZS_*`` variables its keys name (errors name the key)."""
    where = f"AZS_STAMPS_FILE stamp #{index}"
    unknown = set(table) - _FILE_KEYS
    if unknown:
        raise SettingsError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    name = str(table.get("name", ""))
    if not STAMP_NAME.match(name):
        raise SettingsError(f"{where} needs a name of letters, digits, '.', '_' or '-', got {name!r}")
    env = {f"AZS_{k.upper()}": str(v) for k, v in table.items()}
    try:
        return load_stamp(env, name=name)
    except SettingsError as exc:
        message = re.sub(r"AZS_([A-Z_]+)", lambda m: m.group(1).lower(), str(exc))
        raise SettingsError(f"{where} ({name}): {message}") from None


def load_stamp(env: Mapping[str, str], *, name: str | None = None) -> StampSettings:
    """Read the single-stamp ``AZS_*`` variables."""
    arm = _https_url(
        env,
        "AZS_ARM_ENDPOINT",
        _required(
            env,
            "AZS_ARM_ENDPOINT",
            "set it to the stamp's admin ARM endpoint, e.g. https://adminmanagement.local.azurestack.external",
        ),
    )
    client_id = _required(env, "AZS_CLIENT_ID", "set it to the service principal's application id")
    secret = _optional(env, "AZS_CLIENT_SECRET")
    if bool(secret) == bool(_optional(env, "AZS_CLIENT_CERT")):
        raise SettingsError(
            "set exactly one of AZS_CLIENT_SECRET or AZS_CLIENT_CERT (path of a PEM with certificate and key)"
        )
    cert = _optional_file(env, "AZS_CLIENT_CERT")
    ca_bundle = _optional_file(env, "AZS_CA_BUNDLE")
    return StampSettings(
        name=name or _default_stamp_name(env, arm),
        arm_endpoint=arm,
        client_id=client_id,
        client_secret=secret,
        client_cert_path=cert,
        tenant_id=_optional(env, "AZS_TENANT_ID"),
        ca_bundle=ca_bundle,
        subscription_id=_optional(env, "AZS_SUBSCRIPTION_ID"),
        location=_optional(env, "AZS_LOCATION"),
        api_version=_optional(env, "AZS_API_VERSION") or StampSettings.api_version,
        adfs_scope_suffix=_optional(env, "AZS_ADFS_SCOPE_SUFFIX") or StampSettings.adfs_scope_suffix,
        timeout_seconds=_float(env, "AZS_HTTP_TIMEOUT", StampSettings.timeout_seconds),
        update_api_version=_api_version(env, "AZS_UPDATE_API_VERSION", StampSettings.update_api_version),
    )


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _optional_file(env: Mapping[str, str], name: str) -> str | None:
    """A path that must be readable when it is set."""
    path = _optional(env, name)
    return _readable_file(name, path) if path else None


def _default_stamp_name(env: Mapping[str, str], arm_endpoint: str) -> str:
    explicit = env.get("AZS_STAMP_NAME", "").strip()
    if explicit:
        return _stamp_name(explicit, "AZS_STAMP_NAME")
    return _stamp_name(urlparse(arm_endpoint).hostname or "stamp", "AZS_STAMP_NAME (default: the ARM host name)")


API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
UPDATE_STATE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
MAX_UPDATE_STATES = 32
UPDATE_STATE_LISTS = {
    "AZS_UPDATE_CLEAN_STATES": "update_clean_states",
    "AZS_UPDATE_RUNNING_STATES": "update_running_states",
    "AZS_UPDATE_FAILED_STATES": "update_failed_states",
}
"""Each update-state variable and its ``Settings`` field; a state may be in one list only."""


def _api_version(env: Mapping[str, str], name: str, default: str) -> str:
    """An api-version as ARM writes them (``2021-07-01``, ``2016-05-01-preview``); it goes into every URL."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not API_VERSION.match(raw):
        raise SettingsError(f"{name} must be an api-version such as 2021-07-01, got {raw[:40]!r}")
    return raw


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


LOOPBACK_NAMES = frozenset({"localhost"})
_URL_TROUBLE = re.compile(r"[\\\s\x00-\x1f\x7f]")
"""Characters HTTP clients and ``urlsplit`` may read differently (backslash, white space, control characters)."""


def _slack_api_url(env: Mapping[str, str]) -> str:
    """Where the bot token is sent: over https anywhere, over plain http only to this machine (a local fake)."""
    url = env.get("SLACK_API_URL", "").strip() or Settings.slack_api_url
    scheme, netloc, _ = _url_parts("SLACK_API_URL", url)
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
        slack_bot_token=_required(env, "SLACK_BOT_TOKEN", "set it to the app's xoxb- bot token"),
        slack_signing_secret=(
            _required(env, "SLACK_SIGNING_SECRET", "copy it from the app's Basic Information page")
            if need_slack
            else env.get("SLACK_SIGNING_SECRET", "")
        ),
        slack_app_token=env.get("SLACK_APP_TOKEN", "").strip(),
        slack_api_url=slack_api_url,
        operators=operators,
        operator_group=next(iter(groups), None),
        channels=_slack_ids(env, "AZS_CHANNELS"),
        poll_interval=_float(env, "AZS_POLL_INTERVAL", Settings.poll_interval),
        lease_seconds=_float(env, "AZS_LEASE_SECONDS", Settings.lease_seconds),
        start_grace=_float(env, "AZS_START_GRACE_SECONDS", Settings.start_grace),
        backup_timeout=_float(env, "AZS_BACKUP_TIMEOUT", Settings.backup_timeout),
        max_retry_after=_float(env, "AZS_MAX_RETRY_AFTER", Settings.max_retry_after),
        host=_host(env),
        port=int(port_raw),
        metrics_port=int(metrics_raw),
        watch_interval=_float(env, "AZS_WATCH_INTERVAL", Settings.watch_interval),
        max_backup_age_hours=_float(env, "AZS_MAX_BACKUP_AGE_HOURS", Settings.max_backup_age_hours),
        progress_interval=_float(env, "AZS_PROGRESS_INTERVAL", Settings.progress_interval),
        work_threads=_int(env, "AZS_WORK_THREADS", Settings.work_threads),
        job_retention_days=_float(env, "AZS_JOB_RETENTION_DAYS", Settings.job_retention_days),
        operator_group_max_age=_float(env, "AZS_OPERATOR_GROUP_MAX_AGE", Settings.operator_group_max_age),
        redis_ca_bundle=_optional_file(env, "REDIS_CA_BUNDLE"),
        socket_connections=_int(env, "AZS_SOCKET_CONNECTIONS", Settings.socket_connections),
        socket_ping_interval=_float(env, "AZS_SOCKET_PING_INTERVAL", Settings.socket_ping_interval),
        slack_retry_seconds=_float(env, "AZS_SLACK_RETRY_SECONDS", Settings.slack_retry_seconds),
        user_commands_per_minute=_int(env, "AZS_USER_COMMANDS_PER_MINUTE", Settings.user_commands_per_minute),
        connections_per_address=_int(env, "AZS_CONNECTIONS_PER_ADDRESS", Settings.connections_per_address),
        history_days=_int(env, "AZS_HISTORY_DAYS", Settings.history_days),
        update_clean_states=update_states[0],
        update_running_states=update_states[1],
        update_failed_states=update_states[2],
    )
    check_cross_fields(settings)
    return settings
