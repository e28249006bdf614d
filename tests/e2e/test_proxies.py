"""Every outbound path through ``HTTPS_PROXY``, or around it by ``NO_PROXY``, with a real proxy in between.

:class:`devkit.proxy.LoggingProxy` is a loopback HTTP proxy that logs each target (``CONNECT host:port`` for a TLS
tunnel, the absolute URL for a forwarded request). The bot's processes get the variables as a datacenter sets them;
the fake Slack answers on ``localhost`` and the stamp simulator on ``127.0.0.1``, so ``NO_PROXY=127.0.0.1`` sends
the stamp direct while Slack still goes through the proxy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.config.proxy import bypasses, environment_proxies, proxy_for
from bot.config.stamps import load_stamp
from bot.stamp.arm import ArmClient
from bot.stamp.errors import StampError
from devkit.localrun import SlackRequests, launch_web
from devkit.proxy import LoggingProxy
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from devkit.socket_server import SocketModeServer
from tests.conftest import SIGNING_SECRET
from tests.harness import BotProcess, wait_until


@pytest.fixture
def proxy() -> Iterator[LoggingProxy]:
    server = LoggingProxy().start()
    yield server
    server.stop()


def host_port(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


# --- which proxy, for which URL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("wss://wss-primary.slack.com/link", {"HTTPS_PROXY": "http://px:3128"}, "http://px:3128"),
        ("ws://127.0.0.1:9/", {"HTTP_PROXY": "http://px:80", "HTTPS_PROXY": "http://other:1"}, "http://px:80"),
        ("wss://x.slack.com/", {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}, "http://lower:1"),
        ("wss://x.slack.com/", {"https_proxy": "", "HTTPS_PROXY": "http://upper:1"}, None),
        ("wss://x.slack.com/", {"ALL_PROXY": "http://all:1"}, "http://all:1"),
        ("wss://x.slack.com/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "slack.com"}, None),
        ("wss://x.slack.com/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": ".slack.com"}, None),
        ("wss://x.slack.com/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "*"}, None),
        ("wss://x.slack.com/", {"HTTPS_PROXY": "http://px:1", "no_proxy": "example.com"}, "http://px:1"),
        ("wss://notslack.com/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "slack.com"}, "http://px:1"),
        ("https://10.1.2.3/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://10.1.2.3/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "10.1.2.3"}, None),
        ("https://11.1.2.3/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "10.0.0.0/8"}, "http://px:1"),
        ("https://stamp.local:443/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "stamp.local:443"}, None),
        ("https://stamp.local/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "stamp.local:443"}, None),
        ("https://stamp.local:8443/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "stamp.local:443"}, "http://px:1"),
        ("https://[::1]:8443/", {"HTTPS_PROXY": "http://px:1", "NO_PROXY": "::1"}, None),
        ("wss://x.slack.com/", {}, None),
    ],
)
def test_proxy_for_reads_the_variables_as_the_other_clients_do(
    url: str, env: dict[str, str], expected: str | None
) -> None:
    assert proxy_for(url, env) == expected


def test_a_cgi_request_method_drops_http_proxy_as_the_standard_library_does() -> None:
    env = {"HTTP_PROXY": "http://injected:1", "REQUEST_METHOD": "GET"}
    assert "http" not in environment_proxies(env) and proxy_for("ws://x/", env) is None
    assert not bypasses("example.com", 443, " , ,")


# --- the stamp: its private CA through a CONNECT tunnel ---------------------------------------------------------------


def test_a_stamp_with_a_private_ca_answers_through_the_proxy(
    stamp: StampSimulator, proxy: LoggingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CA bundle was loaded into the direct connection pool only: through a proxy every call failed TLS."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = ArmClient(load_stamp(stamp.env()), max_attempts=1)
    assert client.list_backups(), "the stamp listed no backups"
    assert proxy.saw(host_port(stamp.url)), proxy.targets()


def test_the_proxy_tunnel_still_checks_the_stamps_certificate(
    stamp: StampSimulator, proxy: LoggingProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The context given to the tunnel is the verifying one: another CA is still refused."""
    import trustme

    other = tmp_path / "other-ca.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = ArmClient(load_stamp({**stamp.env(), "AZS_CA_BUNDLE": str(other)}), max_attempts=1)
    with pytest.raises(StampError, match="SSLError"):
        client.list_backups()
    assert proxy.saw(host_port(stamp.url))


# --- the web process: Slack's Web API and response_url through the proxy, the stamp through it or not ---------------


@pytest.mark.parametrize("stamp_direct", [True, False], ids=["stamp-in-NO_PROXY", "stamp-through-proxy"])
def test_web_reaches_slack_and_response_url_through_the_proxy(
    stamp_direct: bool,
    bot_env: dict[str, str],
    fake_slack: FakeSlack,
    stamp: StampSimulator,
    redis_client: redis.Redis,
    proxy: LoggingProxy,
    tmp_path: Path,
) -> None:
    slack_host = f"localhost:{fake_slack.port}"  # not 127.0.0.1, which NO_PROXY names for the stamp
    env = {
        **bot_env,
        "HTTPS_PROXY": proxy.url,
        "HTTP_PROXY": proxy.url,
        "NO_PROXY": "127.0.0.1" if stamp_direct else "",
        "SLACK_API_URL": f"http://{slack_host}/api/",
    }
    process, base = launch_web(env, tmp_path)
    try:
        requests_before = len(stamp.requests_log)
        slack = SlackRequests(base, SIGNING_SECRET, lambda hook: f"http://{slack_host}/hooks/{hook}")
        response, hook = slack.command("backup list", user="UOPER", channel="CBACKUPS")
        assert response.status_code == 200

        def replied() -> bool:
            return any("Latest backups" in json.dumps(r.payload) for r in fake_slack.hook_posts(hook))

        assert wait_until(replied, 20), f"{[r.payload for r in fake_slack.hook_posts(hook)]}\n{process.log_tail()}"
    finally:
        process.kill()
    targets = proxy.targets()
    assert f"POST http://{slack_host}/api/auth.test" in targets, targets  # the Web API, at the web's start
    assert f"POST http://{slack_host}/hooks/{hook}" in targets, targets  # the reply, through response_url
    assert len(stamp.requests_log) > requests_before, "the stamp was not asked"
    assert proxy.saw(host_port(stamp.url)) is not stamp_direct, targets


# --- Socket Mode: the WebSocket --------------------------------------------------------------------------------------


def test_socket_mode_websocket_goes_through_the_proxy(
    bot_env: dict[str, str],
    fake_slack: FakeSlack,
    stamp: StampSimulator,
    redis_client: redis.Redis,
    proxy: LoggingProxy,
    tmp_path: Path,
) -> None:
    server = SocketModeServer(app_id="A0001").start()
    fake_slack.socket_url = server.url  # ws://127.0.0.1:<port>/: HTTP_PROXY applies, as HTTPS_PROXY to wss://
    env = {
        **bot_env,
        "HTTPS_PROXY": proxy.url,
        "HTTP_PROXY": proxy.url,
        "NO_PROXY": "",
        "SLACK_API_URL": f"http://localhost:{fake_slack.port}/api/",
        "SLACK_APP_TOKEN": "xapp-test-A0001-fake",
    }
    process = BotProcess("socket", env, tmp_path)
    try:
        assert wait_until(lambda: len(server.connections) >= 1, 20), process.log_tail()
        assert f"POST http://localhost:{fake_slack.port}/api/apps.connections.open" in proxy.targets()
        assert proxy.saw(host_port(server.url)), f"the WebSocket went direct: {proxy.targets()}"
    finally:
        process.kill()
        server.stop()
        fake_slack.socket_url = None
