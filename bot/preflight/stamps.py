"""The checks of each stamp, in the order a backup needs them: reach, token, subscription and region, backup location,
backups, update location, and whether the principal may start a backup."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import requests

from bot.config.env import shown_url
from bot.config.stamps import StampSettings
from bot.preflight.local import proxy_note
from bot.preflight.results import FAIL, NETWORK_FIX, OK, SKIP, WARN, Result
from bot.stamp.arm import DEFAULT_PROVIDER_SUBSCRIPTION, SUBSCRIPTIONS_API_VERSION, ArmClient
from bot.stamp.auth import METADATA_API_VERSION, StampAuthError, TokenProvider, VerifyingSession
from bot.stamp.errors import StampError

UPDATE_API_VERSION = "2021-07-01"
"""``Microsoft.Update.Admin`` as recorded on a 2022 stamp (older builds serve 2016-05-01)."""


PERMISSIONS_API_VERSION = "2015-07-01"


START_ACTION = "Microsoft.Backup.Admin/backupLocations/createBackup/action"


ROLE_FIX = (
    "give the service principal a role on the Default Provider Subscription: Reader covers every read, starting "
    "a backup needs Contributor (or a custom role with " + START_ACTION + "). Admin portal > Subscriptions > "
    "Default Provider Subscription > Access control (IAM) > Add, or New-AzRoleAssignment (README, "
    '"Set up the Azure Stack side"); a new assignment can take a few minutes to apply'
)


TOKEN_FIXES = {
    "invalid_client": "the identity provider does not accept the client id with this secret or certificate: "
    "AZS_CLIENT_ID (client_id) is the ClientId New-GraphApplication printed (AD FS) or the app registration's "
    "Application (client) ID (Azure AD); the secret may have expired or been reset (Set-GraphApplication "
    "-ResetClientSecret), or the certificate is not the registered one (compare thumbprints: "
    "openssl x509 -in client.pem -noout -fingerprint -sha1)",
    "invalid_scope": "the identity provider refuses the scope asked for: on AD FS set AZS_ADFS_SCOPE_SUFFIX "
    "(adfs_scope_suffix) to /.default or /openid",
    "unauthorized_client": "the application is not known in this directory: check AZS_TENANT_ID (Azure AD) and "
    "AZS_CLIENT_ID",
}


@dataclass
class _Stamp:
    """What one stamp's checks learn on the way: each step needs the ones before it."""

    settings: StampSettings
    http: VerifyingSession
    tokens: TokenProvider
    client: ArmClient | None = None
    subscription: str = ""
    region: str = ""


def check_stamp(stamp: StampSettings, env: Mapping[str, str]) -> list[Result]:
    http = VerifyingSession(verify=stamp.ca_bundle or True, timeout=stamp.timeout_seconds)
    state = _Stamp(stamp, http, TokenProvider(stamp, http))
    steps: list[tuple[str, Callable[[_Stamp], Result]]] = [
        ("reach", lambda s: _reach(s, env)),
        ("token", _token),
        ("subscription", _subscription),
        ("backup location", _backup_location),
        ("backups", _backups),
        ("update location", _update_location),
        ("start right", _start_right),
    ]
    results: list[Result] = []
    for step, run in steps:
        name = f"stamp {stamp.name}: {step}"
        if any(r.status == FAIL for r in results[:3]):  # reach, token and subscription: everything needs them
            results.append(Result(name, SKIP, "needs the steps that failed above"))
        else:
            results.append(replace(run(state), check=name))
    http.close()
    return results


def _reach(state: _Stamp, env: Mapping[str, str]) -> Result:
    """The anonymous metadata endpoint: DNS, TCP, TLS against the stamp's CA, and the proxy, in one request."""
    stamp = state.settings
    url = f"{stamp.arm_endpoint}/metadata/endpoints"
    via = proxy_note(url, env) or " directly"
    try:
        response = state.http.get(url, params={"api-version": METADATA_API_VERSION})
    except requests.RequestException as exc:
        return _unreachable(stamp, exc, via)
    if response.status_code != 200:
        fix = "AZS_ARM_ENDPOINT (arm_endpoint) must be the admin endpoint: https://adminmanagement.<region>.<fqdn>"
        return Result("", FAIL, f"{url} answered HTTP {response.status_code}{via}", fix)
    try:
        login = str(response.json()["authentication"]["loginEndpoint"]).rstrip("/")
    except (ValueError, KeyError, TypeError):
        return Result("", FAIL, f"{url} is not a stamp's metadata document", "check AZS_ARM_ENDPOINT")
    kind = "AD FS" if login.lower().endswith("/adfs") else "Azure AD"
    return Result("", OK, f"{stamp.arm_endpoint} answers{via} (identity: {kind}, {shown_url(login)})")


def _unreachable(stamp: StampSettings, exc: requests.RequestException, via: str) -> Result:
    where = stamp.arm_endpoint
    if isinstance(exc, requests.exceptions.SSLError):
        bundle = f"the bundle {stamp.ca_bundle} does not hold" if stamp.ca_bundle else "set AZS_CA_BUNDLE to"
        fix = (
            f"{bundle} the root CA that signed the stamp's certificate (ca_bundle in the stamps file), in PEM: "
            "export the root .cer and convert it, openssl x509 -inform der -in root.cer -out root-ca.pem"
        )
        return Result("", FAIL, f"{where}: its TLS certificate is not trusted{via}", fix)
    if isinstance(exc, requests.exceptions.ProxyError):
        fix = "list the stamp's host in NO_PROXY (stamps are usually reached directly), or allow it on the proxy"
        return Result("", FAIL, f"{where}: the proxy refused or failed the connection{via}", fix)
    return Result("", FAIL, f"{where} cannot be reached{via} ({type(exc).__name__})", NETWORK_FIX)


def _token(state: _Stamp) -> Result:
    try:
        state.tokens.token()
    except StampAuthError as exc:
        detail = f"{exc}: {exc.detail}" if exc.detail else str(exc)
        fix = TOKEN_FIXES.get(exc.error or "", "")
        if not fix and "MSIS9605" in detail:
            fix = TOKEN_FIXES["invalid_scope"]
        return Result("", FAIL, detail, fix or "see the identity provider's answer above; " + NETWORK_FIX)
    return Result("", OK, f"a token for {state.settings.client_id}")


def _subscription(state: _Stamp) -> Result:
    """As the bot finds them: the configured ones, else the Default Provider Subscription and its first region."""
    stamp = state.settings
    client = ArmClient(stamp, max_attempts=2, max_backoff=2.0, http=state.http, tokens=state.tokens)
    try:
        state.subscription = stamp.subscription_id or _default_subscription(client)
        state.region = stamp.location or _first_region(client, state.subscription)
    except StampError as exc:
        return _stamp_failure(exc)
    if not state.subscription or not state.region:
        fix = "the principal sees no subscription: " + ROLE_FIX
        return Result("", FAIL, "no subscription or region is visible to the service principal", fix)
    scoped = replace(stamp, subscription_id=state.subscription, location=state.region)
    state.client = ArmClient(scoped, max_attempts=2, max_backoff=2.0, http=state.http, tokens=state.tokens)
    return Result("", OK, f"subscription {state.subscription}, region {state.region}")


def _listed(client: ArmClient, path: str, what: str) -> list[dict[str, Any]]:
    body = client.request("GET", client.url(path, api_version=SUBSCRIPTIONS_API_VERSION), what=what).body
    values = body.get("value") if isinstance(body, dict) else None
    return [v for v in values or [] if isinstance(v, dict)]


def _default_subscription(client: ArmClient) -> str:
    subs = _listed(client, "/subscriptions", "list subscriptions")
    named = [s for s in subs if str(s.get("displayName", "")).lower() == DEFAULT_PROVIDER_SUBSCRIPTION]
    return str((named or subs or [{}])[0].get("subscriptionId") or "")


def _first_region(client: ArmClient, subscription: str) -> str:
    regions = _listed(client, f"/subscriptions/{subscription}/locations", "list locations")
    return str(next((r["name"] for r in regions if r.get("name")), ""))


def _stamp_failure(exc: StampError) -> Result:
    """A refused read: 403 is the role assignment; the stamp's own message names the missing action."""
    if exc.status == 403:
        return Result("", FAIL, str(exc), ROLE_FIX)
    if exc.status == 401:
        fix = "the stamp rejects the token: the principal or its credential may have been removed or rotated"
        return Result("", FAIL, str(exc), fix)
    return Result("", FAIL, str(exc), "" if exc.status else NETWORK_FIX)


def _arm_client(state: _Stamp) -> ArmClient:
    if state.client is None:
        raise StampError("no subscription and region to read under (see above)")
    return state.client


def _backup_location(state: _Stamp) -> Result:
    try:
        location = _arm_client(state).backup_location()
    except StampError as exc:
        return _stamp_failure(exc)
    if not location.is_configured:
        fix = (
            "configure infrastructure backup on the stamp (administrator portal > Infrastructure backup > "
            "Configure, or Set-AzsBackupConfiguration): the bot starts and follows backups, it does not configure them"
        )
        return Result("", WARN, "readable, but backups are not configured (no share or encryption certificate)", fix)
    every = f"every {location.frequency_hours} h" if location.frequency_hours else "no schedule"
    scheduler = "scheduler on" if location.scheduler_enabled else "scheduler off"
    return Result("", OK, f"readable: {location.target}, {every}, {scheduler}")


def _backups(state: _Stamp) -> Result:
    try:
        backups = _arm_client(state).list_backups()
    except StampError as exc:
        return _stamp_failure(exc)
    if not backups:
        return Result("", OK, "readable: no backups yet")
    newest = backups[0]
    return Result("", OK, f"readable: {len(backups)} backups, the newest {newest.status} ({newest.backup_id})")


def _update_location(state: _Stamp) -> Result:
    """Read access to ``Microsoft.Update.Admin`` (the bot explains blocked backups with the update state)."""
    path = (
        f"/subscriptions/{state.subscription}/resourceGroups/System.{state.region}"
        f"/providers/Microsoft.Update.Admin/updateLocations/{state.region}"
    )
    try:
        client = _arm_client(state)
        answer = client.request(
            "GET", client.url(path, api_version=UPDATE_API_VERSION), what="read the update location"
        )
    except StampError as exc:
        failed = _stamp_failure(exc)
        return failed if exc.status in (401, 403) else replace(failed, status=WARN)
    properties = answer.body.get("properties", {}) if isinstance(answer.body, dict) else {}
    state_word = properties.get("state", "?") if isinstance(properties, dict) else "?"
    version = properties.get("currentVersion", "?") if isinstance(properties, dict) else "?"
    return Result("", OK, f"readable: version {version}, state {state_word}")


def _start_right(state: _Stamp) -> Result:
    """Whether a role grants ``createBackup/action``, read from the caller's own permissions (never by starting a
    backup). Azure Stack Hub serving this Microsoft.Authorization API is not verified: no answer is a skip."""
    path = f"/subscriptions/{state.subscription}/resourceGroups/System.{state.region}"
    path += "/providers/Microsoft.Authorization/permissions"
    try:
        client = _arm_client(state)
        answer = client.request("GET", client.url(path, api_version=PERMISSIONS_API_VERSION), what="read permissions")
    except StampError as exc:
        return Result("", SKIP, f"cannot tell: the stamp did not list the principal's permissions ({exc.status})")
    permissions = answer.body.get("value") if isinstance(answer.body, dict) else None
    if not isinstance(permissions, list):
        return Result("", SKIP, "cannot tell: the stamp's permissions answer is not a list")
    if any(_grants(p, START_ACTION) for p in permissions if isinstance(p, dict)):
        return Result("", OK, "may start backups (createBackup/action)")
    return Result("", FAIL, "may read but not start backups (no role grants createBackup/action)", ROLE_FIX)


def _grants(permission: Mapping[str, Any], action: str) -> bool:
    """ARM's rule: an ``actions`` pattern matches and no ``notActions`` pattern does (``*`` is any text)."""

    def matches(patterns: Any) -> bool:
        texts = patterns if isinstance(patterns, list) else []
        return any(re.fullmatch(re.escape(str(p)).replace(r"\*", ".*"), action, re.IGNORECASE) for p in texts)

    return matches(permission.get("actions")) and not matches(permission.get("notActions"))
