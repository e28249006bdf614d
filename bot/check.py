"""``azs-bot check``: the preflight an operator runs after configuring, before trusting the bot with a backup.

It asks, in the order things depend on each other, everything the bot will need: the settings, Redis (and, with
Sentinel, a healthy replica), the Slack token and the scopes the app manifest asks for (the app-level token too
in Socket Mode), then for each stamp: its admin endpoint (TLS, proxy), a token from its identity provider, the
subscription and region, read access to the backup location, its backups and the update location, and whether
the principal may start a backup. One line per check; each failure says what to fix. Nothing is written anywhere
and no backup is started. Exit code: 0 all good (warnings allowed), 1 something failed, 2 the settings are
invalid (as every ``azs-bot`` command exits on them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, TextIO

import redis
import requests
from redis.sentinel import MasterNotFoundError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config.env import SettingsError, shown_url
from bot.config.proxy import proxy_for
from bot.config.redis_url import SENTINEL_SCHEMES, redact_url
from bot.config.settings import Settings, load_settings
from bot.config.stamps import StampSettings
from bot.slack.client import make_web_client
from bot.stamp.arm import DEFAULT_PROVIDER_SUBSCRIPTION, SUBSCRIPTIONS_API_VERSION, ArmClient, StampError
from bot.stamp.auth import METADATA_API_VERSION, StampAuthError, TokenProvider, VerifyingSession
from bot.state.connection import make_redis

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
CHECKS = ("settings", "redis", "slack", "stamps")
"""What ``--only`` may name; the settings are always read (nothing else can run without them)."""
MODES = ("web", "socket", "worker")

REQUIRED_BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "channels:history",
    "groups:history",
    "usergroups:read",
)
"""The bot token scopes slack/manifest.json (and its Socket Mode twin) ask for; the tests keep them equal. Here,
not read from the manifest, because the image ships the package only."""

UPDATE_API_VERSION = "2021-07-01"
"""``Microsoft.Update.Admin`` as recorded on a 2022 stamp (older builds serve 2016-05-01)."""
PERMISSIONS_API_VERSION = "2015-07-01"
START_ACTION = "Microsoft.Backup.Admin/backupLocations/createBackup/action"
FIX_WIDTH = 120
"""Columns the fix text under a failure is wrapped to (the check lines themselves are never wrapped)."""

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
NETWORK_FIX = (
    "check the host name and DNS, and that this host may reach it on its port (firewall, Kubernetes "
    "NetworkPolicy); behind a proxy, HTTPS_PROXY must be set, or the host listed in NO_PROXY when it is reached "
    'directly (README, "Network access")'
)


@dataclass(frozen=True)
class Result:
    """One line of the report: ``status`` is ok, warn, FAIL or skip; ``fix`` says what to do about a failure."""

    check: str
    status: str
    detail: str
    fix: str = ""


# --- settings ------------------------------------------------------------------------------------------------------


def guess_mode(env: Mapping[str, str]) -> str:
    """Socket Mode when an app-level token is set and no signing secret is (the Socket Mode overlay's Secret)."""
    socket = env.get("SLACK_APP_TOKEN", "").strip() and not env.get("SLACK_SIGNING_SECRET", "").strip()
    return "socket" if socket else "web"


def check_settings(env: Mapping[str, str], mode: str) -> tuple[Settings | None, Result]:
    try:
        settings = load_settings(env, need_slack=mode == "web")
    except SettingsError as exc:
        return None, Result("settings", FAIL, str(exc), 'correct that variable (README, "Settings"), then run again')
    if mode == "socket" and not settings.slack_app_token.startswith("xapp-"):
        fix = "Basic Information > App-Level Tokens: a token with connections:write"
        return None, Result("settings", FAIL, "SLACK_APP_TOKEN must be the app-level xapp- token", fix)
    names = ", ".join(s.name for s in settings.stamps)
    stamps = f"{len(settings.stamps)} stamp{'s' if len(settings.stamps) > 1 else ''} ({names})"
    return settings, Result("settings", OK, f"{mode} mode, {stamps}, Redis {redact_url(settings.redis_url)}")


# --- Redis ---------------------------------------------------------------------------------------------------------


def check_redis(settings: Settings) -> list[Result]:
    shown = redact_url(settings.redis_url)
    client = make_redis(settings)
    try:
        client.ping()
        role = _role(client)
    except MasterNotFoundError:
        fix = "check the master name after the sentinel list in REDIS_URL and that the sentinels are running"
        return [Result("redis", FAIL, f"no sentinel of {shown} names a master", fix)]
    except redis.AuthenticationError as exc:
        return [Result("redis", FAIL, f"{shown} refused the credentials ({exc})", "correct the password in REDIS_URL")]
    except redis.RedisError as exc:
        fix = (
            "start Redis, or correct the host and port in REDIS_URL, and check that this host may reach it "
            "(firewall, Kubernetes NetworkPolicy: 6379, 26379 for sentinels); Redis is never reached through a proxy"
        )
        return [Result("redis", FAIL, f"{shown} does not answer ({type(exc).__name__}: {exc})", fix)]
    finally:
        client.close()
    if role and role[0] == "slave":
        fix = "point REDIS_URL at the master, or at the sentinels (redis+sentinel://)"
        return [Result("redis", FAIL, f"{shown} is a read-only replica", fix)]
    replicas = f", {len(role[2])} replica(s) connected" if role and role[0] == "master" else ""
    results = [Result("redis", OK, f"PING answered by {shown}{replicas}")]
    if settings.redis_url.split(":", 1)[0] in SENTINEL_SCHEMES:
        results.append(check_sentinel_replicas(settings))
    return results


def _role(client: redis.Redis) -> list[Any] | None:
    """``ROLE``, or ``None`` where a proxy or managed service hides it."""
    try:
        role = client.execute_command("ROLE")  # type: ignore[no-untyped-call]
    except redis.ResponseError:
        return None
    return list(role) if role else None


def check_sentinel_replicas(settings: Settings) -> Result:
    """A healthy replica by the sentinels' account: without one, Sentinel has nothing to fail over to."""
    client = make_redis(settings)
    pool = client.connection_pool
    manager, master = getattr(pool, "sentinel_manager", None), str(getattr(pool, "service_name", "?"))
    known: list[dict[str, Any]] | None = None
    for sentinel in getattr(manager, "sentinels", []):
        try:
            known = list(sentinel.sentinel_slaves(master))
            break
        except redis.RedisError:
            continue
    client.close()
    if known is None:
        return Result("redis replica", FAIL, f"no sentinel answered SENTINEL REPLICAS {master}", NETWORK_FIX)
    healthy = [r for r in known if _healthy_replica(r)]
    if not healthy:
        fix = (
            f"start a replica of {master} (replicaof <master> <port>) or repair its link to the master "
            "(master-link-status); until then a failover has nothing to promote"
        )
        return Result("redis replica", FAIL, f"the sentinels know no healthy replica of {master}", fix)
    where = ", ".join(f"{r.get('ip')}:{r.get('port')}" for r in healthy)
    return Result("redis replica", OK, f"{len(healthy)} healthy replica(s) of {master}: {where}")


def _healthy_replica(state: Mapping[str, Any]) -> bool:
    flags = state.get("flags") or ()
    flags = set(flags.split(",")) if isinstance(flags, str) else set(flags)
    return not flags & {"s_down", "o_down", "disconnected"} and state.get("master-link-status") == "ok"


# --- Slack ---------------------------------------------------------------------------------------------------------

SLACK_TOKEN_FIX = (
    "SLACK_BOT_TOKEN is the Bot User OAuth Token (xoxb-) on the app's OAuth & Permissions page; if the app was "
    "uninstalled or the token revoked, reinstall the app to the workspace and copy the new token"
)


def check_slack(settings: Settings, mode: str, env: Mapping[str, str]) -> list[Result]:
    via = _via(settings.slack_api_url, env)
    try:
        answer = make_web_client(settings).auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        return [Result("slack", FAIL, f"Slack refused the bot token ({error})", SLACK_TOKEN_FIX)]
    except (SlackClientError, OSError) as exc:
        detail = f"cannot reach Slack at {shown_url(settings.slack_api_url)}{via} ({type(exc).__name__})"
        return [Result("slack", FAIL, detail, "allow HTTPS to slack.com:443; " + NETWORK_FIX)]
    results = [_token_identity(answer.data if isinstance(answer.data, dict) else {}, via), _scopes(answer.headers)]
    if mode == "socket":
        results.append(check_app_token(settings))
    return results


def _via(url: str, env: Mapping[str, str]) -> str:
    proxy = proxy_for(url, env)
    return f" through the proxy {shown_url(proxy)}" if proxy else ""


def _token_identity(data: Mapping[str, Any], via: str) -> Result:
    if not data.get("bot_id"):
        fix = "use the Bot User OAuth Token (xoxb-), not a user token (xoxp-)"
        return Result("slack token", FAIL, "SLACK_BOT_TOKEN is not a bot token (auth.test names no bot)", fix)
    who = f"bot {data.get('user', '?')} ({data.get('user_id', '?')}) in {data.get('team', '?')}"
    return Result("slack token", OK, f"auth.test: {who}{via}")


def _scopes(headers: Mapping[str, Any]) -> Result:
    """The granted scopes Slack lists in ``x-oauth-scopes``, against the ones the manifest asks for."""
    raw = next((v for k, v in headers.items() if str(k).lower() == "x-oauth-scopes"), None)
    if isinstance(raw, list):
        raw = ",".join(raw)
    if raw is None:
        return Result("slack scopes", WARN, "Slack did not list the token's scopes (no x-oauth-scopes header)")
    granted = {s.strip() for s in str(raw).split(",") if s.strip()}
    missing = [s for s in REQUIRED_BOT_SCOPES if s not in granted]
    if missing:
        fix = (
            "add them under OAuth & Permissions > Bot Token Scopes (or update the app from slack/manifest.json), "
            "then reinstall the app to the workspace: new scopes apply only after a reinstall"
        )
        return Result("slack scopes", FAIL, f"the bot token lacks {', '.join(missing)}", fix)
    return Result("slack scopes", OK, f"all {len(REQUIRED_BOT_SCOPES)} scopes the manifest asks for")


def check_app_token(settings: Settings) -> Result:
    """``apps.connections.open`` proves the app-level token (``connections:write``); the link is not opened."""
    client = WebClient(base_url=settings.slack_api_url, timeout=10)
    try:
        url = str(client.apps_connections_open(app_token=settings.slack_app_token).get("url") or "")
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        fix = "SLACK_APP_TOKEN: Basic Information > App-Level Tokens, a token with the connections:write scope"
        return Result("slack app token", FAIL, f"Slack refused the app-level token ({error})", fix)
    except (SlackClientError, OSError) as exc:
        return Result("slack app token", FAIL, f"cannot reach Slack ({type(exc).__name__})", NETWORK_FIX)
    return Result("slack app token", OK, f"Socket Mode URLs are handed out ({shown_url(url)}, port 443)")


# --- stamps --------------------------------------------------------------------------------------------------------


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
    via = _via(url, env) or " directly"
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
    return Result("", OK, f"readable: {location.path or location.blob_url}, {every}, {scheduler}")


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


# --- the report ----------------------------------------------------------------------------------------------------


def _checks(settings: Settings, mode: str, only: Collection[str], env: Mapping[str, str]) -> Iterator[Result]:
    if "redis" in only:
        yield from check_redis(settings)
    if "slack" in only:
        yield from check_slack(settings, mode, env)
    if "stamps" in only:
        for stamp in settings.stamps:
            yield from check_stamp(stamp, env)


def _masked(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def report(results: list[Result], out: TextIO, secrets: Collection[str] = (), as_json: bool = False) -> int:
    """Print the results (lines or JSON) and return the exit code: 1 if anything failed, else 0."""
    code = 1 if any(r.status == FAIL for r in results) else 0
    shown = [Result(r.check, r.status, _masked(r.detail, secrets), _masked(r.fix, secrets)) for r in results]
    if as_json:
        out.write(json.dumps({"exit_code": code, "checks": [asdict(r) for r in shown]}, indent=2) + "\n")
    else:
        out.writelines(_lines(shown))
    return code


def _lines(results: list[Result]) -> Iterator[str]:
    """One line per check, its fix under a failure or a warning, then the counts."""
    width = max(len(r.check) for r in results)
    for r in results:
        yield f"{r.status:<4}  {r.check:<{width}}  {r.detail}\n"
        if r.fix and r.status in (FAIL, WARN):
            indent = " " * (width + 8)
            yield textwrap.fill(f"fix: {r.fix}", FIX_WIDTH, initial_indent=indent, subsequent_indent=indent) + "\n"
    counts = [(word, sum(r.status == word for r in results)) for word in (OK, WARN, FAIL, SKIP)]
    summary = ", ".join(f"{n} {word}" for word, n in counts if n)
    advice = ": fix the FAIL lines and run azs-bot check again" if dict(counts)[FAIL] else ""
    yield f"azs-bot check: {summary}{advice}\n"


def run_check(
    env: Mapping[str, str] | None = None,
    *,
    mode: str | None = None,
    only: Collection[str] = CHECKS,
    out: TextIO | None = None,
    as_json: bool = False,
) -> int:
    """Run the checks against ``env`` (this process's environment by default); 0, 1 or 2 as the module says."""
    env = os.environ if env is None else env
    out = out or sys.stdout
    mode = mode or guess_mode(env)
    settings, first = check_settings(env, mode)
    if settings is None:
        report([first], out, as_json=as_json)
        return 2
    results = [first, *_checks(settings, mode, only, env)]
    return report(results, out, settings.secrets(), as_json)


def _only(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    """``azs-bot check [--for web|socket|worker] [--only redis,slack,stamps] [--json]``."""
    from bot.ops.logs import configure_logging, secrets_in_environment

    parser = argparse.ArgumentParser(
        prog="azs-bot check",
        description="Preflight: the settings, Redis, Slack and each stamp, one line per check with the fix for "
        "each failure. Exit 0 when nothing failed, 1 when something did, 2 when the settings are invalid.",
    )
    parser.add_argument("--for", dest="mode", choices=MODES, help="the process to check for (default: from the env)")
    parser.add_argument("--only", type=_only, default=list(CHECKS), help=f"comma list of: {', '.join(CHECKS)}")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    args = parser.parse_args(argv)
    configure_logging(secrets_in_environment(), level="WARNING")
    return run_check(mode=args.mode, only=args.only, as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
