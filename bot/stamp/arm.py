"""The only module that talks HTTP to a stamp's admin ARM endpoint (``Microsoft.Backup.Admin``).

It adds the bearer token, a correlation id per logical operation, retries with backoff on
throttling, server errors and timeouts (honouring ``Retry-After``), and sends a token only to the
configured endpoint: every URL it sends is built by :meth:`ArmClient.url` from that endpoint, a
checked path and a query that always carries ``api-version``. An operation URL a stamp hands out
(or one read back from Redis) is never sent as it is: it is parsed strictly, checked against the
shape ARM gives backup operations, and rebuilt. No redirect is followed.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from bot.config.stamps import StampSettings
from bot.model.backup import Backup, backup_id_from, backups_from_list, is_backup_id
from bot.model.location import BackupLocation
from bot.model.update import UpdateLocation
from bot.ops.metrics import ARM_ERRORS
from bot.stamp.auth import StampAuthError, TokenProvider, VerifyingSession
from bot.stamp.errors import (
    UPDATE_READ_PERMISSION,
    MissingPermission,
    StampError,
    error_from,
    retry_after_seconds,
    retryable_statuses,
)
from bot.stamp.urls import ARM_PATH, NAME, NO_ORIGIN, QUERY_VALUE, ArmUrl, origin_of, parse_operation_url, refused

log = logging.getLogger(__name__)

SUBSCRIPTIONS_API_VERSION = "2016-05-01"
DEFAULT_PROVIDER_SUBSCRIPTION = "default provider subscription"
BACKUP_PROVIDER = "providers/Microsoft.Backup.Admin"
UPDATE_PROVIDER = "providers/Microsoft.Update.Admin"


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
        self._base = stamp.arm_endpoint.rstrip("/")
        self._origin = origin_of(self._base)
        self._scope_lock = threading.Lock()
        self._subscription_id = stamp.subscription_id
        self._location = stamp.location

    def owns(self, url: str) -> bool:
        """Whether ``url`` is an operation on the configured endpoint, so it may be followed (rebuilt)."""
        return parse_operation_url(url, self._origin) is not None

    def url(self, path: str, query: Sequence[tuple[str, str]] = (), *, api_version: str | None = None) -> ArmUrl:
        """Every URL the client sends: the configured endpoint, ``path``, then ``query`` with ``api-version``
        (``api_version``, else the stamp's setting) unless ``query`` names one. ARM refuses a request
        without it (400 ``MissingApiVersionParameter``), so no caller can leave it out."""
        pairs = list(query)
        if not any(key.lower() == "api-version" for key, _ in pairs):
            pairs.insert(0, ("api-version", api_version or self.stamp.api_version))
        if not ARM_PATH.fullmatch(path) or not all(QUERY_VALUE.fullmatch(value) for _, value in pairs):
            raise StampError(f"refusing to build an ARM URL from {path!r} and {pairs!r}", code="InvalidUrl")
        return ArmUrl(f"{self._base}{path}?" + "&".join(f"{key}={value}" for key, value in pairs))

    def follow_url(self, url: str) -> ArmUrl:
        """The operation a stamp named at ``url``, rebuilt on the configured endpoint under this stamp's
        backup location; :class:`StampError` (``ForeignHost``) when it is not one to follow."""
        ref = parse_operation_url(url, self._origin)
        if ref is None:
            raise refused("follow the backup operation")
        subscription, region = self._discover_scope()
        named = (ref.subscription.lower(), ref.resource_group.lower(), ref.location.lower())
        if named != (subscription.lower(), f"system.{region}".lower(), region.lower()):
            raise refused("follow the backup operation")
        return self.url(f"{self._location_path()}/{ref.kind}/{ref.operation_id}", ref.query)

    def request(
        self,
        method: str,
        url: ArmUrl,
        *,
        what: str,
        correlation_id: str | None = None,
        accept: frozenset[int] = frozenset({200}),
    ) -> ArmResponse:
        """Send one logical request, retrying what is worth retrying; raise :class:`StampError` otherwise."""
        self._check_destination(url, what)
        correlation_id = correlation_id or str(uuid.uuid4())
        retryable = retryable_statuses(method)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            response = self._send(method, url, what, correlation_id, attempt)
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
                raise error_from(response, what)
            return self._answer(response, correlation_id)

    def _check_destination(self, url: ArmUrl, what: str) -> None:
        """The last check before a token leaves: never fails for a URL :meth:`url` built (an invalid
        configured endpoint has no origin, so nothing is sent)."""
        if self._origin == NO_ORIGIN or origin_of(url) != self._origin:
            raise refused(what)

    def _answer(self, response: requests.Response, correlation_id: str) -> ArmResponse:
        return ArmResponse(
            response.status_code,
            response.headers,
            self._json(response),
            response.headers.get("x-ms-correlation-request-id") or correlation_id,
        )

    def _send(self, method: str, url: ArmUrl, what: str, correlation_id: str, attempt: int) -> requests.Response | None:
        """One HTTP exchange; ``None`` when it failed in a way worth another attempt (after a pause)."""
        try:
            headers = {
                "Authorization": f"Bearer {self.tokens.token()}",
                "x-ms-correlation-request-id": correlation_id,
                "x-ms-client-request-id": correlation_id,
                "Accept": "application/json",
            }
            return self.http.request(method, url, headers=headers, allow_redirects=False)
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
        """The subscription and region, as configured or as the stamp lists them (asked once). Both go into
        every URL, so a listed value that is not a GUID and a plain name is refused."""
        with self._scope_lock:
            self._subscription_id = self._subscription_id or self._first_subscription()
            self._location = self._location or self._first_region(self._subscription_id)
            if not is_backup_id(self._subscription_id) or not re.fullmatch(NAME, self._location):
                raise StampError("the subscription id must be a GUID and the region a plain name (AZS_LOCATION)")
            return self._subscription_id, self._location

    def _listed(self, path: str, what: str) -> list[dict[str, Any]]:
        body = self.request("GET", self.url(path, api_version=SUBSCRIPTIONS_API_VERSION), what=what).body
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

    def _location_path(self) -> str:
        sub, region = self._discover_scope()
        return f"/subscriptions/{sub}/resourceGroups/System.{region}/{BACKUP_PROVIDER}/backupLocations/{region}"

    # --- operations -------------------------------------------------------------------------------

    def backup_location(self) -> BackupLocation:
        body = self.request("GET", self.url(self._location_path()), what="read the backup location").body
        return BackupLocation.from_json(body)

    def list_backups(self) -> list[Backup]:
        body = self.request("GET", self.url(self._location_path() + "/backups"), what="list backups").body
        return backups_from_list(body)

    def update_location(self) -> UpdateLocation:
        """The stamp's update location (state, current version, OEM version, last updated), read with the
        stamp's ``update_api_version``; :class:`MissingPermission` when the stamp answers 403."""
        sub, region = self._discover_scope()
        path = f"/subscriptions/{sub}/resourceGroups/System.{region}/{UPDATE_PROVIDER}/updateLocations/{region}"
        url = self.url(path, api_version=self.stamp.update_api_version)
        try:
            body = self.request("GET", url, what="read the update location").body
        except StampError as exc:
            if exc.status != 403:
                raise
            detail = f" ({exc.code})" if exc.code else ""
            raise MissingPermission(
                f"read the update location: the service principal lacks permission{detail}; it needs "
                f"{UPDATE_READ_PERMISSION} on the Default Provider Subscription [HTTP 403]",
                permission=UPDATE_READ_PERMISSION,
                code=exc.code,
                correlation_id=exc.correlation_id,
            ) from exc
        return UpdateLocation.from_json(body)

    def backup_url(self, backup_id: str) -> ArmUrl:
        """Where the backup ``backup_id`` (a GUID) is read by id, ``api-version`` included."""
        if not is_backup_id(backup_id):
            raise StampError("read the backup: a backup id is a GUID", code="InvalidBackupId")
        return self.url(f"{self._location_path()}/backups/{backup_id}")

    def read_backup(
        self, backup_id: str, *, correlation_id: str | None = None, accept: frozenset[int] = frozenset({200})
    ) -> ArmResponse:
        """GET the backup by id: what the worker follows when the operation URL cannot be."""
        return self.request(
            "GET", self.backup_url(backup_id), what="read the backup", correlation_id=correlation_id, accept=accept
        )

    def get_backup(self, backup_id: str, *, correlation_id: str | None = None) -> Backup | None:
        """The backup, or ``None`` when the stamp does not (yet) know it."""
        try:
            response = self.read_backup(backup_id, correlation_id=correlation_id)
        except StampError as exc:
            if exc.status == 404:
                return None
            raise
        return Backup.from_json(response.body)

    def start_backup(self) -> StartedBackup:
        """``createBackup``; the backup id is the GUID at the end of the operation URL."""
        response = self.request(
            "POST",
            self.url(self._location_path() + "/createBackup"),
            what="start a backup",
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
        """GET the operation a stamp named at ``url`` (rebuilt by :meth:`follow_url`, never sent as it is); a
        status outside ``accept`` raises (404 with ``status=404``, a refused URL with ``ForeignHost``)."""
        return self.request(
            "GET",
            self.follow_url(url),
            what="follow the backup operation",
            correlation_id=correlation_id,
            accept=accept,
        )
