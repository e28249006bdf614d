"""The checks of what the process itself needs: its settings, Redis (and a Sentinel replica), the Slack tokens and
their scopes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from redis.sentinel import MasterNotFoundError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config.env import SettingsError, shown_url
from bot.config.proxy import proxy_for
from bot.config.redis_url import SENTINEL_SCHEMES, redact_url
from bot.config.settings import Settings, load_settings
from bot.preflight.results import FAIL, NETWORK_FIX, OK, WARN, Result
from bot.slack.client import make_web_client
from bot.state.connection import make_redis

MODES = ("web", "socket", "worker")


REQUIRED_BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "channels:history",
    "groups:history",
    "usergroups:read",
    "files:write",
)
"""The bot token scopes slack/manifest.json (and its Socket Mode twin) ask for; the tests keep them equal. Here,
not read from the manifest, because the image ships the package only."""


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


SLACK_TOKEN_FIX = (
    "SLACK_BOT_TOKEN is the Bot User OAuth Token (xoxb-) on the app's OAuth & Permissions page; if the app was "
    "uninstalled or the token revoked, reinstall the app to the workspace and copy the new token"
)


def check_slack(settings: Settings, mode: str, env: Mapping[str, str]) -> list[Result]:
    via = proxy_note(settings.slack_api_url, env)
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


def proxy_note(url: str, env: Mapping[str, str]) -> str:
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
