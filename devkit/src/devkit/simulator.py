"""A local stand-in for one Azure Stack Hub stamp: its admin ARM backup API and its identity provider.

Why: the bot must be exercised end to end (real MSAL, real ``requests``, TLS with a private CA, LRO polling,
throttling, broken bodies) without a stamp, and a demo must run on a laptop. Shapes follow the recorded
traffic of builds 2002 and 2108; what is unrecorded is marked as an assumption where it is made. Backup
state is derived from the clock on every request, so no timer threads run.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import json
import math
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BACKUP_API_VERSIONS = ("2016-05-01", "2018-09-01", "2021-09-01")
"""``Microsoft.Backup.Admin`` versions a build 2108 stamp serves (the swagger's stable and preview folders)."""
OLDER_API_VERSIONS = ("2016-05-01", "2018-09-01")
"""Builds before 2108 never served the 2021-09-01 preview (it "requires AzureStack Update 2203+")."""
ARM_API_VERSIONS = ("2015-01-01", "2016-05-01", "2016-06-01", "2018-05-01", "2019-06-01", "2019-10-01")
"""``Microsoft.Resources`` versions (subscriptions, locations) the simulated ARM accepts. An assumption: the
documents name 2016-05-01 (D5) and 2015-01-01 (metadata); the others are Azure Stack Hub profile versions."""
UPDATE_API_VERSIONS = ("2016-05-01", "2021-07-01")
"""``Microsoft.Update.Admin`` versions: 2016-05-01 in the 2018 sessions, 2021-07-01 in the 2022 ones."""
CLEAN_UPDATE_STATES = ("AppliedSuccessfully", "AppliedUpdateAvailableSuccessfully", "UpdateAvailable")
"""Update location states in which the simulated stamp takes backups; in any other it skips scheduled ones and
refuses createBackup (the backup docs: "during patch and update and FRU operations")."""
UPDATE_REFUSAL = {
    "status": 409,
    "code": "BackupBlockedByUpdate",
    "message": "Backup operations are blocked while an update or a field replacement is in progress.",
}
"""SIMULATOR-INVENTED: the answer to createBackup during an update. Microsoft documents that on-demand backups
are blocked then, but no recording or document shows the status, code or message; configurable
(``update_refusal``) so tests can try others."""
UPDATE_STAGES = ("health", "install")
MISSING_API_VERSION = "The api-version query parameter (?api-version=) is required for all requests."
OUTCOMES = ("Succeeded", "PartialSucceeded", "Failed")
LRO_STYLES = ("async", "location")
IDENTITIES = ("adfs", "aad")
DEFAULT_SUBSCRIPTION_ID = "5c17413c-6a2b-4f5e-9d0b-3e8e1f2a7b64"
DEFAULT_TENANT_ID = "9f2d6c1e-4b7a-4e3d-8a15-0c6b2e9d4f37"
AUDIENCE = "https://adminmanagement.sim.azurestack.local/2b7a0e51-8c3d-4f6a-b9e2-71d4c05a3e18"
# The 23 infrastructure roles of build 2108, in the order of the recorded backup list.
ROLES = (
    "KeyVaultNamingService",
    "CertificateManagement",
    "CPI",
    "Domain",
    "DeploymentProvider",
    "WAS",
    "SupportBridgeController",
    "SRP",
    "KeyVaultInternalControlPlane",
    "ECE",
    "KeyVaultInternalDataPlane",
    "InfraServiceController",
    "NRP",
    "IBC",
    "DiskRP",
    "AzureStackBitlocker",
    "ACS",
    "ACSSettingsService",
    "KeyVaultDataPlane",
    "CRP",
    "Cluster",
    "KeyVaultControlPlane",
    "NC",
)
# The 13 roles of the recorded ASDK 1809 backup, in its order.
ROLES_1809 = (
    "NRP",
    "SRP",
    "CRP",
    "KeyVaultInternalControlPlane",
    "KeyVaultInternalDataPlane",
    "KeyVaultControlPlane",
    "KeyVaultDataPlane",
    "KeyVaultNamingService",
    "WAS",
    "ECE",
    "Domain",
    "CA",
    "ACS",
)


@dataclass(frozen=True)
class BuildShape:
    """What differs between the recorded builds (see docs/development.md, "Tested against")."""

    stamp_version: str
    api_version: str
    lro_style: str
    roles: tuple[str, ...]
    """Roles a successful backup lists; partial and failed ones list all 23 (as on build 2108)."""
    oem_version: str | None
    reports_automatic: bool
    """Whether ``isAutomaticBackup`` is in the body (absent on 1809)."""
    data_version: str
    start_retry_after: int
    poll_retry_after: int
    api_versions: tuple[str, ...] = BACKUP_API_VERSIONS
    """``Microsoft.Backup.Admin`` versions the build answers; any other is refused as ARM refuses it."""
    recovery_ready: bool = True
    """Whether a ``Succeeded`` backup says ``isCloudRecoveryReady: true`` (every recorded 2002 one says false)."""
    reports_uploaded: bool = True
    """Whether ``completelyUploaded`` is in the body (absent on 1809)."""


BUILDS = {
    "1809": BuildShape(
        "1.1809.0.45",
        "2018-09-01",
        "location",
        ROLES_1809,
        None,
        False,
        "1.0.1",
        60,
        60,
        OLDER_API_VERSIONS,
        reports_uploaded=False,
    ),
    "2002": BuildShape(
        "1.2002.0.35",
        "2018-09-01",
        "location",
        ("NRP",),
        "2.1.1907.1",
        True,
        "1.0.1",
        60,
        60,
        OLDER_API_VERSIONS,
        recovery_ready=False,
    ),
    "2108": BuildShape(
        "1.2108.0.32", "2021-09-01", "async", ("KeyVaultNamingService",), "2.2.2008.4", True, "1.1.0", 60, 30
    ),
}
_DEPLOYMENT_ID = "a3f1c7d2-5e8b-4c09-9f6a-2d4e7b1c8a35"
_CERT_THUMBPRINT = "7C2E9A41F05B3D86E1A4C9270B5F8D3E6A1C4B97"
_OEM_VERSION = "2.2.2008.4"
_TICKS = 10_000_000  # .NET ticks per second: real timestamps and durations carry 7 fractional digits
_Request = socket.socket | tuple[bytes, socket.socket]
_PREFIX_RE = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
    r"/providers/microsoft\.backup\.admin/backuplocations/(?P<loc>[^/]+)(?P<rest>/.*)?"
)
_UPDATE_RE = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
    r"/providers/microsoft\.update\.admin/updatelocations(?:/(?P<loc>[^/]+)(?P<rest>/.*)?)?"
)
# Request kinds for the control API's counts: (pattern on the lower-cased path, kind); first match wins.
_KINDS = (
    (r".*/oauth2/(v2\.0/)?token", "token"),
    (r".*/\.well-known/openid-configuration", "openid-configuration"),
    (r"/metadata/endpoints", "metadata"),
    (r".*/updateruns/[^/]+", "updateRun"),
    (r".*/updateruns", "updateRuns"),
    (r".*/updates/[^/]+", "update"),
    (r".*/updates", "updates"),
    (r".*/updatelocations/[^/]+", "updateLocation"),
    (r".*/updatelocations", "updateLocations"),
    (r".*/operationresults/[^/]+", "operationResults"),
    (r".*/createbackup", "createBackup"),
    (r".*/backups/[^/]+", "backup"),
    (r".*/backups", "backups"),
    (r".*/backuplocations/[^/]+", "backupLocation"),
    (r"/subscriptions/[^/]+/locations", "locations"),
    (r"/subscriptions", "subscriptions"),
)


@dataclass
class Fault:
    """One injected failure, consumed ``times`` times, so tests can script outages and throttling."""

    status: int  # 0: keep the status, just delay and/or send `body` with 200
    times: int = 1
    method: str = "*"
    path_contains: str = ""  # matched against path and query, case-insensitive; "" = every ARM path
    retry_after: str | None = None
    delay: float = 0.0
    body: str | None = None  # raw body instead of the ARM error JSON
    headers: dict[str, str] = field(default_factory=dict)  # e.g. a redirect's Location

    def matches(self, method: str, path: str) -> bool:
        """An empty ``path_contains`` targets ARM only, so a blanket fault does not break the login."""
        if self.times <= 0 or self.method.upper() not in ("*", method.upper()):
            return False
        return self.path_contains.lower() in path.lower() if self.path_contains else _is_arm(path)


@dataclass(frozen=True)
class RequestRecord:
    """What the simulator saw and answered, so tests can assert on the bot's traffic."""

    method: str
    path: str  # with the query string
    status: int
    time: float
    has_bearer: bool
    kind: str = "other"  # e.g. "createBackup", "asyncOperation", "token" (see _KINDS)


@dataclass
class _Backup:
    """One backup. Its status follows from the clock, so completion needs no timer."""

    backup_id: str
    started_at: float
    ends_at: float
    outcome: str
    automatic: bool
    reported_duration: str | None = None
    seeded: bool = False
    key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(256)).decode())
    stamp_version: str = ""
    """The stamp's version when the backup was made: an update changes the version of later backups only."""
    thumbprint: str = _CERT_THUMBPRINT
    """The certificate the backup was encrypted with: rotating the location's changes later backups only."""

    def status(self, now: float) -> str:
        return self.outcome if now >= self.ends_at else "Running"


@dataclass
class _UpdateRun:
    """One attempt at installing an update: preparation until ``prepared_at``, then installation until
    ``ends_at`` (``None``: until a control ends it). Derived from the clock, like a backup."""

    run_id: str
    started_at: float
    prepared_at: float
    ends_at: float | None
    outcome: str = "Succeeded"
    """What the run ends in once ``ends_at`` passes: ``Succeeded`` or ``Failed``."""
    failed_stage: str = "install"
    """Where a failed run stopped: ``health`` (blocked by the health check, as recorded in 2022) or ``install``."""

    def state(self, now: float) -> str:
        """``InProgress``, ``Succeeded`` or ``Failed`` (``UpdateRunState``)."""
        return "InProgress" if self.ends_at is None or now < self.ends_at else self.outcome


@dataclass
class _Update:
    """One update package the stamp knows, and its runs."""

    version: str
    min_version: str
    runs: list[_UpdateRun] = field(default_factory=list)
    installed_at: float | None = None

    def state(self, now: float) -> str:
        """``UpdateState``: Ready, Preparing, Installing, PreparationFailed, InstallationFailed or Installed."""
        if self.installed_at is not None:
            return "Installed"
        run = self.runs[-1] if self.runs else None
        if run is None:
            return "Ready"
        if run.state(now) == "InProgress":
            return "Preparing" if now < run.prepared_at else "Installing"
        return "PreparationFailed" if run.failed_stage == "health" else "InstallationFailed"


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Resource:
    """One thing the simulated ARM can address: which provider answers for it and the methods it has."""

    kind: str
    """``subscriptions``, ``locations``, ``backupLocation``, ``backups``, ``createBackup``, ``backup``,
    ``operation``, or one of the update kinds: ``updateLocations``, ``updateLocation``, ``updates``, ``update``,
    ``updateRuns``, ``updateRun``."""
    methods: tuple[str, ...]
    type_name: str = "backupLocations"
    """The resource type ARM names in its errors."""
    name: str = ""
    """The backup or operation id, for the kinds that have one; ``{update}`` or ``{update}/{run}`` (lower case)."""

    @property
    def provider(self) -> str:
        if self.kind in ("subscriptions", "locations"):
            return "Microsoft.Resources"
        return "Microsoft.Update.Admin" if self.kind.startswith("update") else "Microsoft.Backup.Admin"


def _is_arm(path: str) -> bool:
    return path.lower().startswith(("/subscriptions", "/providers"))


def _kind(path: str) -> str:
    split = urlsplit(path)
    lower = split.path.lower().rstrip("/")
    kind = next((k for pattern, k in _KINDS if re.fullmatch(pattern, lower)), "other")
    if kind == "operationResults" and "isasyncoperation=" in split.query.lower():
        return "asyncOperation"
    return kind


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """Reject a typo early: an unknown outcome would otherwise surface as a confusing body much later."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return str(value)


def _iso_time(ts: float) -> str:
    """ARM style: UTC, 7 fractional digits, ``Z`` (e.g. 2021-10-31T13:17:57.1251584Z)."""
    secs, frac = divmod(round(ts * _TICKS), _TICKS)
    return f"{datetime.fromtimestamp(secs, UTC):%Y-%m-%dT%H:%M:%S}.{frac:07d}Z"


def _iso_duration(seconds: float) -> str:
    """.NET XmlConvert style, as the stamp reports it: PT21M15.0081024S, PT6M35.345912S, PT0S."""
    hours, rest = divmod(max(0, round(seconds * _TICKS)), 3600 * _TICKS)
    minutes, rest = divmod(rest, 60 * _TICKS)
    secs, frac = divmod(rest, _TICKS)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs or frac:
        text += f"{secs}.{frac:07d}".rstrip("0").rstrip(".") + "S"
    return text if text != "PT" else "PT0S"


def _json(status: int, obj: object, headers: Mapping[str, str] | None = None) -> _Reply:
    return _Reply(
        status, json.dumps(obj).encode(), {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


def _arm_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> _Reply:
    return _json(status, {"error": {"code": code, "message": message}}, headers)


def _oauth_error(status: int, error: str, text: str, headers: Mapping[str, str] | None = None) -> _Reply:
    body = {"error": error, "error_description": text}
    return _json(status, body, {"Cache-Control": "no-store", **(headers or {})})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _write_private(path: str, data: bytes) -> None:
    """Key material is written owner-only, like a real credential file."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(data)


def _load_or_create_ca(state_dir: str) -> trustme.CA:
    """Reuse an earlier run's CA, so a bot's AZS_CA_BUNDLE keeps working across simulator restarts."""
    cert_path, key_path = os.path.join(state_dir, "ca.pem"), os.path.join(state_dir, "ca-key.pem")
    if os.path.isfile(cert_path) and os.path.isfile(key_path):
        with open(cert_path, "rb") as cert, open(key_path, "rb") as key:
            return trustme.CA.from_pem(cert.read(), key.read())
    ca = trustme.CA(organization_name="azs-backup-bot simulator")
    _write_private(key_path, ca.private_key_pem.bytes())
    _write_private(cert_path, ca.cert_pem.bytes())
    return ca


def _load_or_create_client_cert(state_dir: str) -> tuple[str, x509.Certificate]:
    """A self-signed RSA certificate and its key in one PEM, as a service principal's cert login uses."""
    path = os.path.join(state_dir, "client.pem")
    if not os.path.isfile(path):
        own = trustme.CA(key_type=trustme.KeyType.RSA, organization_name="azs-bot-client")
        _write_private(path, own.private_key_pem.bytes() + own.cert_pem.bytes())
    with open(path, "rb") as fh:
        return path, x509.load_pem_x509_certificate(fh.read())


class StampSimulator:
    """State of one fake stamp plus the HTTPS server that exposes it. Every method is thread-safe."""

    def __init__(
        self,
        *,
        identity: str = "adfs",
        region: str = "local",
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = "azs-bot-client",
        client_secret: str = "sim-secret",
        backup_seconds: float = 5.0,
        reported_duration: str | None = None,
        outcome: str = "Succeeded",
        lro_style: str = "async",
        retry_after: int = 1,
        token_lifetime: int = 3600,
        stamp_version: str = "1.2108.0.32",
        state_dir: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        build: str | None = None,
        time_scale: float = 1.0,
        api_versions: tuple[str, ...] | None = None,
    ) -> None:
        self.identity = _choice("identity", identity, IDENTITIES)
        self.region, self.subscription_id = region.lower(), subscription_id.lower()
        self.tenant_id, self.client_id, self.client_secret = tenant_id, client_id, client_secret
        self.token_lifetime, self.stamp_version = token_lifetime, stamp_version
        # Knobs: plain attributes (an assignment is atomic); `configure` validates values from outside.
        self.outcome = _choice("outcome", outcome, OUTCOMES)
        self.lro_style = _choice("lro_style", lro_style, LRO_STYLES)
        self.backup_seconds = backup_seconds
        self.retry_after, self.reported_duration = retry_after, reported_duration
        self.build = BUILDS[_choice("build", build, tuple(BUILDS))] if build is not None else None
        """Speak one recorded build's shapes; ``retry_after`` is then the build's, times ``time_scale``."""
        self.time_scale = time_scale
        if self.build is not None:
            self.lro_style, self.stamp_version = self.build.lro_style, self.build.stamp_version
        self.api_versions = _versions(api_versions or (self.build.api_versions if self.build else BACKUP_API_VERSIONS))
        """``Microsoft.Backup.Admin`` versions answered; a request with another (or none) gets ARM's 400."""
        self.arm_api_versions = ARM_API_VERSIONS
        self.update_api_versions = UPDATE_API_VERSIONS
        """``Microsoft.Update.Admin`` versions answered (2016-05-01 as the 2018 sessions, 2021-07-01 as 2022)."""
        self.record_skipped = False
        """UNVERIFIED: whether a scheduled slot skipped during an update appears as a ``Skipped`` backup (the
        status exists only in the 2021-09-01 preview swagger; no recording holds one). Off: nothing appears."""
        self.update_refusal: dict[str, Any] = dict(UPDATE_REFUSAL)
        """SIMULATOR-INVENTED: status, code and message of the createBackup refusal during an update."""
        self.update_read_denied = False
        """Answer every ``Microsoft.Update.Admin`` read with 403 ``AuthorizationFailed`` (a principal without the
        permission; ARM's convention, unverified for this provider)."""
        self.oem_version = (self.build.oem_version if self.build else None) or _OEM_VERSION
        self._thumbprint = _CERT_THUMBPRINT
        self._updates: dict[str, _Update] = {}
        self._active_update: _Update | None = None
        self._forced_update_state: str | None = None
        self._last_updated: float | None = None
        self.operation_origin = ""
        """Scheme, host and port the operation URLs name instead of :attr:`url` (an alias, or a hostile one)."""
        self.url = ""
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._configured = True
        self._tokens: dict[str, float] = {}
        self._ever_issued: list[str] = []
        self._faults: list[Fault] = []
        self._log: list[RequestRecord] = []
        self._backups: dict[str, _Backup] = {}
        self._reads = 15000
        self._server: _Server | None = None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="azs-sim-")
        os.makedirs(self.state_dir, exist_ok=True)
        if state_dir is None:  # our own temp dir: remove its keys once the simulator is gone
            weakref.finalize(self, shutil.rmtree, self.state_dir, ignore_errors=True)
        self._setup_pki()
        self._seed(time.time())

    def _setup_pki(self) -> None:
        ca = _load_or_create_ca(self.state_dir)
        names = [n for n in dict.fromkeys(["127.0.0.1", "localhost", self._host]) if n not in ("", "0.0.0.0")]
        self._server_cert = ca.issue_cert(*names)
        self.ca_pem_path = os.path.join(self.state_dir, "ca.pem")
        self.client_cert_pem_path, cert = _load_or_create_client_cert(self.state_dir)
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError(f"{self.client_cert_pem_path} must hold an RSA certificate")
        self._client_key = key
        self._thumbprints = {
            "x5t": _b64url(cert.fingerprint(hashes.SHA1())),
            "x5t#S256": _b64url(cert.fingerprint(hashes.SHA256())),
        }

    def _seed(self, now: float) -> None:
        """History like a real stamp's: a full success, a scheduled one, then a partial failure."""
        history = [
            (2 * 86400, 1275.0081024, "Succeeded", False, "PT21M15.0081024S"),
            (26 * 3600, 1443.4463122, "Succeeded", True, None),
            (14 * 3600, 388.2716467, "PartialSucceeded", True, None),
        ]
        for ago, took, outcome, automatic, reported in history:
            self._new_backup(now - ago - took, now - ago, outcome, automatic, reported, seeded=True)

    def _new_backup(
        self,
        started: float,
        ends: float,
        outcome: str,
        automatic: bool,
        reported: str | None = None,
        *,
        seeded: bool = False,
    ) -> _Backup:
        """A backup made now: with the stamp's current version and the location's current certificate."""
        with self._lock:
            b = _Backup(
                str(uuid.uuid4()),
                started,
                ends,
                outcome,
                automatic,
                reported,
                seeded,
                stamp_version=self.stamp_version,
                thumbprint=self._thumbprint,
            )
            self._backups[b.backup_id] = b
            return b

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> str:
        """Serve in a daemon thread. After stop() it comes back on the same port, like a rebooted stamp."""
        with self._lock:
            if self._server is None:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                self._server_cert.configure_cert(context)
                self._server = _Server((self._host, self._port), self, context)
                self._port = int(self._server.server_address[1])
                shown = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
                self.url = f"https://{shown}:{self._port}"
                threading.Thread(
                    target=self._server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name="azs-stamp-simulator",
                    daemon=True,
                ).start()
            return self.url

    def stop(self) -> None:
        """Stop answering, cut kept-alive connections and free the port, like a stamp going down."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()

    def env(self, use_cert: bool = False) -> dict[str, str]:
        """Variables that point the bot at this stamp; secret login unless ``use_cert``."""
        env = {"AZS_ARM_ENDPOINT": self.url, "AZS_CLIENT_ID": self.client_id, "AZS_CA_BUNDLE": self.ca_pem_path}
        if use_cert:
            env["AZS_CLIENT_CERT"] = self.client_cert_pem_path
        else:
            env["AZS_CLIENT_SECRET"] = self.client_secret
        if self.identity == "aad":
            env["AZS_TENANT_ID"] = self.tenant_id
        return env

    # ---- test controls ---------------------------------------------------------------------------------
    def configure(self, changes: Mapping[str, Any]) -> None:
        """Change knobs by name (what ``POST /_sim/config`` sends), checking names and values first."""
        casts: dict[str, Callable[[Any], object]] = {
            "outcome": lambda v: _choice("outcome", v, OUTCOMES),
            "backup_seconds": float,
            "retry_after": int,
            "lro_style": lambda v: _choice("lro_style", v, LRO_STYLES),
            "configured": bool,
            "reported_duration": lambda v: None if v is None else str(v),
            "api_versions": _versions,
            "operation_origin": str,
            "update_api_versions": _versions,
            "record_skipped": bool,
            "update_refusal": _refusal,
            "update_read_denied": bool,
        }
        unknown = sorted(set(changes) - set(casts))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(casts)}")
        new = {name: casts[name](value) for name, value in changes.items()}
        with self._lock:
            for name, value in new.items():
                setattr(self, "_configured" if name == "configured" else name, value)

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def set_configured(self, configured: bool) -> None:
        with self._lock:
            self._configured = configured

    def finish_running(self) -> str | None:
        """End the running backup now with the current ``outcome``; return its id (None if idle)."""
        with self._lock:
            running = self._running(time.time())
            if running is None:
                return None
            running.ends_at, running.outcome = time.time(), self.outcome
            return running.backup_id

    def run_scheduled_backup(self, outcome: str = "Succeeded") -> str:
        """Pretend the stamp's scheduler has just finished a (24-minute) backup. During an update the stamp
        skips it: use :meth:`scheduler_slot`, which says so; this raises then."""
        backup_id = self.scheduler_slot(outcome)
        if backup_id is None:
            raise RuntimeError("the stamp skips scheduled backups while an update is not clean (scheduler_slot)")
        return backup_id

    def scheduler_slot(self, outcome: str = "Succeeded") -> str | None:
        """The scheduler's turn now: a finished (24-minute) backup while the update state is clean; during an
        update, nothing (or, with ``record_skipped``, a ``Skipped`` entry: unverified). Returns its id."""
        outcome = _choice("outcome", outcome, OUTCOMES)
        with self._lock:
            now = time.time()
            if not self.update_clean():
                return self._new_backup(now, now, "Skipped", True).backup_id if self.record_skipped else None
            return self._new_backup(now - 1421.2203571, now, outcome, True).backup_id

    def prune_backups(self, older_than: float) -> list[str]:
        """Delete finished backups made more than ``older_than`` seconds ago, as the stamp's retention does
        (2 to 14 days); return their ids. The stamp then no longer lists or finds them."""
        with self._lock:
            now = time.time()
            gone = [b.backup_id for b in self._backups.values() if b.ends_at <= now and b.ends_at < now - older_than]
            for backup_id in gone:
                del self._backups[backup_id]
            return gone

    # ---- update controls (Microsoft.Update.Admin) ------------------------------------------------------
    def offer_update(self, version: str) -> None:
        """Make an update package available (``Ready``): the location says ``UpdateAvailable``."""
        version = _update_version(version)
        with self._lock:
            self._updates.setdefault(version.lower(), _Update(version, self.stamp_version))

    def start_update(
        self,
        version: str,
        *,
        prepare_seconds: float = 0.0,
        seconds: float | None = None,
        outcome: str = "Succeeded",
        stage: str = "install",
    ) -> str:
        """Install ``version``: ``PreparationInProgress`` for ``prepare_seconds``, then ``UpdateInProgress`` for
        ``seconds`` (``None``: until :meth:`finish_update` or :meth:`fail_update`), then ``outcome``. On success
        the version becomes current, ``lastUpdated`` the run's end. Returns the run id."""
        version = _update_version(version)
        outcome = _choice("outcome", outcome, ("Succeeded", "Failed"))
        stage = _choice("stage", stage, UPDATE_STAGES)
        with self._lock:
            now = time.time()
            if self._running_update_run(now) is not None:
                raise ValueError("an update is already running; finish or fail it first")
            update = self._updates.setdefault(version.lower(), _Update(version, self.stamp_version))
            if update.installed_at is not None:
                raise ValueError(f"update {version} is already installed")
            prepared = now + max(0.0, prepare_seconds)
            ends = None if seconds is None else prepared + max(0.0, seconds)
            run = _UpdateRun(str(uuid.uuid4()), now, prepared, ends, outcome, stage)
            update.runs.append(run)
            self._active_update = update
            return run.run_id

    def finish_update(self) -> str | None:
        """End the running update now, successfully; return the version now current (``None`` if none ran)."""
        with self._lock:
            now = time.time()
            run = self._running_update_run(now)
            if run is None or self._active_update is None:
                return None
            run.prepared_at, run.ends_at, run.outcome = min(run.prepared_at, now), now, "Succeeded"
            version = self._active_update.version
            self._settle_update(now)
            return version

    def fail_update(self, stage: str = "install") -> str | None:
        """End the running update now in failure; the version stays. ``health``: blocked by the health check
        before installing (as recorded in 2022: location ``UpdateFailed``, update ``PreparationFailed``);
        ``install``: failed while installing (update ``InstallationFailed``). Returns the run id."""
        stage = _choice("stage", stage, UPDATE_STAGES)
        with self._lock:
            now = time.time()
            run = self._running_update_run(now)
            if run is None:
                return None
            run.prepared_at, run.ends_at, run.outcome, run.failed_stage = (
                min(run.prepared_at, now),
                now,
                "Failed",
                stage,
            )
            return run.run_id

    def resume_update(self, seconds: float | None = None) -> str | None:
        """Rerun a failed update: a new run, ``UpdateInProgress`` again. Returns its id (``None``: nothing failed)."""
        with self._lock:
            now = time.time()
            self._settle_update(now)
            update = self._active_update
            if update is None or not update.runs or update.runs[-1].state(now) != "Failed":
                return None
            run = _UpdateRun(str(uuid.uuid4()), now, now, None if seconds is None else now + max(0.0, seconds))
            update.runs.append(run)
            return run.run_id

    def set_update_state(self, state: str | None) -> None:
        """Force the location's ``state`` to any text (``NeedsAttention``, a value no enum lists); ``None`` derives
        it from the updates again."""
        if state is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,63}", state):
            raise ValueError(f"an update state is letters and digits, got {state!r}")
        with self._lock:
            self._forced_update_state = state

    def deny_update_read(self, denied: bool = True) -> None:
        """403 ``AuthorizationFailed`` on every ``Microsoft.Update.Admin`` read, as for a principal without it."""
        with self._lock:
            self.update_read_denied = denied

    def rotate_thumbprint(self, thumbprint: str | None = None) -> str:
        """A new encryption certificate on the backup location: later backups name it, earlier ones keep theirs."""
        new = thumbprint or secrets.token_hex(20).upper()
        if not re.fullmatch(r"[0-9A-F]{40}", new):
            raise ValueError(f"a thumbprint is 40 upper-case hex digits, got {new!r}")
        with self._lock:
            self._thumbprint = new
            return new

    def update_state(self) -> str:
        """The update location's ``state`` now."""
        with self._lock:
            return self._update_location_state(time.time())

    def update_clean(self) -> bool:
        """Whether the stamp takes backups now (its update state is one of :data:`CLEAN_UPDATE_STATES`)."""
        return self.update_state() in CLEAN_UPDATE_STATES

    def running_backup_id(self) -> str | None:
        with self._lock:
            running = self._running(time.time())
            return running.backup_id if running else None

    @property
    def finished_at(self) -> dict[str, float]:
        """Backup id -> when it became terminal. Seeded history is left out: its lag means nothing."""
        with self._lock:
            now = time.time()
            return {b.backup_id: b.ends_at for b in self._backups.values() if not b.seeded and b.ends_at <= now}

    @property
    def requests_log(self) -> list[RequestRecord]:
        """A copy: every request except those to the control API."""
        with self._lock:
            return list(self._log)

    def secrets_issued(self) -> list[str]:
        """Every value the bot must never log or show: the client secret, each access token ever
        issued, and each backup's ``encryptedBackupEncryptionKey``."""
        with self._lock:
            return [self.client_secret, *self._ever_issued, *(b.key for b in self._backups.values())]

    def count(self, method: str, path_contains: str) -> int:
        needle = path_contains.lower()
        return sum(1 for r in self.requests_log if method.upper() in ("*", r.method) and needle in r.path.lower())

    def state(self) -> dict[str, Any]:
        """What ``GET /_sim/state`` shows: enough for a demo or a test in another process."""
        with self._lock:
            now, counts = time.time(), dict[str, int]()
            for r in self._log:
                counts[f"{r.method} {r.kind}"] = counts.get(f"{r.method} {r.kind}", 0) + 1
            backups = sorted(self._backups.values(), key=lambda b: b.started_at)
            return {
                "url": self.url,
                "identity": self.identity,
                "configured": self._configured,
                "running": self.running_backup_id(),
                "finished_at": self.finished_at,
                "counts": counts,
                "pending_faults": len(self._faults),
                "outcome": self.outcome,
                "backup_seconds": self.backup_seconds,
                "lro_style": self.lro_style,
                "retry_after": self.retry_after,
                "reported_duration": self.reported_duration,
                "build": next((k for k, v in BUILDS.items() if v == self.build), None),
                "api_versions": list(self.api_versions),
                "operation_origin": self.operation_origin,
                "backups": [{"id": b.backup_id, "status": b.status(now), "automatic": b.automatic} for b in backups],
                "thumbprint": self._thumbprint,
                "update": {
                    "state": self._update_location_state(now),
                    "current_version": self.stamp_version,
                    "read_denied": self.update_read_denied,
                    "record_skipped": self.record_skipped,
                    "updates": {u.version: u.state(now) for u in self._updates.values()},
                },
            }

    # ---- used by the request handler -------------------------------------------------------------------
    def _running_update_run(self, now: float) -> _UpdateRun | None:
        self._settle_update(now)
        update = self._active_update
        run = update.runs[-1] if update is not None and update.runs else None
        return run if run is not None and run.state(now) == "InProgress" else None

    def _settle_update(self, now: float) -> None:
        """Apply an update whose run has succeeded by now: its version is current from the run's end."""
        with self._lock:
            update = self._active_update
            run = update.runs[-1] if update is not None and update.runs else None
            if update is None or run is None or run.ends_at is None or run.state(now) != "Succeeded":
                return
            update.installed_at = self._last_updated = run.ends_at
            self.stamp_version, self._active_update = update.version, None

    def _update_location_state(self, now: float) -> str:
        """``RegionUpdateState`` from the updates: preparing, installing, failed, available or applied."""
        self._settle_update(now)
        if self._forced_update_state is not None:
            return self._forced_update_state
        update = self._active_update
        if update is not None:
            run = update.runs[-1]
            if run.state(now) == "InProgress":
                return "PreparationInProgress" if now < run.prepared_at else "UpdateInProgress"
            return "UpdateFailed"
        if any(u.installed_at is None for u in self._updates.values()):
            return "UpdateAvailable"
        return "AppliedSuccessfully"

    def _running(self, now: float) -> _Backup | None:
        return next((b for b in self._backups.values() if b.status(now) == "Running"), None)

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault

    def _reads_left(self) -> str:
        """ARM's hourly read budget, counting down like x-ms-ratelimit-remaining-subscription-reads."""
        with self._lock:
            self._reads = max(self._reads - 1, 0)
            return str(self._reads)

    def _token_ok(self, token: str) -> bool:
        with self._lock:
            return self._tokens.get(token, 0.0) > time.time()

    def _grant(self, form: Mapping[str, str]) -> _Reply:
        """The client-credentials grant as AD FS / Azure AD answer it, never echoing the secret."""
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
        if not hmac.compare_digest(form.get("client_id", "").encode(), self.client_id.encode()):
            return _oauth_error(401, "invalid_client", "Unknown client_id.")
        if "client_assertion" in form:
            problem = self._assertion_problem(form.get("client_assertion_type", ""), form["client_assertion"])
            if problem:
                return _oauth_error(401, "invalid_client", problem)
        elif not hmac.compare_digest(form.get("client_secret", "").encode(), self.client_secret.encode()):
            return _oauth_error(401, "invalid_client", "The client secret is invalid or missing.")
        scopes, audience = form.get("scope", "").split(), AUDIENCE.lower()
        if not scopes or not all(
            s.lower().startswith(audience) and s.endswith(("/.default", "/openid")) for s in scopes
        ):
            return _oauth_error(400, "invalid_scope", f"Ask for {AUDIENCE}/.default (or /openid).")
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
            self._ever_issued.append(token)
        body = {"token_type": "bearer", "access_token": token, "expires_in": self.token_lifetime}
        return _json(200, body, {"Cache-Control": "no-store"})

    def _assertion_problem(self, assertion_type: str, assertion: str) -> str | None:
        """Check a JWT client assertion against the client certificate; say why it fails, if it does."""
        if assertion_type != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return "client_assertion_type must be jwt-bearer."
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header, claims = json.loads(_b64url_decode(head_b64)), json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except ValueError:
            return "The client assertion is not a JWT."
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return "The client assertion is not a JWT."
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
        pads: dict[str, padding.AsymmetricPadding] = {"RS256": padding.PKCS1v15(), "PS256": pss}
        pad = pads.get(str(header.get("alg")))
        if pad is None:
            return "The client assertion must be signed with RS256 or PS256."
        if any(
            name in header and str(header[name]).rstrip("=") != value  # MSAL pads x5t, RFC 7515 does not
            for name, value in self._thumbprints.items()
        ):
            return "The certificate thumbprint does not match the registered certificate."
        try:
            self._client_key.verify(signature, f"{head_b64}.{claims_b64}".encode(), pad, hashes.SHA256())
        except InvalidSignature:
            return "The client assertion signature is invalid."
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return "The client assertion's iss and sub must both be the client_id."
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < time.time():
            return "The client assertion has expired."
        return None

    def _create_backup(self) -> tuple[str, str | None]:
        """('started', new id), ('busy', running id), ('update', None) or ('unconfigured', None)."""
        with self._lock:
            now = time.time()
            running = self._running(now)
            if running is not None:
                return "busy", running.backup_id
            if not self.update_clean():
                return "update", None
            if not self._configured:
                return "unconfigured", None
            b = self._new_backup(now, now + self.backup_seconds, self.outcome, False, self.reported_duration)
            return "started", b.backup_id

    def _subscription(self) -> dict[str, Any]:
        sub = self.subscription_id
        return {
            "id": f"/subscriptions/{sub}",
            "subscriptionId": sub,
            "state": "Enabled",
            "displayName": "Default Provider Subscription",
        }

    def _region(self) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{self.subscription_id}/locations/{self.region}",
            "name": self.region,
            "displayName": self.region,
        }

    def _prefix(self) -> str:
        """As the recorded ids and operation URLs spell it (``system.`` in lower case, on every build)."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/system.{self.region}"
            f"/providers/Microsoft.Backup.Admin/backupLocations/{self.region}"
        )

    def _backup_view(self, backup_id: str) -> tuple[str, dict[str, Any]] | None:
        """(status, Backup resource) for an id, or None if it is unknown."""
        with self._lock:
            b, now = self._backups.get(backup_id.lower()), time.time()
            return None if b is None else (b.status(now), self._backup_body(b, now))

    def _backup_list(self) -> dict[str, Any]:
        """Sorted by id, not by time, as the real list is: the bot has to sort by itself."""
        with self._lock:
            now = time.time()
            return {
                "value": [self._backup_body(self._backups[k], now) for k in sorted(self._backups)],
                "nextLink": None,
            }

    def _backup_body(self, b: _Backup, now: float) -> dict[str, Any]:
        status = b.status(now)
        done = status != "Running"
        if status == "Succeeded":
            took: str | None = b.reported_duration or _iso_duration(b.ends_at - b.started_at)
        else:
            took = "PT0S" if done else None  # failed and partial backups report PT0S; running: unrecorded
        build = self.build
        info = {
            "backupDataVersion": build.data_version if build else "1.1.0",
            "backupId": b.backup_id,
            "roleStatus": _role_status(status, build),
            "status": status,
            "createdDateTime": _iso_time(b.ends_at if done else b.started_at),
            "timeTakenToCreate": took,
            "stampVersion": b.stamp_version,
            "oemVersion": build.oem_version if build else _OEM_VERSION,
            "deploymentID": _DEPLOYMENT_ID,
            "encryptedBackupEncryptionKey": b.key,
            "encryptionCertThumbprint": b.thumbprint,
            "backupSizeInKb": 0,
            "compressedBackupSizeInKb": 0,
            "completelyUploaded": status in ("Succeeded", "PartialSucceeded"),
            "isAutomaticBackup": b.automatic,
            "isCloudRecoveryReady": status == "Succeeded" and (build is None or build.recovery_ready),
        }
        if build is not None and not build.reports_automatic:
            del info["isAutomaticBackup"]
        if build is not None and not build.reports_uploaded:
            del info["completelyUploaded"]
        return {
            "id": f"{self._prefix()}/backups/{b.backup_id}",
            "name": f"{self.region}/{b.backup_id}",
            "type": "Microsoft.Backup.Admin/backupLocations/backups",
            "location": self.region,
            "tags": {},
            "properties": {"backupInfo": info},
        }

    def _location_body(self) -> dict[str, Any]:
        """The BackupLocation. Unconfigured: the signature recorded after Clear-AzsBackupConfiguration."""
        with self._lock:
            now, configured = time.time(), self._configured
            done = [b.ends_at for b in self._backups.values() if b.ends_at <= now and b.outcome != "Skipped"]
        store: dict[str, Any] = {
            "path": r"\\su1fileserver.sim.azurestack.local\SU1_Infrastructure_1\BackupStore",
            "userName": "azurestack\\azurestackadmin",
            "password": None,
            "encryptionCertBase64": None,
            "encryptionCertThumbprint": self._thumbprint,
            "backupFrequencyInHours": 12,
            "availableCapacity": "1.00 TB",
            "isBackupSchedulerEnabled": True,
            "nextBackupTime": _iso_time(now + 43200 - now % 43200),
            "lastBackupTime": _iso_time(max(done)) if done else None,
            "backupRetentionPeriodInDays": 7,
        }
        if not configured:
            store.update(
                path="",
                userName="",
                encryptionCertThumbprint=None,
                availableCapacity=None,
                isBackupSchedulerEnabled=None,
                nextBackupTime=None,
            )
        return {
            "id": self._prefix(),
            "name": self.region,
            "type": "Microsoft.Backup.Admin/backupLocations",
            "location": self.region,
            "tags": {},
            "properties": {"externalStoreDefault": store, "provisioningState": "Succeeded"},
        }

    # ---- Microsoft.Update.Admin ------------------------------------------------------------------------
    def _update_prefix(self) -> str:
        """As the 2022 recordings spell it (``resourceGroups/System.{region}``)."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/System.{self.region}"
            f"/providers/Microsoft.Update.Admin/updateLocations/{self.region}"
        )

    def _update_reply(self, resource: _Resource, version: str) -> _Reply:
        """Answer a read of the update location, its updates or their runs."""
        if self.update_read_denied:
            return _arm_error(403, "AuthorizationFailed", _denial(self, resource))
        with self._lock:
            now = time.time()
            self._settle_update(now)
            if resource.kind in ("updateLocations", "updateLocation"):
                body = self._update_location_body(now, version, listed=resource.kind == "updateLocations")
                return _json(200, {"value": [body]} if resource.kind == "updateLocations" else body)
            update_name, _, run_id = resource.name.partition("/")
            if resource.kind == "updates":
                return _json(
                    200, {"value": [self._update_body(u, now) for u in self._updates.values()], "nextLink": None}
                )
            update = self._updates.get(update_name.removeprefix("microsoft"))
            if update is None or not update_name.startswith("microsoft"):
                return _Reply(404)  # as recorded: a 404 under updateLocations has an empty body
            if resource.kind == "update":
                return _json(200, self._update_body(update, now))
            runs = [self._run_body(update, run, now) for run in update.runs if run_id in ("", run.run_id)]
            if resource.kind == "updateRuns":
                return _json(200, {"value": runs, "nextLink": None})
            return _json(200, runs[0]) if runs else _Reply(404)

    def _update_location_body(self, now: float, version: str, *, listed: bool) -> dict[str, Any]:
        """2016-05-01: the four fields of the 2018 sessions (their single GET spells ``resourcegroups``);
        2021-07-01: the 2022 recording's fields, ``lastChecked`` without an offset, ``lastUpdated`` once an
        update was applied here (the 2022 stamp sent none)."""
        state, current = self._update_location_state(now), self.stamp_version
        prefix = self._update_prefix()
        props: dict[str, Any] = {"currentVersion": current, "currentOemVersion": self.oem_version}
        if self._last_updated is not None:
            props["lastUpdated"] = _iso_time(self._last_updated)
        if version == "2016-05-01":
            prefix = prefix if listed else prefix.replace("/resourceGroups/", "/resourcegroups/")
        else:
            props = {
                "oemFamily": "",
                "hardwareModel": "Hyper-V",
                "lastChecked": f"{datetime.fromtimestamp(int(now), UTC):%Y-%m-%dT%H:%M:%S}",
                "packageVersions": [
                    {"packageType": "Services", "version": current},
                    {"packageType": "Infrastructure", "version": current},
                    {"packageType": "OEM", "version": self.oem_version},
                ],
                **props,
            }
        props["state"] = state
        return {
            "id": prefix,
            "name": self.region,
            "type": "Microsoft.Update.Admin/updateLocations",
            "location": self.region,
            "tags": {},
            "properties": props,
        }

    def _update_body(self, update: _Update, now: float) -> dict[str, Any]:
        """An update as the 2022 recording has it (``name`` prefixed with the region, ``prerequisites``)."""
        name = f"Microsoft{update.version}"
        state = update.state(now)
        props: dict[str, Any] = {
            "description": f"AzS Update {update.version}",
            "state": state,
            "kbLink": "https://learn.microsoft.com/azure-stack/operator/release-notes",
            "minVersionRequired": update.min_version,
            "minOemVersionRequired": "2.1.0.0",
            "packagePath": f"\\\\SU1FileServer\\SU1_Infrastructure_2\\Updates\\Packages\\{name}",
            "packageSizeInMb": 224,
            "displayName": f"AzS Update - {update.version}",
            "version": update.version,
            "publisher": "Microsoft",
            "releaseLink": "https://learn.microsoft.com/azure-stack/operator/release-notes",
            "availabilityType": "Local",
            "packageType": "Infrastructure",
            "prerequisites": [],
            "updateStateProperties": {"progressPercentage": 100 if state == "Installed" else 0},
        }
        if update.installed_at is not None:
            props["installedDate"] = _iso_time(update.installed_at)
        return {
            "id": f"{self._update_prefix()}/updates/{name}",
            "name": f"{self.region}/{name}",
            "type": "Microsoft.Update.Admin/updateLocations/updates",
            "location": self.region,
            "tags": {},
            "properties": props,
        }

    def _run_body(self, update: _Update, run: _UpdateRun, now: float) -> dict[str, Any]:
        """A run: ``timeStarted`` with ``+00:00`` and ``duration`` ``PT0S`` unless it succeeded (as recorded)."""
        name, state = f"Microsoft{update.version}", run.state(now)
        took = run.ends_at - run.started_at if state == "Succeeded" and run.ends_at is not None else 0.0
        return {
            "id": f"{self._update_prefix()}/updates/{name}/updateRuns/{run.run_id}",
            "name": f"{self.region}/{name}/{run.run_id}",
            "type": "Microsoft.Update.Admin/updateLocations/updates/updateRuns",
            "location": self.region,
            "tags": {},
            "properties": {
                "progress": _run_progress(run, state, now),
                "timeStarted": _iso_time(run.started_at).replace("Z", "+00:00"),
                "duration": _iso_duration(took),
                "state": state,
            },
        }

    def _retry_after(self, polling: bool) -> int:
        """The build's cadence (60 s after createBackup; 60 or 30 s while polling), scaled for tests."""
        if self.build is None:
            return self.retry_after
        seconds = (self.build.poll_retry_after if polling else self.build.start_retry_after) * self.time_scale
        return math.ceil(seconds) if seconds > 0 else 0

    def _lro_headers(self, op_id: str, api_version: str, polling: bool = False) -> dict[str, str]:
        """As recorded: ``Location`` carries the request's api-version; ``Azure-AsyncOperation`` adds
        ``&IsAsyncOperation=1``."""
        origin = self.operation_origin or self.url
        location = f"{origin}{self._prefix()}/operationResults/{op_id}?api-version={api_version}"
        headers = {"Location": location, "Retry-After": str(self._retry_after(polling))}
        if self.lro_style == "async":
            headers["Azure-AsyncOperation"] = location + "&IsAsyncOperation=1"
        return headers

    def _login(self) -> tuple[str, str, str]:
        """(authority path, discovery suffix, token suffix) of the configured identity provider."""
        if self.identity == "adfs":
            return "/adfs", "/.well-known/openid-configuration", "/oauth2/token/"
        return f"/{self.tenant_id}", "/v2.0/.well-known/openid-configuration", "/oauth2/v2.0/token"

    def _discovery(self) -> dict[str, Any]:
        """OpenID configuration: AD FS (no tenant, trailing slashes) or an Azure AD v2.0 tenant."""
        base, v2 = self.url + self._login()[0], "" if self.identity == "adfs" else "/v2.0"
        return {
            "issuer": base + v2,
            "token_endpoint": base + self._login()[2],
            "authorization_endpoint": f"{base}/oauth2{v2}/authorize" + ("" if v2 else "/"),
            "jwks_uri": f"{base}/discovery{v2}/keys",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        }

    def _metadata(self) -> dict[str, Any]:
        adfs = self.identity == "adfs"
        return {
            "galleryEndpoint": "https://adminportal.sim.azurestack.local:30015/",
            "graphEndpoint": "https://graph.sim.azurestack.local/" if adfs else "https://graph.windows.net/",
            "portalEndpoint": "https://adminportal.sim.azurestack.local/",
            "authentication": {
                "loginEndpoint": f"{self.url}/adfs" if adfs else f"{self.url}/",
                "audiences": [AUDIENCE],
            },
        }


def _resolve(sim: StampSimulator, path: str, version: str) -> _Resource | _Reply:
    """What a lower-cased ARM path names, or ARM's 404 (with its error body) when it names nothing."""
    sub, region = sim.subscription_id, sim.region
    if path == "/subscriptions":
        return _Resource("subscriptions", ("GET",), "subscriptions")
    if path == f"/subscriptions/{sub}/locations":
        return _Resource("locations", ("GET",), "locations")
    other = re.fullmatch(r"/subscriptions/([^/]+)(/.*)?", path)
    if other and other[1] != sub:
        return _arm_error(404, "SubscriptionNotFound", f"The subscription '{other[1]}' could not be found.")
    update = _UPDATE_RE.fullmatch(path)
    if update is not None:
        return _update_resource(sim, update, version)
    match = _PREFIX_RE.fullmatch(path)
    if match is None:
        return _arm_error(404, "ResourceNotFound", f"No resource was found at '{path}'.")
    if match["rg"] != f"system.{region}":
        return _arm_error(404, "ResourceGroupNotFound", f"Resource group '{match['rg']}' could not be found.")
    if match["loc"] != region:
        return _arm_error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Backup.Admin/backupLocations/{match['loc']}' under resource group "
            f"'{match['rg']}' was not found.",
        )
    return _backup_resource((match["rest"] or "").strip("/").split("/"), version)


_BACKUP_RESOURCES: dict[tuple[str, ...], _Resource] = {
    ("",): _Resource("backupLocation", ("GET",)),
    ("backups",): _Resource("backups", ("GET",), "backupLocations/backups"),
    ("createbackup",): _Resource("createBackup", ("POST",)),
}
"""Everything under ``.../backupLocations/{region}`` the simulator serves (the bot never writes the
configuration, restores or prunes, so those answer as unknown here)."""


def _backup_resource(parts: list[str], version: str) -> _Resource | _Reply:
    """A path below the backup location: a fixed resource, a backup, or an operation result."""
    fixed = _BACKUP_RESOURCES.get(tuple(parts))
    if fixed is not None:
        return fixed
    if len(parts) == 2 and parts[0] == "backups":
        return _Resource("backup", ("GET",), "backupLocations/backups", parts[1])
    if len(parts) == 2 and parts[0] == "operationresults":
        return _Resource("operation", ("GET",), "backupLocations/operationResults", parts[1])
    return _arm_error(
        404,
        "InvalidResourceType",
        f"The resource type 'backupLocations/{'/'.join(parts[::2])}' could not be found in the namespace "
        f"'Microsoft.Backup.Admin' for api version '{version}'.",
    )


def _update_resource(sim: StampSimulator, match: re.Match[str], version: str) -> _Resource | _Reply:
    """What a path under ``Microsoft.Update.Admin/updateLocations`` names. Only reads are served: the bot
    never prepares, applies or reruns an update, so those answer as unknown here (tests use the controls)."""
    group, location = match["rg"], match["loc"]
    if group != f"system.{sim.region}":
        return _arm_error(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
    if location is None:
        return _Resource("updateLocations", ("GET",), "updateLocations")
    if location != sim.region:
        return _arm_error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Update.Admin/updateLocations/{location}' under resource group '{group}' "
            "was not found.",
        )
    parts = (match["rest"] or "").strip("/").split("/")
    shapes = {
        ("",): ("updateLocation", "updateLocations"),
        ("updates",): ("updates", "updateLocations/updates"),
        ("updates", "*"): ("update", "updateLocations/updates"),
        ("updates", "*", "updateruns"): ("updateRuns", "updateLocations/updates/updateRuns"),
        ("updates", "*", "updateruns", "*"): ("updateRun", "updateLocations/updates/updateRuns"),
    }
    shape = tuple("*" if i % 2 else p for i, p in enumerate(parts))
    if shape in shapes:
        kind, type_name = shapes[shape]
        return _Resource(kind, ("GET",), type_name, "/".join(parts[1::2]))
    return _arm_error(
        404,
        "InvalidResourceType",
        f"The resource type 'updateLocations/{'/'.join(parts[::2])}' could not be found in the namespace "
        f"'Microsoft.Update.Admin' for api version '{version}'.",
    )


def _denial(sim: StampSimulator, resource: _Resource) -> str:
    """ARM's ``AuthorizationFailed`` text (its convention; no recording shows it for this provider)."""
    action = f"Microsoft.Update.Admin/{resource.type_name}/read"
    scope = f"/subscriptions/{sim.subscription_id}/resourceGroups/System.{sim.region}"
    return (
        f"The client '{sim.client_id}' with object id '{sim.client_id}' does not have authorization to perform "
        f"action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
        "please refresh your credentials."
    )


def _run_progress(run: _UpdateRun, state: str, now: float) -> dict[str, Any]:
    """A run's ``progress``. A run stopped by the health check is the 2022 recording's; the other shapes (in
    progress, installed, failed while installing) follow its step names but were never recorded."""
    if state == "Failed" and run.failed_stage == "health":
        blocked = (
            "Update is blocked due to health check failure.\r\n    To remediate please check the health check "
            "alert details and \r\n    follow the instructions: https://aka.ms/TroubleshootAzureStackUpdates"
        )
        steps = [
            ("Downloading update", "", "Success"),
            ("Validating the download and extracting files.", "", "Success"),
            ("Update is blocked due to health check failure", blocked, "Error"),
            ("Initiating update installation.", "", "NotStarted"),
        ]
        return _progress("Preparing to install", "Extracted", steps)
    preparing = state == "InProgress" and now < run.prepared_at
    install = "NotStarted" if preparing else {"InProgress": "InProgress", "Succeeded": "Success"}.get(state, "Error")
    steps = [
        ("Downloading update", "", "Success"),
        ("Validating the download and extracting files.", "", "InProgress" if preparing else "Success"),
        ("Initiating update installation.", "", install),
    ]
    top = "Preparing to install" if preparing else "Installing"
    return _progress(top, {"Succeeded": "Success", "Failed": "Error"}.get(state, "InProgress"), steps)


def _progress(name: str, status: str, steps: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "name": name,
        "description": name,
        "status": status,
        "steps": [{"name": n, "description": d, "status": s} for n, d, s in steps],
    }


def _update_version(value: object) -> str:
    """An update's version (``1.2206.0.12``): it goes into resource names and paths."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,4}(\.\d{1,6}){1,3}", value):
        raise ValueError(f"an update version looks like 1.2206.0.12, got {value!r}")
    return value


def _refusal(value: object) -> dict[str, Any]:
    """The createBackup refusal during an update, from ``{"status", "code", "message"}``."""
    if not isinstance(value, dict) or set(value) != {"status", "code", "message"}:
        raise ValueError(f"update_refusal takes status, code and message, got {value!r}")
    status = int(value["status"])
    if not 400 <= status <= 599:
        raise ValueError(f"update_refusal status must be an HTTP error (400-599), got {status}")
    return {"status": status, "code": str(value["code"]), "message": str(value["message"])}


def _version_refusal(sim: StampSimulator, resource: _Resource, version: str) -> _Reply | None:
    """ARM's 400 for an api-version the resource's provider does not serve (texts as ARM words them)."""
    if resource.provider == "Microsoft.Resources":
        if version in sim.arm_api_versions:
            return None
        supported = ", ".join(sim.arm_api_versions)
        return _arm_error(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{supported}'.",
        )
    served = sim.update_api_versions if resource.provider == "Microsoft.Update.Admin" else sim.api_versions
    if version in served:
        return None
    return _arm_error(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{sim.region}' and API version '{version}' for "
        f"type '{resource.type_name}'. The supported api-versions are '{', '.join(served)}'. "
        f"The supported locations are '{sim.region}'.",
    )


def _method_refusal(resource: _Resource, method: str) -> _Reply | None:
    """405, as ARM answers a method the resource type does not have, with ``Allow``."""
    if method in resource.methods:
        return None
    return _arm_error(
        405,
        "MethodNotAllowed",
        f"The requested resource does not support http method '{method}'.",
        {"Allow": ", ".join(resource.methods)},
    )


def _versions(value: object) -> tuple[str, ...]:
    """A non-empty list of api-versions (``2018-09-01``, ``2021-09-01-preview``), from Python or JSON."""
    versions = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list | tuple) else ()
    shaped = all(isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", v) for v in versions)
    if not versions or not shaped:
        raise ValueError(f"api_versions must be a non-empty list of dates like 2018-09-01, got {value!r}")
    return tuple(str(v) for v in versions)


def _role_status(status: str, build: BuildShape | None = None) -> list[dict[str, Any]]:
    """Per-role results. A partial backup fails all roles but the first, as the recorded 2108 ones did."""
    if status not in ("Succeeded", "PartialSucceeded", "Failed"):
        return []  # running, or skipped (no role ran)
    roles = build.roles if build is not None and (status == "Succeeded" or build.roles == ROLES_1809) else ROLES
    failed = {"Succeeded": (), "PartialSucceeded": roles[1:], "Failed": roles}[status]
    rows: list[dict[str, Any]] = []
    for role in roles:
        state = "Failed" if role in failed else "Succeeded"
        if build is not None and build.api_version == "2018-09-01":
            rows.append({"roleName": role, "status": state})  # repositoryStatus arrived with build 2108
            continue
        repositories = [{"fullRepositoryName": f"{role};{role};-;-", "status": state}]
        rows.append({"roleName": role, "repositoryStatus": repositories, "status": state})
    return rows


def _seconds(value: object) -> float | None:
    return None if value is None else float(str(value))


def _start_update(sim: StampSimulator, payload: Mapping[str, Any]) -> str:
    """``POST /_sim/update/start`` with ``version`` and optionally ``prepare_seconds``, ``seconds``,
    ``outcome`` and ``stage`` (see :meth:`StampSimulator.start_update`)."""
    return sim.start_update(
        str(payload.get("version", "")),
        prepare_seconds=_seconds(payload.get("prepare_seconds")) or 0.0,
        seconds=_seconds(payload.get("seconds")),
        outcome=str(payload.get("outcome", "Succeeded")),
        stage=str(payload.get("stage", "install")),
    )


def _fault_from_json(payload: Mapping[str, Any]) -> Fault:
    """Build a Fault from control-API JSON, casting types so that a shell-typed "429" works too."""
    known = {f.name for f in fields(Fault)}
    if set(payload) - known or "status" not in payload:
        raise ValueError(f"a fault needs 'status' and may have {sorted(known)}; got {sorted(payload)}")
    text = {k: None if payload.get(k) is None else str(payload[k]) for k in ("retry_after", "body")}
    return Fault(
        status=int(payload["status"]),
        times=int(payload.get("times", 1)),
        method=str(payload.get("method", "*")),
        path_contains=str(payload.get("path_contains", "")),
        retry_after=text["retry_after"],
        delay=float(payload.get("delay", 0.0)),
        body=text["body"],
        headers={str(k): str(v) for k, v in dict(payload.get("headers") or {}).items()},
    )


class _Server(ThreadingHTTPServer):
    """Threaded HTTPS server. The TLS handshake runs in the worker thread, so a slow client blocks no one.

    Connections are kept alive (HTTP/1.1), as ARM's are; the server tracks them so ``stop()`` can cut them.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: StampSimulator, context: ssl.SSLContext) -> None:
        super().__init__(address, _Handler)
        self.sim = sim
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            open_now, self._connections = list(self._connections), set()
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()

    def handle_error(self, request: _Request, client_address: Any) -> None:
        """Resets and failed handshakes are the client's business; anything else is a bug worth showing."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Answers one request: control API, then faults, identity provider, metadata and ARM."""

    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes; don't wait for a delayed ACK
    timeout = 30  # an idle kept-alive connection is closed after this

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo read requests_log instead."""

    def version_string(self) -> str:
        return "Microsoft-HTTPAPI/2.0"

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            reply = self._answer(body)
        except Exception:
            traceback.print_exc()
            reply = _arm_error(500, "InternalServerError", "The simulator failed; see its stderr.")
        if not self.path.lower().startswith("/_sim/"):
            bearer = self.headers.get("Authorization", "").lower().startswith("bearer ")
            self.server.sim._record(
                RequestRecord(self.command, self.path, reply.status, time.time(), bearer, _kind(self.path))
            )
        self.send_response(reply.status)
        for name, value in {**reply.headers, "Content-Length": str(len(reply.body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _answer(self, body: bytes) -> _Reply:
        sim, method = self.server.sim, self.command
        split = urlsplit(self.path)
        path = split.path.rstrip("/").lower() or "/"
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        fault = sim._take_fault(method, self.path)
        reply = self._faulted(fault) if fault else None
        if reply is None and _is_arm(path):
            query = {k.lower(): v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            reply = self._arm(method, path, query)
        elif reply is None:
            reply = self._anonymous(method, path, body)
        if _is_arm(path) or path == "/metadata/endpoints":
            correlation = (
                self.headers.get("x-ms-correlation-request-id")
                or self.headers.get("x-ms-client-request-id")
                or str(uuid.uuid4())
            )
            reply.headers.update(
                {
                    "x-ms-request-id": str(uuid.uuid4()),
                    "Cache-Control": "no-cache",
                    "x-ms-correlation-request-id": correlation,
                    "x-ms-ratelimit-remaining-subscription-reads": sim._reads_left(),
                }
            )
        return reply

    def _faulted(self, fault: Fault) -> _Reply | None:
        """Sleep, then answer with the fault's status/body; None lets the request through (delay only)."""
        time.sleep(fault.delay)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        headers.update(fault.headers)
        if fault.body is not None:
            headers["Content-Type"] = "application/json"
            return _Reply(fault.status or 200, fault.body.encode(), headers)
        if fault.status == 0:
            return None
        phrase = HTTPStatus(fault.status).phrase if fault.status in set(HTTPStatus) else "Error"
        if "/oauth2/" in self.path.lower():
            return _oauth_error(fault.status, "temporarily_unavailable", f"Injected {phrase}.", headers)
        return _arm_error(fault.status, re.sub(r"\W", "", phrase), f"Injected fault: {phrase}.", headers)

    def _anonymous(self, method: str, path: str, body: bytes) -> _Reply:
        """Metadata endpoint and the identity provider: no token needed."""
        sim = self.server.sim
        if path == "/metadata/endpoints" and method == "GET":
            return _json(200, sim._metadata())
        authority, discovery, token = (part.lower().rstrip("/") for part in sim._login())
        if path == authority + discovery and method == "GET":
            return _json(200, sim._discovery())
        if path == authority + token and method == "POST":
            return sim._grant({k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
        return _json(404, {"error": "not_found", "error_description": f"Nothing at {method} {path}."})

    def _arm(self, method: str, path: str, query: Mapping[str, str]) -> _Reply:
        """As strict as ARM: a token, then an ``api-version`` the provider knows, then a path that names
        something, then a method that thing has. Each refusal carries ARM's error body."""
        sim = self.server.sim
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or not sim._token_ok(auth[7:].strip()):
            return _arm_error(
                401, "InvalidAuthenticationToken", "The access token is missing, invalid, revoked or expired."
            )
        version = query.get("api-version", "")
        if not version:
            return _arm_error(400, "MissingApiVersionParameter", MISSING_API_VERSION)
        resource = _resolve(sim, path, version)
        if isinstance(resource, _Reply):
            return resource
        refusal = _version_refusal(sim, resource, version) or _method_refusal(resource, method)
        if refusal is not None:
            return refusal
        return self._serve(resource, version, query.get("isasyncoperation") in ("1", "true"))

    def _serve(self, resource: _Resource, version: str, asynchronous: bool) -> _Reply:
        """Answer a request that ARM would route to ``resource``."""
        sim = self.server.sim
        simple: dict[str, Callable[[], _Reply]] = {
            "subscriptions": lambda: _json(200, {"value": [sim._subscription()]}),
            "locations": lambda: _json(200, {"value": [sim._region()]}),
            "backupLocation": lambda: _json(200, sim._location_body()),
            "backups": lambda: _json(200, sim._backup_list()),
            "createBackup": lambda: self._create(version),
        }
        if resource.kind in simple:
            return simple[resource.kind]()
        if resource.provider == "Microsoft.Update.Admin":
            return sim._update_reply(resource, version)
        view = sim._backup_view(resource.name)
        if view is None:
            return _arm_error(404, "ResourceNotFound", f"Backup or operation '{resource.name}' was not found.")
        if resource.kind == "backup":
            return _json(200, view[1])
        return self._operation(resource.name, *view, version=version, asynchronous=asynchronous)

    def _create(self, version: str) -> _Reply:
        sim = self.server.sim
        outcome, backup_id = sim._create_backup()
        if outcome == "busy":  # assumption: the real answer to a second createBackup is unrecorded
            return _arm_error(409, "BackupOperationInProgress", "A backup operation is already in progress.")
        if outcome == "update":  # SIMULATOR-INVENTED (UPDATE_REFUSAL): the real refusal is undocumented
            refusal = sim.update_refusal
            return _arm_error(int(refusal["status"]), str(refusal["code"]), str(refusal["message"]))
        if outcome == "unconfigured" or backup_id is None:  # an assumption as well
            return _arm_error(
                400,
                "BackupLocationNotConfigured",
                "The backup location has no path or encryption certificate configured.",
            )
        return _Reply(202, b"", sim._lro_headers(backup_id, version))

    def _operation(
        self, op_id: str, status: str, backup: dict[str, Any], *, version: str, asynchronous: bool
    ) -> _Reply:
        """Location polling: 202 then the Backup. Async polling: Accepted, then Succeeded or Failed."""
        if status == "Running":
            headers = self.server.sim._lro_headers(op_id, version, polling=True)
            if asynchronous:
                accepted = {"status": "Accepted", "properties": {"provisioningState": "Accepted"}}
                return _json(200, accepted, headers)
            return _Reply(202, b"", headers)
        if not asynchronous:
            return _json(200, backup)
        if status == "Failed":  # ARM convention; a failed async-op body was never recorded
            error = {
                "code": "BackupFailed",
                "message": "Backup failed due to a general fault. Retry, then contact support.",
            }
            return _json(200, {"status": "Failed", "error": error})
        return _json(
            200, {"status": "Succeeded", "id": backup["id"], "name": backup["name"], "properties": backup["properties"]}
        )

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        """The unauthenticated control API, for the demo and for tests in another process."""
        sim = self.server.sim
        try:
            payload = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            if method == "GET" and path == "/_sim/state":
                return _json(200, sim.state())
            actions: dict[str, Callable[[], object]] = {
                "/_sim/fault": lambda: sim.inject(_fault_from_json(payload)),
                "/_sim/clear-faults": sim.clear_faults,
                "/_sim/finish": lambda: {"finished": sim.finish_running()},
                "/_sim/scheduled": lambda: {"id": sim.scheduler_slot(str(payload.get("outcome", "Succeeded")))},
                "/_sim/update/start": lambda: {"run": _start_update(sim, payload)},
                "/_sim/update/finish": lambda: {"version": sim.finish_update()},
                "/_sim/update/fail": lambda: {"run": sim.fail_update(str(payload.get("stage", "install")))},
                "/_sim/update/resume": lambda: {"run": sim.resume_update(_seconds(payload.get("seconds")))},
                "/_sim/update/state": lambda: sim.set_update_state(payload.get("state")),
                "/_sim/rotate-thumbprint": lambda: {"thumbprint": sim.rotate_thumbprint(payload.get("thumbprint"))},
                "/_sim/prune": lambda: {"pruned": sim.prune_backups(float(payload.get("older_than", 0)))},
                "/_sim/config": lambda: sim.configure(payload),
                "/_sim/revoke": sim.revoke_tokens,
            }
            if method != "POST" or path not in actions:
                return _json(404, {"error": f"no control endpoint {method} {path}"})
            result = actions[path]()
            return _json(200, result if isinstance(result, dict) else {"ok": True})
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})


def main(argv: list[str] | None = None) -> int:
    """Run one simulator in the foreground, print its env as ``export`` lines, serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="azs-bot simulator", description="Impersonate one Azure Stack Hub stamp (admin ARM + login)."
    )
    parser.add_argument("--identity", choices=IDENTITIES, default="adfs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--region", default="local")
    parser.add_argument("--backup-seconds", type=float, default=5.0)
    parser.add_argument("--outcome", choices=OUTCOMES, default="Succeeded")
    parser.add_argument("--lro-style", choices=LRO_STYLES, default="async")
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--reported-duration", help="e.g. PT21M15.0081024S; default: the real elapsed time")
    parser.add_argument("--state-dir", help="keeps the CA and the client certificate across runs")
    parser.add_argument(
        "--build",
        choices=tuple(BUILDS),
        help="speak a recorded build's shapes (LRO headers, roles, fields, Retry-After 60/30)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="with --build: multiply the build's Retry-After by this (e.g. 0.05)",
    )
    args = parser.parse_args(argv)
    sim = StampSimulator(
        identity=args.identity,
        region=args.region,
        backup_seconds=args.backup_seconds,
        outcome=args.outcome,
        lro_style=args.lro_style,
        retry_after=args.retry_after,
        reported_duration=args.reported_duration,
        state_dir=args.state_dir,
        host=args.host,
        port=args.port,
        build=args.build,
        time_scale=args.time_scale,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim.start()
        for name, value in sim.env().items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        print(
            f"# {args.identity} stamp simulator at {sim.url}; state: {sim.url}/_sim/state; certificate "
            f"login: AZS_CLIENT_CERT={sim.client_cert_pem_path}",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.2):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
