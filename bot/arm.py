"""The only module that talks HTTP to a stamp's admin ARM endpoint (``Microsoft.Backup.Admin``).

It adds the bearer token, a correlation id per logical operation, retries with backoff on
throttling, server errors and timeouts (honouring ``Retry-After``), and refuses to send a token
to any host but the configured one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import requests

from bot.auth import StampAuthError, TokenProvider, VerifyingSession
from bot.metrics import ARM_ERRORS
from bot.models import Backup, BackupLocation, backup_id_from, backups_from_list, is_backup_id
from bot.settings import StampSettings

log = logging.getLogger(__name__)

SUBSCRIPTIONS_API_VERSION = "2016-05-01"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_PROVIDER_SUBSCRIPTION = "default provider subscription"


class StampError(Exception):
    """A stamp call failed; ``str()`` is safe to show an operator."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        correlation_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.correlation_id = correlation_id
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth trying again later: the stamp was unreachable, throttled or failing."""
        return self.status is None or self.status in RETRYABLE_STATUSES


def retry_after_seconds(headers: Any, default: float | None = None) -> float | None:
    """``Retry-After`` as seconds (whole seconds or an HTTP date), else ``retry-after-ms``."""
    raw = headers.get("Retry-After") if headers is not None else None
    if raw:
        raw = str(raw).strip()
        if raw.isdigit():
            return float(raw)
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name) if headers is not None else None
        if value and str(value).strip().isdigit():
            return int(str(value).strip()) / 1000.0
    return default


DEFAULT_PORTS = {"https": 443, "http": 80}


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) normalised: lower case, no trailing dot, default port made explicit.

    ``https://Stamp.example:443/x`` and ``https://stamp.example/y`` are the same origin; an IP
    address or another DNS name for the same machine is not (the token is only sent where configured).
    """
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    try:
        port = parsed.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return scheme, "", -1
    return scheme, (parsed.hostname or "").lower().rstrip("."), port


@dataclass(frozen=True)
class ArmResponse:
    """What pollers need from a response: status, headers and the body as JSON (or ``None``)."""

    status: int
    headers: Mapping[str, str]
    """Case-insensitive (requests' own mapping): proxies and HTTP/2 lower-case header names."""
    body: Any
    correlation_id: str | None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True)
class StartedBackup:
    """The answer to ``createBackup``: the new backup's id and where to follow it."""

    backup_id: str
    location_url: str | None
    async_url: str | None
    retry_after: float | None
    correlation_id: str | None


def _error_from(response: requests.Response, what: str) -> StampError:
    code, message = None, None
    try:
        error = response.json().get("error") or {}
        code, message = error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        pass
    correlation = response.headers.get("x-ms-correlation-request-id")
    hint = {
        401: "the stamp rejected the service principal's token",
        403: "the service principal lacks permission (it needs Microsoft.Backup.Admin/backupLocations/read, "
        "backupLocations/createBackup/action and backupLocations/backups/read on the Default Provider "
        "Subscription)",
        404: "not found on the stamp",
        409: "the stamp refused because another operation is in progress",
        429: "the stamp is throttling requests",
    }.get(response.status_code, "the stamp returned an error")
    detail = f" ({code}: {message})" if code or message else ""
    return StampError(
        f"{what}: {hint}{detail} [HTTP {response.status_code}]",
        status=response.status_code,
        code=str(code) if code else None,
        correlation_id=correlation,
        retry_after=retry_after_seconds(response.headers),
    )


def _retryable_statuses(method: str) -> frozenset[int]:
    """A GET is retried on any transient status; a POST only on 429 (the stamp took nothing)."""
    return RETRYABLE_STATUSES if method == "GET" else frozenset({429})


class ArmClient:
    """Backup operations on one stamp. Thread-safe; create one per stamp per process."""

    def __init__(
        self,
        stamp: StampSettings,
        *,
        max_attempts: int = 4,
        max_backoff: float = 20.0,
        http: VerifyingSession | None = None,
        tokens: TokenProvider | None = None,
    ) -> None:
        self.stamp = stamp
        self.http = http or VerifyingSession(verify=stamp.ca_bundle or True, timeout=stamp.timeout_seconds)
        self.tokens = tokens or TokenProvider(stamp, self.http)
        self.max_attempts = max_attempts
        self.max_backoff = max_backoff
        self._origin = origin_of(stamp.arm_endpoint)
        self._scope_lock = threading.Lock()
        self._subscription_id = stamp.subscription_id
        self._location = stamp.location

    def owns(self, url: str) -> bool:
        """Whether ``url`` is on the configured endpoint, so it may carry the bearer token."""
        return origin_of(url) == self._origin

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        correlation_id: str | None = None,
        accept: frozenset[int] = frozenset({200}),
    ) -> ArmResponse:
        """Send one logical request, retrying what is worth retrying; raise :class:`StampError` otherwise."""
        self._refuse_foreign(url, what)
        correlation_id = correlation_id or str(uuid.uuid4())
        retryable = _retryable_statuses(method)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            response = self._send(method, url, what, params, correlation_id, attempt)
            if response is None:
                continue  # failed before an answer, and worth another attempt
            if response.status_code == 401 and not refreshed:
                refreshed = True
                self.tokens.invalidate()
                continue
            if response.status_code in retryable and attempt < self.max_attempts:
                self._sleep(attempt, retry_after_seconds(response.headers), what, str(response.status_code))
                continue
            if response.status_code not in accept:
                ARM_ERRORS.labels(code=str(response.status_code)).inc()
                raise _error_from(response, what)
            return self._answer(response, correlation_id)

    def _refuse_foreign(self, url: str, what: str) -> None:
        if not self.owns(url):
            raise StampError(
                f"{what}: refusing to send credentials to {urlparse(url).netloc!r}, which is not "
                f"the configured ARM endpoint",
                code="ForeignHost",
            )

    def _answer(self, response: requests.Response, correlation_id: str) -> ArmResponse:
        return ArmResponse(
            response.status_code,
            response.headers,
            self._json(response),
            response.headers.get("x-ms-correlation-request-id") or correlation_id,
        )

    def _send(
        self, method: str, url: str, what: str, params: dict[str, str] | None, correlation_id: str, attempt: int
    ) -> requests.Response | None:
        """One HTTP exchange; ``None`` when it failed in a way worth another attempt (after a pause)."""
        try:
            headers = {
                "Authorization": f"Bearer {self.tokens.token()}",
                "x-ms-correlation-request-id": correlation_id,
                "x-ms-client-request-id": correlation_id,
                "Accept": "application/json",
            }
            return self.http.request(method, url, params=params, headers=headers)
        except StampAuthError as exc:
            raise StampError(f"{what}: {exc}", code="AuthenticationFailed") from exc
        except requests.RequestException as exc:
            # A POST that may have reached the stamp is not repeated: createBackup is not idempotent.
            unsent = isinstance(exc, requests.ConnectTimeout)
            ARM_ERRORS.labels(code=type(exc).__name__).inc()
            if attempt >= self.max_attempts or (method != "GET" and not unsent):
                raise StampError(f"{what}: the stamp did not answer ({type(exc).__name__})") from exc
            self._sleep(attempt, None, what, type(exc).__name__)
            return None

    @staticmethod
    def _json(response: requests.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def _sleep(self, attempt: int, retry_after: float | None, what: str, reason: str) -> None:
        backoff = min(self.max_backoff, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        delay = min(self.max_backoff, retry_after) if retry_after is not None else backoff
        log.warning("retrying %s after %s in %.1fs (attempt %d)", what, reason, delay, attempt)
        time.sleep(delay)

    # --- addressing -------------------------------------------------------------------------------

    def _discover_scope(self) -> tuple[str, str]:
        """The subscription and region, as configured or as the stamp lists them (asked once)."""
        with self._scope_lock:
            self._subscription_id = self._subscription_id or self._first_subscription()
            self._location = self._location or self._first_region(self._subscription_id)
            return self._subscription_id, self._location

    def _listed(self, path: str, what: str) -> list[dict[str, Any]]:
        body = self.request(
            "GET", f"{self.stamp.arm_endpoint}{path}", what=what, params={"api-version": SUBSCRIPTIONS_API_VERSION}
        ).body
        values = body.get("value") if isinstance(body, dict) else None
        return [v for v in values or [] if isinstance(v, dict)]

    def _first_subscription(self) -> str:
        subs = self._listed("/subscriptions", "list subscriptions")
        named = [s for s in subs if str(s.get("displayName", "")).lower() == DEFAULT_PROVIDER_SUBSCRIPTION]
        if not (named or subs):
            raise StampError(
                "the service principal sees no subscription: grant it a role on the "
                "Default Provider Subscription or set AZS_SUBSCRIPTION_ID"
            )
        return str((named or subs)[0]["subscriptionId"])

    def _first_region(self, subscription_id: str) -> str:
        locations = [
            x for x in self._listed(f"/subscriptions/{subscription_id}/locations", "list locations") if x.get("name")
        ]
        if not locations:
            raise StampError("the stamp lists no region: set AZS_LOCATION")
        return str(locations[0]["name"])

    @property
    def region(self) -> str:
        return self._discover_scope()[1]

    def _location_url(self) -> str:
        sub, region = self._discover_scope()
        return (
            f"{self.stamp.arm_endpoint}/subscriptions/{sub}/resourceGroups/System.{region}"
            f"/providers/Microsoft.Backup.Admin/backupLocations/{region}"
        )

    def _params(self) -> dict[str, str]:
        return {"api-version": self.stamp.api_version}

    # --- operations -------------------------------------------------------------------------------

    def backup_location(self) -> BackupLocation:
        body = self.request("GET", self._location_url(), what="read the backup location", params=self._params()).body
        return BackupLocation.from_json(body)

    def list_backups(self) -> list[Backup]:
        body = self.request("GET", self._location_url() + "/backups", what="list backups", params=self._params()).body
        return backups_from_list(body)

    def backup_url(self, backup_id: str) -> str:
        """Where the backup ``backup_id`` is read by id."""
        return f"{self._location_url()}/backups/{backup_id}"

    def get_backup(self, backup_id: str, *, correlation_id: str | None = None) -> Backup | None:
        """The backup, or ``None`` when the stamp does not (yet) know it."""
        try:
            response = self.request(
                "GET",
                self.backup_url(backup_id),
                what="read the backup",
                params=self._params(),
                correlation_id=correlation_id,
            )
        except StampError as exc:
            if exc.status == 404:
                return None
            raise
        return Backup.from_json(response.body)

    def start_backup(self) -> StartedBackup:
        """``createBackup``; the backup id is the GUID at the end of the operation URL."""
        response = self.request(
            "POST",
            self._location_url() + "/createBackup",
            what="start a backup",
            params=self._params(),
            accept=frozenset({200, 201, 202}),
        )
        location = response.header("Location")
        async_url = response.header("Azure-AsyncOperation")
        source = async_url or location
        body_backup = Backup.from_json(response.body)
        if source:
            backup_id = backup_id_from(source)
        elif body_backup:
            backup_id = body_backup.backup_id
        else:
            # Accepted, so probably started: no status, so the caller leaves it to reconciliation.
            raise StampError("start a backup: the stamp accepted the request but named no operation to follow")
        if not is_backup_id(backup_id):
            # The id goes into ARM URLs later; a stamp that names something else is left to reconciliation,
            # which adopts only backups whose ids are GUIDs.
            raise StampError("start a backup: the stamp accepted the request but named no backup id (a GUID)")
        return StartedBackup(
            backup_id=backup_id,
            location_url=location,
            async_url=async_url,
            retry_after=retry_after_seconds(response.headers),
            correlation_id=response.correlation_id,
        )

    def poll(
        self, url: str, *, correlation_id: str | None = None, accept: frozenset[int] = frozenset({200, 201, 202})
    ) -> ArmResponse:
        """GET what a strategy follows; a status outside ``accept`` raises (404 with ``status=404``)."""
        return self.request(
            "GET", url, what="follow the backup operation", correlation_id=correlation_id, accept=accept
        )
