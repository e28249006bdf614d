"""Configuration from the environment, validated once at start.

Every process calls :func:`load_settings` before doing anything else, so a missing or malformed
setting stops it with one line that names the variable instead of failing on the first request.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

DEFAULT_API_VERSION = "2018-09-01"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


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


@dataclass(frozen=True)
class Settings:
    """Everything a process needs; secrets are excluded from ``repr`` so they never reach a log."""

    redis_url: str
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
    host: str = "0.0.0.0"
    """Address the web server and the probe/metrics servers bind (``HOST``)."""
    port: int = 3000
    metrics_port: int = 9102
    watch_interval: float = 300.0
    max_backup_age_hours: float = 48.0
    progress_interval: float = 60.0
    work_threads: int = 1
    slack_retry_seconds: float = 20.0
    """How long one post may wait out Slack's 429s (``AZS_SLACK_RETRY_SECONDS``); capped at a third of the lease."""

    @property
    def stamp(self) -> StampSettings:
        """The default stamp: the first one listed."""
        return self.stamps[0]

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line or a message."""
        values = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token,
                  *(s.client_secret or "" for s in self.stamps)]
        return [v for v in values if len(v) >= 6]


def _required(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: {hint}")
    return value


def _https_url(env: Mapping[str, str], name: str, value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.netloc:
        raise SettingsError(f"{name} must be an https:// URL, got {value!r}")
    return value.rstrip("/")


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SettingsError(f"{name} must be a whole number of at least {minimum}, got {raw!r}")
    return int(raw)


def _readable_file(name: str, path: str) -> str:
    if not os.path.isfile(path):
        raise SettingsError(f"{name} names {path!r}, which is not a readable file")
    return path


STAMP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_FILE_KEYS = {"name", "arm_endpoint", "tenant_id", "client_id", "client_secret", "client_cert", "ca_bundle",
              "subscription_id", "location", "api_version", "adfs_scope_suffix", "http_timeout"}


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
    stamps = []
    for index, table in enumerate(tables, 1):
        where = f"AZS_STAMPS_FILE stamp #{index}"
        unknown = set(table) - _FILE_KEYS
        if unknown:
            raise SettingsError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
        name = str(table.get("name", ""))
        if not STAMP_NAME.match(name):
            raise SettingsError(f"{where} needs a name of letters, digits, '.', '_' or '-', got {name!r}")
        env = {f"AZS_{k.upper()}": str(v) for k, v in table.items()}
        try:
            stamps.append(load_stamp(env, name=name))
        except SettingsError as exc:
            message = re.sub(r"AZS_([A-Z_]+)", lambda m: m.group(1).lower(), str(exc))
            raise SettingsError(f"{where} ({name}): {message}") from None
    names = [s.name for s in stamps]
    if len(set(names)) != len(names):
        raise SettingsError(f"AZS_STAMPS_FILE {path!r} names a stamp twice")
    return tuple(stamps)


def load_stamp(env: Mapping[str, str], *, name: str | None = None) -> StampSettings:
    """Read the single-stamp ``AZS_*`` variables."""
    arm = _https_url(env, "AZS_ARM_ENDPOINT", _required(
        env, "AZS_ARM_ENDPOINT", "set it to the stamp's admin ARM endpoint, "
        "e.g. https://adminmanagement.local.azurestack.external"))
    client_id = _required(env, "AZS_CLIENT_ID", "set it to the service principal's application id")
    secret = env.get("AZS_CLIENT_SECRET", "").strip() or None
    cert = env.get("AZS_CLIENT_CERT", "").strip() or None
    if bool(secret) == bool(cert):
        raise SettingsError(
            "set exactly one of AZS_CLIENT_SECRET or AZS_CLIENT_CERT (path of a PEM with certificate and key)")
    if cert:
        _readable_file("AZS_CLIENT_CERT", cert)
    ca_bundle = env.get("AZS_CA_BUNDLE", "").strip() or None
    if ca_bundle:
        _readable_file("AZS_CA_BUNDLE", ca_bundle)
    return StampSettings(
        name=name or env.get("AZS_STAMP_NAME", "").strip() or urlparse(arm).hostname or "stamp",
        arm_endpoint=arm,
        client_id=client_id,
        client_secret=secret,
        client_cert_path=cert,
        tenant_id=env.get("AZS_TENANT_ID", "").strip() or None,
        ca_bundle=ca_bundle,
        subscription_id=env.get("AZS_SUBSCRIPTION_ID", "").strip() or None,
        location=env.get("AZS_LOCATION", "").strip() or None,
        api_version=env.get("AZS_API_VERSION", "").strip() or DEFAULT_API_VERSION,
        adfs_scope_suffix=env.get("AZS_ADFS_SCOPE_SUFFIX", "").strip() or "/openid",
        timeout_seconds=_float(env, "AZS_HTTP_TIMEOUT", 30.0, 1.0),
    )


def load_settings(env: Mapping[str, str] | None = None, *, need_slack: bool = True) -> Settings:
    """Validate the environment; raise :class:`SettingsError` naming the first bad variable."""
    env = os.environ if env is None else env
    slack_api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
    if urlparse(slack_api_url).scheme not in ("http", "https") or not slack_api_url.endswith("/api/"):
        raise SettingsError(f"SLACK_API_URL must be a URL ending in /api/, got {slack_api_url!r}")
    port_raw = env.get("PORT", "").strip() or "3000"
    if not port_raw.isdigit() or not 0 < int(port_raw) < 65536:
        raise SettingsError(f"PORT must be a TCP port number, got {port_raw!r}")
    metrics_raw = env.get("AZS_METRICS_PORT", "").strip() or "9102"
    if not metrics_raw.isdigit() or not 0 <= int(metrics_raw) < 65536:
        raise SettingsError(f"AZS_METRICS_PORT must be a TCP port number (0 = off), got {metrics_raw!r}")
    operators = frozenset(u.strip() for u in env.get("AZS_OPERATORS", "").split(",") if u.strip())
    return Settings(
        redis_url=env.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0",
        stamps=load_stamps_file(stamps_file) if (stamps_file := env.get("AZS_STAMPS_FILE", "").strip())
        else (load_stamp(env),),
        slack_bot_token=_required(env, "SLACK_BOT_TOKEN", "set it to the app's xoxb- bot token"),
        slack_signing_secret=(
            _required(env, "SLACK_SIGNING_SECRET", "copy it from the app's Basic Information page")
            if need_slack else env.get("SLACK_SIGNING_SECRET", "")),
        slack_app_token=env.get("SLACK_APP_TOKEN", "").strip(),
        slack_api_url=slack_api_url,
        operators=operators,
        operator_group=env.get("AZS_OPERATOR_GROUP", "").strip() or None,
        channels=frozenset(c.strip() for c in env.get("AZS_CHANNELS", "").split(",") if c.strip()),
        poll_interval=_float(env, "AZS_POLL_INTERVAL", 30.0, 0.05),
        lease_seconds=_float(env, "AZS_LEASE_SECONDS", 90.0, 1.0),
        start_grace=_float(env, "AZS_START_GRACE_SECONDS", 300.0, 1.0),
        backup_timeout=_float(env, "AZS_BACKUP_TIMEOUT", 7200.0, 1.0),
        host=env.get("HOST", "").strip() or "0.0.0.0",
        port=int(port_raw),
        metrics_port=int(metrics_raw),
        watch_interval=_float(env, "AZS_WATCH_INTERVAL", 300.0, 1.0),
        max_backup_age_hours=_float(env, "AZS_MAX_BACKUP_AGE_HOURS", 48.0, 1.0),
        progress_interval=_float(env, "AZS_PROGRESS_INTERVAL", 60.0, 1.0),
        work_threads=_int(env, "AZS_WORK_THREADS", 1, 1),
        slack_retry_seconds=_float(env, "AZS_SLACK_RETRY_SECONDS", 20.0, 0.0),
    )
