"""The stamps the bot talks to: one from the single-stamp ``AZS_*`` variables, or several from ``AZS_STAMPS_FILE``."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from bot.config.env import SettingsError, https_url, number, optional, optional_file, required

DEFAULT_API_VERSION = "2018-09-01"
STAMP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


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


def _stamp_name(value: str, name: str) -> str:
    if not STAMP_NAME.match(value):
        raise SettingsError(
            f"{name} must be 1-63 letters, digits, '.', '_' or '-' (starting with a letter or "
            f"digit), got {value[:70]!r}"
        )
    return value


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
    arm = https_url(
        "AZS_ARM_ENDPOINT",
        required(
            env,
            "AZS_ARM_ENDPOINT",
            "set it to the stamp's admin ARM endpoint, e.g. https://adminmanagement.local.azurestack.external",
        ),
    )
    client_id = required(env, "AZS_CLIENT_ID", "set it to the service principal's application id")
    secret = optional(env, "AZS_CLIENT_SECRET")
    if bool(secret) == bool(optional(env, "AZS_CLIENT_CERT")):
        raise SettingsError(
            "set exactly one of AZS_CLIENT_SECRET or AZS_CLIENT_CERT (path of a PEM with certificate and key)"
        )
    cert = optional_file(env, "AZS_CLIENT_CERT")
    ca_bundle = optional_file(env, "AZS_CA_BUNDLE")
    return StampSettings(
        name=name or _default_stamp_name(env, arm),
        arm_endpoint=arm,
        client_id=client_id,
        client_secret=secret,
        client_cert_path=cert,
        tenant_id=optional(env, "AZS_TENANT_ID"),
        ca_bundle=ca_bundle,
        subscription_id=optional(env, "AZS_SUBSCRIPTION_ID"),
        location=optional(env, "AZS_LOCATION"),
        api_version=optional(env, "AZS_API_VERSION") or StampSettings.api_version,
        adfs_scope_suffix=optional(env, "AZS_ADFS_SCOPE_SUFFIX") or StampSettings.adfs_scope_suffix,
        timeout_seconds=number(env, "AZS_HTTP_TIMEOUT", StampSettings.timeout_seconds),
        update_api_version=_api_version(env, "AZS_UPDATE_API_VERSION", StampSettings.update_api_version),
    )


def _default_stamp_name(env: Mapping[str, str], arm_endpoint: str) -> str:
    explicit = env.get("AZS_STAMP_NAME", "").strip()
    if explicit:
        return _stamp_name(explicit, "AZS_STAMP_NAME")
    return _stamp_name(urlparse(arm_endpoint).hostname or "stamp", "AZS_STAMP_NAME (default: the ARM host name)")


API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def _api_version(env: Mapping[str, str], name: str, default: str) -> str:
    """An api-version as ARM writes them (``2021-07-01``, ``2016-05-01-preview``); it goes into every URL."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not API_VERSION.match(raw):
        raise SettingsError(f"{name} must be an api-version such as 2021-07-01, got {raw[:40]!r}")
    return raw
