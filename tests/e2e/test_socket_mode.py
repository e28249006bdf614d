"""``azs-bot socket`` end to end, and under Slack's faults, against a loopback Socket Mode server.

The fake Slack's ``apps.connections.open`` hands out the ``ws://`` URL of :class:`devkit.socket_server.
SocketModeServer`, which greets the bot with ``hello`` and then plays Slack: slash-command and button envelopes
in, envelope acks out, plus refreshes, dropped and half-open links and redeliveries
(:class:`devkit.socket_server.ScenarioPlayer`). Replies still go through ``response_url`` and ``chat.postMessage``
on the fake Slack, and a real worker reports the outcome, exactly as in the HTTP flow (``test_backup_flow.py``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from bot.config.env import SettingsError
from bot.config.limits import SOCKET_MAX_BACKOFF
from bot.config.settings import load_settings
from bot.serve.socket_mode import backoff_delay
from bot.words.replies import START_ACTION_ID
from devkit.localrun import click_payload, command_form
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from devkit.socket_server import Received, ScenarioPlayer, SocketModeConnection, SocketModeServer, cpu_seconds
from tests.conftest import OPERATOR
from tests.harness import BotProcess, announced_backup_id, free_port, wait_until
from tests.sentinel_cluster import SentinelCluster

APP_TOKEN = "xapp-test-A0001-fake"
LINKS = 2  # AZS_SOCKET_CONNECTIONS as shipped
CHANNEL = "CBACKUPS"
ACK_DEADLINE = 3.0  # Slack's limit for acknowledging an envelope


class SocketBot:
    """The ``azs-bot socket`` process and its connection, plus Slack's side of the conversation."""

    def __init__(
        self, process: BotProcess, connection: SocketModeConnection, fake: FakeSlack, metrics: str | None = None
    ) -> None:
        self.process = process
        self.connection = connection
        self.fake = fake
        self.metrics = metrics  # base URL of /healthz and /metrics, when the probe port is on
        self.envelopes: dict[str, tuple[SocketModeConnection, str]] = {}
        """hook -> the connection and envelope a command went out on, to read a reply its ack carried."""

    def command(self, text: str, *, user: str = OPERATOR, channel: str = CHANNEL) -> tuple[str, str]:
        """``/azs <text>`` as a ``slash_commands`` envelope; returns the envelope id and the response_url hook."""
        hook = f"sock-cmd{time.monotonic_ns()}"
        payload = {
            **command_form(text, user=user, channel=channel, response_url=self.fake.response_url(hook)),
            "token": "deprecated-verification-token",
            "team_domain": "fake",
            "channel_name": "backups",
            "is_enterprise_install": "false",
        }
        envelope_id = self.connection.send_envelope("slash_commands", payload, accepts_response_payload=True)
        self.envelopes[hook] = (self.connection, envelope_id)
        return envelope_id, hook

    def click(
        self,
        action_id: str = START_ACTION_ID,
        *,
        user: str = OPERATOR,
        channel: str = CHANNEL,
        value: str = "sim-stamp",
        hook: str | None = None,
        envelope_id: str | None = None,
        connection: SocketModeConnection | None = None,
    ) -> tuple[str, str]:
        """A ``block_actions`` click on a button in an ephemeral message, as an ``interactive`` envelope."""
        hook = hook or f"sock-click{time.monotonic_ns()}"
        payload = click_payload(
            action_id, user=user, channel=channel, value=value, response_url=self.fake.response_url(hook)
        )
        sent = (connection or self.connection).send_envelope("interactive", payload, envelope_id=envelope_id)
        return sent, hook

    def ack(self, envelope_id: str, sent_at: float, connection: SocketModeConnection | None = None) -> Received:
        """The envelope's ack, which must arrive inside Slack's 3 s."""
        try:
            ack = (connection or self.connection).wait_ack(envelope_id, timeout=ACK_DEADLINE + 2)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- bot log ---\n{self.process.log()}") from None
        assert ack.at - sent_at < ACK_DEADLINE, f"ack after {ack.at - sent_at:.2f}s"
        return ack

    def acked_reply(self, hook: str) -> list[dict[str, Any]]:
        """The reply the command's ack carried (a read answered from the snapshot, help), if any."""
        if hook not in self.envelopes:
            return []
        connection, envelope_id = self.envelopes[hook]
        acks = [m.data for m in list(connection.messages) if m.data.get("envelope_id") == envelope_id]
        return [ack["payload"] for ack in acks if ack.get("payload")]

    def wait_reply(self, hook: str, contains: str, timeout: float = 10.0) -> dict[str, Any]:
        def replies() -> list[dict[str, Any]]:
            return self.acked_reply(hook) + [r.payload for r in self.fake.hook_posts(hook)]

        assert wait_until(lambda: any(contains in json.dumps(p) for p in replies()), timeout), (
            f"no reply containing {contains!r}; got {replies()}\n--- bot log ---\n{self.process.log()}"
        )
        return next(p for p in replies() if contains in json.dumps(p))


def launch_socket_bot(
    env: dict[str, str], fake: FakeSlack, server: SocketModeServer, log_dir: Path, metrics: bool = False
) -> SocketBot:
    """``azs-bot socket`` once all its connections said hello (connections are numbered in arrival order)."""
    fake.socket_url = server.url
    port = free_port() if metrics else 0
    known = len(server.connections)
    process = BotProcess("socket", {**env, "SLACK_APP_TOKEN": APP_TOKEN, "AZS_METRICS_PORT": str(port)}, log_dir)
    try:
        first = server.wait_connection(known + 1, timeout=20)
        server.wait_connection(known + LINKS, timeout=20)
    except TimeoutError as exc:
        process.kill()
        raise AssertionError(f"{exc}\n--- bot log ---\n{process.log()}") from None
    return SocketBot(process, first, fake, f"http://127.0.0.1:{port}" if metrics else None)


@pytest.fixture
def socket_server() -> Iterator[SocketModeServer]:
    server = SocketModeServer(app_id="A0001").start()
    yield server
    server.stop()


@pytest.fixture
def socket_bot(
    bot_env: dict[str, str],
    fake_slack: FakeSlack,
    socket_server: SocketModeServer,
    redis_client: redis.Redis,
    stamp: StampSimulator,
    tmp_path: Path,
) -> Iterator[SocketBot]:
    """``azs-bot socket`` connected to ``socket_server`` through the fake ``apps.connections.open``."""
    bot = launch_socket_bot(bot_env, fake_slack, socket_server, tmp_path, metrics=True)
    try:
        yield bot
    finally:
        bot.process.kill()
        fake_slack.socket_url = None  # the fake is shared by the whole session


def player_for(bot: SocketBot, server: SocketModeServer) -> ScenarioPlayer:
    return ScenarioPlayer(server, pid=bot.process.process.pid)


def completions(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages(CHANNEL) if m.get("thread_ts")]


@pytest.mark.timeout(60)
def test_socket_mode_backup_flow_end_to_end(
    socket_bot: SocketBot,
    socket_server: SocketModeServer,
    fake_slack: FakeSlack,
    stamp: StampSimulator,
    start_worker: Callable[[], BotProcess],
) -> None:
    bot, connection = socket_bot, socket_bot.connection
    # The client asked the (fake) Web API for each URL with its app token, then upgraded to a WebSocket there.
    assert len(fake_slack.calls("apps.connections.open")) == LINKS
    assert connection.handshake.target.startswith("/")
    assert connection.wait_ping(timeout=2) == b"azs-hello"  # the client checks a new link at once
    ping = b"server-ping"
    connection.ping(ping)
    connection.wait_pong(ping)

    # Help is answered in the envelope ack itself.
    sent = time.monotonic()
    envelope, help_hook = bot.command("help")
    ack = bot.ack(envelope, sent)
    help_text = json.dumps(ack.data.get("payload"))
    for usage in ("Usage", "/azs backup status", "/azs help"):
        assert usage in help_text, ack.data
    assert not fake_slack.hook_posts(help_hook)

    # /azs backup: an empty ack at once, then the confirmation card through response_url.
    stamp.backup_seconds = 1.5
    sent = time.monotonic()
    envelope, hook = bot.command("backup")
    assert bot.ack(envelope, sent).data == {"envelope_id": envelope}
    card = bot.wait_reply(hook, START_ACTION_ID)
    assert card.get("response_type") == "ephemeral"

    # The "Start backup" click starts the backup and announces it in the channel.
    sent = time.monotonic()
    envelope, hook = bot.click()
    assert bot.ack(envelope, sent).data == {"envelope_id": envelope}
    backup_id = announced_backup_id(bot.wait_reply(hook, "started infrastructure backup"))
    assert backup_id
    assert backup_id == stamp.running_backup_id()
    assert wait_until(lambda: bool(fake_slack.messages(CHANNEL)), timeout=5)
    announcement = fake_slack.messages(CHANNEL)[0]
    assert f"<@{OPERATOR}>" in announcement["text"] and backup_id in announcement["text"]

    # A worker follows the backup and threads the outcome under the announcement.
    start_worker()
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=20), fake_slack.messages(CHANNEL)
    [done] = completions(fake_slack)
    assert done["thread_ts"] == announcement["ts"]
    for expected in (backup_id, f"<@{OPERATOR}>", "Succeeded"):
        assert expected in json.dumps(done)

    # The same connections throughout, every envelope acked, and the process stops and hangs up politely.
    assert len(socket_server.connections) == LINKS and len(fake_slack.calls("apps.connections.open")) == LINKS
    log = bot.process.log()
    assert "Unsuccessful Bolt execution result" not in log, log
    assert bot.process.stop(timeout=10) == 0
    for link in socket_server.connections:
        assert link.wait_closed(timeout=5) and link.close_code == 1000, (link.number, link.close_code)


@pytest.mark.timeout(120)
def test_refreshes_never_delay_an_ack(
    socket_bot: SocketBot, socket_server: SocketModeServer, fake_slack: FakeSlack
) -> None:
    """Slack retires connections (``disconnect``, ``refresh_requested``, sometimes after a ``warning``) and sends
    the next envelope as soon as the new connection says hello: every one must be acked inside 3 s."""
    player = player_for(socket_bot, socket_server)
    for outcome in (player.refreshes(6), player.refreshes(2, warning=True), player.steady(10)):
        assert outcome.late == 0 and not outcome.notes, (outcome, socket_bot.process.log())
    assert outcome.slowest < ACK_DEADLINE
    # Each refresh fetched a fresh URL and the old connections were closed: the process is back to its links.
    assert len(fake_slack.calls("apps.connections.open")) == LINKS + 8
    assert wait_until(lambda: len(socket_server.live_connections()) == LINKS, timeout=5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_dropped_links_recover_within_10s_without_spinning(
    socket_bot: SocketBot, socket_server: SocketModeServer, reset: bool
) -> None:
    """Every link drops without a close frame (FIN, or a TCP reset): a new one acks an envelope within 10 s."""
    outcome = player_for(socket_bot, socket_server).drop(reset=reset, limit=20)
    assert outcome.recovery is not None and outcome.recovery < 10, (outcome, socket_bot.process.log())
    assert outcome.late == 0, outcome
    assert outcome.cpu is not None and outcome.cpu < 0.3 * outcome.recovery + 0.5, outcome  # waiting, not spinning
    assert wait_until(lambda: len(socket_server.live_connections()) == LINKS, timeout=10)


@pytest.mark.timeout(90)
def test_half_open_links_are_noticed_and_replaced_within_30s(
    socket_bot: SocketBot, socket_server: SocketModeServer
) -> None:
    """No pongs, no reads, no close (a NAT box forgot the link): pings go unanswered and the bot reconnects."""
    outcome = player_for(socket_bot, socket_server).half_open(limit=40)
    assert outcome.recovery is not None and outcome.recovery < 30, (outcome, socket_bot.process.log())
    assert outcome.cpu is not None and outcome.cpu < 0.3 * outcome.recovery + 0.5, outcome
    assert wait_until(lambda: len(socket_server.live_connections()) == LINKS, timeout=15)


@pytest.mark.timeout(60)
def test_a_dropped_link_never_leaves_the_app_without_one(
    socket_bot: SocketBot, socket_server: SocketModeServer
) -> None:
    """While one connection is down (dropped, or being refreshed), the other acks at once."""
    first, second = socket_server.live_connections()
    first.drop()
    assert socket_server.live_connections() == [second]
    outcome = player_for(socket_bot, socket_server).steady(5, interval=0.05)  # all five go to the survivor
    assert outcome.late == 0 and outcome.sent == 5, outcome
    assert wait_until(lambda: len(socket_server.live_connections()) == LINKS, timeout=10)


@pytest.mark.timeout(90)
def test_a_redelivered_start_click_starts_one_backup(
    bot_env: dict[str, str],
    fake_slack: FakeSlack,
    socket_server: SocketModeServer,
    redis_client: redis.Redis,
    stamp: StampSimulator,
    tmp_path: Path,
) -> None:
    """Slack sends the same envelope again (same ``envelope_id``) to another connection, even of another process:
    every copy is acked inside 3 s, and the click runs once: one backup, and the requester's card is not replaced
    by "already running, started by you"."""
    stamp.backup_seconds = 30
    one = launch_socket_bot(bot_env, fake_slack, socket_server, tmp_path)
    two = launch_socket_bot(bot_env, fake_slack, socket_server, tmp_path)
    try:
        links = socket_server.live_connections()
        assert len(links) == 2 * LINKS
        starts = stamp.count("POST", "createBackup")
        envelope_id, hook = "env-redelivered-1", "sock-click-redelivered"
        copies = [links[0], links[1], links[LINKS]]  # two connections of the first process, one of the second
        sent: list[float] = []
        barrier = threading.Barrier(len(copies))

        def send(link: SocketModeConnection) -> None:
            barrier.wait()
            sent.append(time.monotonic())
            one.click(hook=hook, envelope_id=envelope_id, connection=link)

        senders = [threading.Thread(target=send, args=(link,)) for link in copies]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join(timeout=5)
        for link in copies:
            assert one.ack(envelope_id, min(sent), link).data == {"envelope_id": envelope_id}
        one.wait_reply(hook, "started infrastructure backup")
        time.sleep(1.0)  # room for a second copy to run, had it been let through
        assert stamp.count("POST", "createBackup") == starts + 1
        replies = [json.dumps(r.payload) for r in fake_slack.hook_posts(hook)]
        assert replies and not any("already running" in r for r in replies), replies
        assert "started infrastructure backup" in replies[-1], replies  # the card still says who started what
    finally:
        one.process.kill()
        two.process.kill()
        fake_slack.socket_url = None


@pytest.mark.timeout(60)
def test_redelivery_while_redis_is_down_still_acts_once_per_process(
    bot_env: dict[str, str],
    fake_slack: FakeSlack,
    socket_server: SocketModeServer,
    redis_client: redis.Redis,
    redis_server: Any,
    tmp_path: Path,
) -> None:
    """Without Redis the dedupe fails open across processes but still holds inside one: both copies are acked,
    the command runs once, and /healthz says Redis is the problem."""
    bot = launch_socket_bot(bot_env, fake_slack, socket_server, tmp_path, metrics=True)
    try:
        redis_server.stop()
        _, second = socket_server.live_connections()
        sent = time.monotonic()
        envelope_id, hook = bot.command("help")  # on the first connection
        assert "/azs backup status" in json.dumps(bot.ack(envelope_id, sent).data.get("payload"))
        sent = time.monotonic()
        second.send_envelope(
            "slash_commands", _help_payload(bot, hook), accepts_response_payload=True, envelope_id=envelope_id
        )
        ack = bot.ack(envelope_id, sent, second)
        assert ack.data == {"envelope_id": envelope_id}, ack.data  # the copy: acked, not answered again
        health = requests.get(f"{bot.metrics}/healthz", timeout=5)
        assert health.status_code == 503 and "redis" in health.json()["problems"], health.text
        # Still connected and answering: ready and live, so no orchestrator takes it away for Redis.
        for probe in ("readyz", "livez"):
            assert requests.get(f"{bot.metrics}/{probe}", timeout=5).status_code == 200, probe
    finally:
        bot.process.kill()
        fake_slack.socket_url = None


@pytest.fixture(params=["sentinel", "tls-private-ca"])
def deployed_redis(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """``REDIS_URL`` (and ``REDIS_CA_BUNDLE``) of a Redis as deployments run it: behind Sentinel, or over TLS
    with a certificate from a private CA that the system does not trust."""
    if request.param == "sentinel":
        cluster = SentinelCluster(replicas=0)
        settings = {"REDIS_URL": cluster.url}
    else:
        cluster = SentinelCluster(replicas=0, sentinels=0, tls=True)
        settings = {"REDIS_URL": f"rediss://127.0.0.1:{cluster.master_port}/0", "REDIS_CA_BUNDLE": cluster.ca_file}
    try:
        assert cluster.wait_ready(), "the sentinels did not find each other"
        yield settings
    finally:
        cluster.stop()


@pytest.mark.timeout(90)
def test_the_envelope_dedupe_uses_the_deployed_redis(
    bot_env: dict[str, str],
    fake_slack: FakeSlack,
    socket_server: SocketModeServer,
    stamp: StampSimulator,
    deployed_redis: dict[str, str],
    tmp_path: Path,
) -> None:
    """Issue 17, finding 4: the envelope ledger built its own Redis client, so ``azs-bot socket`` did not start on a
    Sentinel URL and ignored ``REDIS_CA_BUNDLE`` (every dedupe check failed open). Two processes get the same
    envelope: only the first acts on it, which only the shared Redis can tell them."""
    env = {**bot_env, **deployed_redis}
    one = launch_socket_bot(env, fake_slack, socket_server, tmp_path)
    two = launch_socket_bot(env, fake_slack, socket_server, tmp_path)
    try:
        links = socket_server.live_connections()
        envelope_id, hook = "env-deployed-redis-1", f"sock-deployed{time.monotonic_ns()}"
        sent = time.monotonic()
        links[0].send_envelope(
            "slash_commands", _help_payload(one, hook), accepts_response_payload=True, envelope_id=envelope_id
        )
        first = one.ack(envelope_id, sent, links[0])
        assert "/azs backup status" in json.dumps(first.data.get("payload")), first.data
        sent = time.monotonic()
        links[LINKS].send_envelope(
            "slash_commands", _help_payload(one, hook), accepts_response_payload=True, envelope_id=envelope_id
        )
        copy = two.ack(envelope_id, sent, links[LINKS])
        assert copy.data == {"envelope_id": envelope_id}, (copy.data, two.process.log())
        for bot in (one, two):
            assert "did not answer the envelope dedupe" not in bot.process.log(), bot.process.log()
    finally:
        one.process.kill()
        two.process.kill()
        fake_slack.socket_url = None


def _help_payload(bot: SocketBot, hook: str) -> dict[str, Any]:
    return {
        "token": "deprecated-verification-token",
        "team_id": "T0001",
        "channel_id": CHANNEL,
        "user_id": OPERATOR,
        "user_name": OPERATOR.lower(),
        "command": "/azs",
        "text": "help",
        "api_app_id": "A0001",
        "response_url": bot.fake.response_url(hook),
        "trigger_id": "1.2.3",
    }


@pytest.mark.timeout(60)
def test_healthz_and_metrics_follow_the_links(socket_bot: SocketBot, socket_server: SocketModeServer) -> None:
    """Ready while a connection is open and answering; 503 naming Socket Mode once every link is gone."""
    base = socket_bot.metrics
    assert wait_until(lambda: requests.get(f"{base}/healthz", timeout=2).status_code == 200, timeout=5)
    player = player_for(socket_bot, socket_server)
    assert player.refreshes(1).late == 0 and player.steady(2).late == 0
    metrics = requests.get(f"{base}/metrics", timeout=5).text
    for expected in (
        'azs_socket_envelopes_total{outcome="acked",type="slash_commands"} 3.0',
        'azs_socket_reconnects_total{reason="refresh"} 1.0',
        "azs_socket_connections 2.0",
        "azs_socket_ack_seconds_count 3.0",
    ):
        assert expected in metrics, metrics
    socket_server.stop()  # Slack is gone: links drop and new ones are refused

    def unready() -> bool:
        response = requests.get(f"{base}/healthz", timeout=2)
        return response.status_code == 503 and "socket" in response.json()["problems"]

    assert wait_until(unready, timeout=10), requests.get(f"{base}/healthz", timeout=2).text
    assert requests.get(f"{base}/readyz", timeout=2).json()["problems"].keys() == {"socket"}
    assert requests.get(f"{base}/livez", timeout=2).status_code == 200, "reconnecting is alive: no restart"
    cpu = cpu_seconds(socket_bot.process.process.pid)
    time.sleep(3)  # reconnecting to nothing: backoff, not a busy loop
    assert cpu_seconds(socket_bot.process.process.pid) - cpu < 1.0


def test_reconnect_backoff_starts_fast_doubles_and_is_capped() -> None:
    assert [backoff_delay(n, lambda: 1.0) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert 0.25 <= backoff_delay(0) <= 0.5
    assert (
        backoff_delay(50, lambda: 1.0) == SOCKET_MAX_BACKOFF
        and backoff_delay(50, lambda: 0.0) == SOCKET_MAX_BACKOFF / 2
    )


def test_socket_settings_default_to_two_links_and_reject_nonsense(bot_env: dict[str, str]) -> None:
    settings = load_settings(bot_env, need_slack=False)
    assert (settings.socket_connections, settings.socket_ping_interval) == (2, 5.0)
    tuned = load_settings({**bot_env, "AZS_SOCKET_CONNECTIONS": "4", "AZS_SOCKET_PING_INTERVAL": "2.5"})
    assert (tuned.socket_connections, tuned.socket_ping_interval) == (4, 2.5)
    for name, value in (("AZS_SOCKET_CONNECTIONS", "0"), ("AZS_SOCKET_PING_INTERVAL", "0.1")):
        with pytest.raises(SettingsError, match=name):
            load_settings({**bot_env, name: value})
