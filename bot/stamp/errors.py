"""What a stamp call can fail with, as one error the callers read: status, ARM code, whether to retry, and
``Retry-After``; a 403 on the update API names the permission that is missing."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from bot.stamp.lro import REDIRECTED

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


UPDATE_READ_PERMISSION = "Microsoft.Update.Admin/updateLocations/read"
"""The RBAC action for reading update locations by ARM's naming convention (no document or recording names it)."""


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


class MissingPermission(StampError):
    """The stamp answered 403: the service principal may not do this. A standing condition, not an outage:
    callers report it once rather than as an error on every cycle."""

    def __init__(self, message: str, *, permission: str, code: str | None, correlation_id: str | None) -> None:
        super().__init__(message, status=403, code=code, correlation_id=correlation_id)
        self.permission = permission


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


def error_from(response: requests.Response, what: str) -> StampError:
    if 300 <= response.status_code < 400:
        # Not followed: the token stays with the configured endpoint, whatever the stamp points at.
        return StampError(
            f"{what}: the stamp answered with a redirect, which is not followed [HTTP {response.status_code}]",
            status=response.status_code,
            code=REDIRECTED,
            correlation_id=response.headers.get("x-ms-correlation-request-id"),
        )
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


def retryable_statuses(method: str) -> frozenset[int]:
    """A GET is retried on any transient status; a POST only on 429 (the stamp took nothing)."""
    return RETRYABLE_STATUSES if method == "GET" else frozenset({429})
