"""``azs-bot check`` against a good set-up and broken ones: the stamp simulator (real TLS and MSAL), the local
Slack, spawned Redis servers and sentinels. Each broken set-up must give a FAIL line with its fix and exit 1;
invalid settings exit 2, as every ``azs-bot`` command does."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme

from bot.preflight.local import REQUIRED_BOT_SCOPES
from bot.preflight.run import run_check
from bot.preflight.stamps import ROLE_FIX
from devkit.proxy import LoggingProxy
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import BOT_SCOPES, FakeSlack, SlackFault
from tests.conftest import BOT_TOKEN
from tests.harness import ROOT, RedisServer, free_port, wait_until
from tests.sentinel_cluster import SentinelCluster

STAMP = "sim-stamp"
AUTHORIZATION_FAILED = (
    '{"error":{"code":"AuthorizationFailed","message":"The client \'a1b2\' with object id \'a1b2\' does not have '
    "authorization to perform action 'Microsoft.Update.Admin/updateLocations/read' over scope "
    "'/subscriptions/x/resourceGroups/System.local/providers/Microsoft.Update.Admin/updateLocations/local' or the "
    'scope is invalid. If access was recently granted, please refresh your credentials."}}'
)


def update_location(stamp: StampSimulator) -> str:
    """The shape Get-AzsUpdateLocation recorded on a 2022 stamp, for this simulator's subscription and region.

    The simulator does not serve Microsoft.Update.Admin yet (issue 19 adds it); until then a fault answers
    for it, as a stamp would."""
    return json.dumps(
        {
            "id": f"/subscriptions/{stamp.subscription_id}/resourceGroups/System.local/providers/"
            "Microsoft.Update.Admin/updateLocations/local",
            "name": "local",
            "type": "Microsoft.Update.Admin/updateLocations",
            "location": "local",
            "properties": {"currentVersion": "1.2108.2.65", "state": "AppliedSuccessfully"},
        }
    )


def permissions(*actions: str) -> str:
    return json.dumps({"value": [{"actions": list(actions), "notActions": []}]})


def answer_reads(stamp: StampSimulator, *, update: str | None = None, allowed: tuple[str, ...] = ("*",)) -> None:
    """A stamp whose principal may read the update location and start backups (Contributor: ``*``)."""
    stamp.inject(Fault(status=200, times=50, path_contains="/Microsoft.Update.Admin/", body=update or ""))
    stamp.inject(Fault(status=200, times=50, path_contains="/Microsoft.Authorization/", body=permissions(*allowed)))


@pytest.fixture
def good(stamp: StampSimulator, fake_slack: FakeSlack, redis_client: redis.Redis) -> StampSimulator:
    answer_reads(stamp, update=update_location(stamp))
    return stamp


def check(env: dict[str, str], **kwargs: Any) -> tuple[int, dict[str, dict[str, str]]]:
    """``run_check`` in this process, its JSON report by check name."""
    out = io.StringIO()
    code = run_check(env, out=out, as_json=True, **kwargs)
    document = json.loads(out.getvalue())
    assert document["exit_code"] == code
    return code, {c["check"]: c for c in document["checks"]}


def statuses(results: dict[str, dict[str, str]]) -> dict[str, str]:
    return {name: r["status"] for name, r in results.items()}


def failed(results: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    found = {name: r for name, r in results.items() if r["status"] == "FAIL"}
    assert all(r["fix"] for r in found.values()), f"a failure without a fix: {found}"
    return found


# --- a good set-up -------------------------------------------------------------------------------------------------


def test_a_good_set_up_passes_every_check_in_one_line_each(good: StampSimulator, bot_env: dict[str, str]) -> None:
    """As an operator runs it: a process, lines on stdout, exit code 0."""
    command = [sys.executable, "-m", "bot.preflight.run"]
    result = subprocess.run(command, env=bot_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    expected = [
        "settings",
        "redis",
        "slack token",
        "slack scopes",
        *(
            f"stamp {STAMP}: {step}"
            for step in ("reach", "token", "subscription", "backup location", "backups", "update location")
        ),
        f"stamp {STAMP}: start right",
    ]
    assert [line.split("  ", 1)[0] for line in lines[:-1]] == ["ok"] * len(expected), result.stdout
    assert [line[6:].split("  ", 1)[0].strip() for line in lines[:-1]] == expected
    assert lines[-1] == f"azs-bot check: {len(expected)} ok"
    assert "1.2108.2.65" in result.stdout and "AD FS" in result.stdout and "every 12 h" in result.stdout
    assert BOT_TOKEN not in result.stdout + result.stderr


def test_the_settings_the_bot_refuses_exit_2_naming_the_variable(bot_env: dict[str, str]) -> None:
    out = io.StringIO()
    assert run_check({**bot_env, "AZS_POLL_INTERVAL": "soon"}, out=out) == 2
    assert out.getvalue().startswith("FAIL  settings  AZS_POLL_INTERVAL must be a number")
    assert "fix:" in out.getvalue()


# --- broken set-ups ------------------------------------------------------------------------------------------------


def test_a_wrong_client_secret_fails_the_token_with_the_identity_providers_words(
    good: StampSimulator, bot_env: dict[str, str]
) -> None:
    wrong = "not-the-sim-secret-0123"
    out = io.StringIO()
    assert run_check({**bot_env, "AZS_CLIENT_SECRET": wrong}, out=out) == 1
    text = out.getvalue()
    assert wrong not in text
    _, results = check({**bot_env, "AZS_CLIENT_SECRET": wrong})
    token = failed(results)[f"stamp {STAMP}: token"]
    assert "invalid_client" in token["detail"] and "client secret is invalid" in token["detail"]
    assert "Set-GraphApplication -ResetClientSecret" in token["fix"]
    later = [name for name in results if name.startswith(f"stamp {STAMP}:") and not name.endswith(("reach", "token"))]
    assert {results[name]["status"] for name in later} == {"skip"}, "what needs a token is skipped, not failed"
    assert statuses(results)["slack scopes"] == "ok"


def test_a_missing_scope_is_named_with_the_reinstall(
    good: StampSimulator, fake_slack: FakeSlack, bot_env: dict[str, str]
) -> None:
    fake_slack.set_scopes(BOT_TOKEN, tuple(s for s in BOT_SCOPES if s != "usergroups:read"))
    code, results = check(bot_env)
    assert code == 1
    scopes = failed(results)["slack scopes"]
    assert scopes["detail"] == "the bot token lacks usergroups:read"
    assert "reinstall the app" in scopes["fix"]
    assert set(failed(results)) == {"slack scopes"}


def test_a_rejected_bot_token_says_where_to_find_the_right_one(
    good: StampSimulator, fake_slack: FakeSlack, bot_env: dict[str, str]
) -> None:
    fake_slack.inject(SlackFault("auth.test", error="invalid_auth"))
    code, results = check(bot_env)
    assert code == 1 and failed(results)["slack"]["detail"] == "Slack refused the bot token (invalid_auth)"
    assert "OAuth & Permissions" in failed(results)["slack"]["fix"]


def test_redis_down_fails_redis_and_nothing_else(good: StampSimulator, bot_env: dict[str, str]) -> None:
    server = RedisServer()
    server.start()
    server.stop()
    code, results = check({**bot_env, "REDIS_URL": server.url})
    assert code == 1 and set(failed(results)) == {"redis"}
    assert f"127.0.0.1:{server.port}" in results["redis"]["detail"] and "REDIS_URL" in results["redis"]["fix"]


def test_a_wrong_redis_password_fails_and_no_password_shows(bot_env: dict[str, str]) -> None:
    protected = SentinelCluster(replicas=0, sentinels=0, password="right-password-42")
    try:
        port = protected.master_port
        for password, expected in (("wrong-password-42", 1), ("right-password-42", 0)):
            out = io.StringIO()
            url = f"redis://:{password}@127.0.0.1:{port}/0"
            assert run_check({**bot_env, "REDIS_URL": url}, only=["redis"], out=out) == expected, out.getvalue()
            assert password not in out.getvalue() and f"redis://:***@127.0.0.1:{port}/0" in out.getvalue()
        _, results = check({**bot_env, "REDIS_URL": f"redis://:wrong-password-42@127.0.0.1:{port}/0"}, only=["redis"])
        assert "password in REDIS_URL" in failed(results)["redis"]["fix"]
    finally:
        protected.stop()


def test_403_on_the_update_location_points_at_the_role_assignment(
    stamp: StampSimulator, fake_slack: FakeSlack, redis_client: redis.Redis, bot_env: dict[str, str]
) -> None:
    stamp.inject(Fault(status=403, times=10, path_contains="/Microsoft.Update.Admin/", body=AUTHORIZATION_FAILED))
    answer_reads(stamp)
    code, results = check(bot_env)
    assert code == 1
    update = failed(results)[f"stamp {STAMP}: update location"]
    assert (
        "AuthorizationFailed" in update["detail"] and "Microsoft.Update.Admin/updateLocations/read" in update["detail"]
    )
    assert update["fix"] == ROLE_FIX and "Default Provider Subscription" in ROLE_FIX
    assert set(failed(results)) == {f"stamp {STAMP}: update location"}


def test_a_reader_may_read_but_is_told_it_cannot_start_a_backup(
    stamp: StampSimulator, fake_slack: FakeSlack, redis_client: redis.Redis, bot_env: dict[str, str]
) -> None:
    answer_reads(stamp, update=update_location(stamp), allowed=("*/read",))
    code, results = check(bot_env)
    assert code == 1 and set(failed(results)) == {f"stamp {STAMP}: start right"}
    assert "Contributor" in results[f"stamp {STAMP}: start right"]["fix"]


def test_a_stamp_without_the_permissions_api_is_a_skip_not_a_failure(
    stamp: StampSimulator, fake_slack: FakeSlack, redis_client: redis.Redis, bot_env: dict[str, str]
) -> None:
    """Azure Stack Hub serving Microsoft.Authorization/permissions is not verified: a 404 cannot fail the check."""
    stamp.inject(Fault(status=200, times=50, path_contains="/Microsoft.Update.Admin/", body=update_location(stamp)))
    code, results = check(bot_env)
    assert code == 0 and statuses(results)[f"stamp {STAMP}: start right"] == "skip"


def test_an_unreachable_stamp_fails_its_reach_and_skips_the_rest(good: StampSimulator, bot_env: dict[str, str]) -> None:
    endpoint = f"https://127.0.0.1:{free_port()}"
    code, results = check({**bot_env, "AZS_ARM_ENDPOINT": endpoint})
    assert code == 1 and set(failed(results)) == {f"stamp {STAMP}: reach"}
    reach = results[f"stamp {STAMP}: reach"]
    assert endpoint in reach["detail"] and "directly" in reach["detail"] and "NO_PROXY" in reach["fix"]
    assert {r["status"] for n, r in results.items() if n.startswith("stamp") and n != f"stamp {STAMP}: reach"} == {
        "skip"
    }


def test_a_stamp_signed_by_another_ca_says_which_bundle_to_set(
    good: StampSimulator, bot_env: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())
    code, results = check({**bot_env, "AZS_CA_BUNDLE": str(other)})
    reach = failed(results)[f"stamp {STAMP}: reach"]
    assert code == 1 and "not trusted" in reach["detail"] and str(other) in reach["fix"]


def test_a_proxy_that_cannot_reach_the_stamp_suggests_no_proxy(
    good: StampSimulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = LoggingProxy().start()
    try:
        for name in ("HTTPS_PROXY", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy", "https_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        endpoint = f"https://127.0.0.1:{free_port()}"  # the proxy cannot connect there either: 502
        _, results = check({**bot_env, "AZS_ARM_ENDPOINT": endpoint, "HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url})
    finally:
        proxy.stop()
    assert proxy.saw(endpoint.removeprefix("https://")) and any("/api/auth.test" in t for t in proxy.targets())
    reach = failed(results)[f"stamp {STAMP}: reach"]
    assert f"through the proxy {proxy.url}" in reach["detail"] and "NO_PROXY" in reach["fix"]
    assert f"through the proxy {proxy.url}" in results["slack token"]["detail"]


# --- Redis Sentinel ------------------------------------------------------------------------------------------------


@pytest.fixture
def sentinels(request: pytest.FixtureRequest) -> Iterator[SentinelCluster]:
    cluster = SentinelCluster(replicas=request.param)
    try:
        assert cluster.wait_ready(), "the sentinels did not settle"
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("sentinels", [1], indirect=True)
def test_sentinel_with_a_healthy_replica_passes(
    sentinels: SentinelCluster, good: StampSimulator, bot_env: dict[str, str]
) -> None:
    code, results = check({**bot_env, "REDIS_URL": sentinels.url}, only=["redis"])
    assert code == 0, results
    assert results["redis replica"]["detail"] == f"1 healthy replica(s) of azs: 127.0.0.1:{sentinels.replica_ports[0]}"
    assert "1 replica(s) connected" in results["redis"]["detail"]


@pytest.mark.parametrize("sentinels", [0], indirect=True)
def test_sentinel_without_a_replica_fails(sentinels: SentinelCluster, bot_env: dict[str, str]) -> None:
    code, results = check({**bot_env, "REDIS_URL": sentinels.url}, only=["redis"])
    assert code == 1 and set(failed(results)) == {"redis replica"}
    assert "no healthy replica of azs" in results["redis replica"]["detail"]


def test_a_replica_named_as_the_redis_url_fails(bot_env: dict[str, str]) -> None:
    cluster = SentinelCluster(replicas=1, sentinels=0)
    try:
        replica = f"redis://127.0.0.1:{cluster.replica_ports[0]}/0"
        assert wait_until(lambda: cluster.client(cluster.replica_ports[0]).ping(), 10)
        code, results = check({**bot_env, "REDIS_URL": replica}, only=["redis"])
    finally:
        cluster.stop()
    assert code == 1 and "read-only replica" in failed(results)["redis"]["detail"]


# --- Socket Mode ---------------------------------------------------------------------------------------------------


def test_socket_mode_checks_the_app_level_token(
    good: StampSimulator, fake_slack: FakeSlack, bot_env: dict[str, str]
) -> None:
    env = {k: v for k, v in bot_env.items() if k != "SLACK_SIGNING_SECRET"}
    env["SLACK_APP_TOKEN"] = "xapp-1-A0001-check"
    fake_slack.socket_url = "wss://wss-primary.slack.example/link"
    try:
        code, results = check(env, only=["slack"])
        assert code == 0 and statuses(results)["slack app token"] == "ok"
        assert results["settings"]["detail"].startswith("socket mode")
        assert [c.method for c in fake_slack.calls("apps.connections.open")] == ["apps.connections.open"]
        fake_slack.inject(SlackFault("apps.connections.open", error="invalid_auth"))
        code, results = check(env, only=["slack"])
        assert code == 1 and "connections:write" in failed(results)["slack app token"]["fix"]
    finally:
        fake_slack.socket_url = None
    assert run_check({**env, "SLACK_APP_TOKEN": "xoxb-not-an-app-token"}, out=io.StringIO()) == 2


# --- what the check compares against --------------------------------------------------------------------------------


@pytest.mark.parametrize("manifest", ["manifest.json", "manifest.socket-mode.json"])
def test_the_scopes_checked_are_the_ones_the_manifests_ask_for(manifest: str) -> None:
    """The image ships no slack/ folder, so the list is in the code; this keeps it, and the fake, honest."""
    asked = json.loads((ROOT / "slack" / manifest).read_text())["oauth_config"]["scopes"]["bot"]
    assert sorted(REQUIRED_BOT_SCOPES) == sorted(asked) == sorted(BOT_SCOPES)


def test_azs_bot_check_is_the_installed_command(good: StampSimulator, bot_env: dict[str, str]) -> None:
    azs_bot = str(Path(sys.executable).parent / "azs-bot")
    result = subprocess.run([azs_bot, "check", "--only", "redis"], env=bot_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "azs-bot check: 2 ok"
