"""``azs-bot socket`` end to end: slack_sdk's built-in Socket Mode client against a loopback Socket Mode server.

The fake Slack's ``apps.connections.open`` hands out the ``ws://`` URL of :class:`tests.socket_server.
SocketModeServer`, which greets the bot with ``hello`` and then plays Slack: slash-command and button envelopes
in, envelope acks out. Replies still go through ``response_url`` and ``chat.postMessage`` on the fake Slack, and a
real worker reports the outcome, exactly as in the HTTP flow (``test_backup_flow.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.messages import START_ACTION_ID
from bot.simulator import StampSimulator
from bot.slack_fake import FakeSlack
from tests.conftest import OPERATOR
from tests.harness import BotProcess, wait_until
from tests.socket_server import Received, SocketModeConnection, SocketModeServer, disconnect_message

APP_TOKEN = "xapp-test-A0001-fake"
CHANNEL = "CBACKUPS"
ACK_DEADLINE = 3.0  # Slack's limit for acknowledging an envelope


class SocketBot:
    """The ``azs-bot socket`` process and its connection, plus Slack's side of the conversation."""

    def __init__(self, process: BotProcess, connection: SocketModeConnection, fake: FakeSlack) -> None:
        self.process = process
        self.connection = connection
        self.fake = fake

    def command(self, text: str, *, user: str = OPERATOR, channel: str = CHANNEL) -> tuple[str, str]:
        """``/azs <text>`` as a ``slash_commands`` envelope; returns the envelope id and the response_url hook."""
        hook = f"sock-cmd{time.monotonic_ns()}"
        payload = {"token": "deprecated-verification-token", "team_id": "T0001", "team_domain": "fake",
                   "channel_id": channel, "channel_name": "backups", "user_id": user, "user_name": user.lower(),
                   "command": "/azs", "text": text, "api_app_id": "A0001", "is_enterprise_install": "false",
                   "response_url": self.fake.response_url(hook), "trigger_id": "1.2.3"}
        return self.connection.send_envelope("slash_commands", payload, accepts_response_payload=True), hook

    def click(self, action_id: str = START_ACTION_ID, *, user: str = OPERATOR, channel: str = CHANNEL,
              value: str = "sim-stamp") -> tuple[str, str]:
        """A ``block_actions`` click on a button in an ephemeral message, as an ``interactive`` envelope."""
        hook = f"sock-click{time.monotonic_ns()}"
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user, "team_id": "T0001"},
            "api_app_id": "A0001", "channel": {"id": channel}, "container": {"type": "message"},
            "trigger_id": "1.2.3", "response_url": self.fake.response_url(hook),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "action_ts": str(time.time())}]}
        return self.connection.send_envelope("interactive", payload), hook

    def ack(self, envelope_id: str, sent_at: float) -> Received:
        """The envelope's ack, which must arrive inside Slack's 3 s."""
        try:
            ack = self.connection.wait_ack(envelope_id, timeout=ACK_DEADLINE + 2)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- bot log ---\n{self.process.log()}") from None
        assert ack.at - sent_at < ACK_DEADLINE, f"ack after {ack.at - sent_at:.2f}s"
        return ack

    def wait_reply(self, hook: str, contains: str, timeout: float = 10.0) -> dict[str, Any]:
        def replies() -> list[dict[str, Any]]:
            return [r.payload for r in self.fake.hook_posts(hook)]

        assert wait_until(lambda: any(contains in json.dumps(p) for p in replies()), timeout), (
            f"no reply containing {contains!r}; got {replies()}\n--- bot log ---\n{self.process.log()}")
        return next(p for p in replies() if contains in json.dumps(p))


@pytest.fixture
def socket_server() -> Iterator[SocketModeServer]:
    server = SocketModeServer(app_id="A0001").start()
    yield server
    server.stop()


@pytest.fixture
def socket_bot(bot_env: dict[str, str], fake_slack: FakeSlack, socket_server: SocketModeServer,
               redis_client: redis.Redis, stamp: StampSimulator, tmp_path: Path) -> Iterator[SocketBot]:
    """``azs-bot socket`` connected to ``socket_server`` through the fake ``apps.connections.open``."""
    fake_slack.socket_url = socket_server.url
    process = BotProcess("socket", {**bot_env, "SLACK_APP_TOKEN": APP_TOKEN}, tmp_path)
    try:
        try:
            connection = socket_server.wait_connection(timeout=20)
            connection.wait_ping(timeout=5)  # the client pings once it has checked Sec-WebSocket-Accept
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- bot log ---\n{process.log()}") from None
        yield SocketBot(process, connection, fake_slack)
    finally:
        process.kill()
        fake_slack.socket_url = None  # the fake is shared by the whole session


def completions(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages(CHANNEL) if m.get("thread_ts")]


@pytest.mark.timeout(60)
def test_socket_mode_backup_flow_end_to_end(socket_bot: SocketBot, socket_server: SocketModeServer,
                                            fake_slack: FakeSlack, stamp: StampSimulator,
                                            start_worker: Callable[[], BotProcess]) -> None:
    bot, connection = socket_bot, socket_bot.connection
    # The client asked the (fake) Web API for the URL with its app token, then upgraded to a WebSocket there.
    assert fake_slack.calls("apps.connections.open")
    assert connection.handshake.target.startswith("/")
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
    reply = json.dumps(bot.wait_reply(hook, "started infrastructure backup"))
    backup_id = reply.split("backup `", 1)[1].split("`", 1)[0]
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

    # One connection throughout, every envelope acked, and the process stops and hangs up.
    assert len(socket_server.connections) == 1 and len(fake_slack.calls("apps.connections.open")) == 1
    log = bot.process.log()
    assert "Unsuccessful Bolt execution result" not in log, log
    bot.process.stop(timeout=10)
    assert connection.wait_closed(timeout=5)


@pytest.mark.timeout(60)
def test_socket_mode_reconnects_when_slack_asks_for_a_refresh(socket_bot: SocketBot, socket_server: SocketModeServer,
                                                             fake_slack: FakeSlack) -> None:
    """Slack sends ``disconnect`` (``refresh_requested``) before it retires a connection: the bot must fetch a new
    URL from ``apps.connections.open``, connect there, and keep acknowledging envelopes on the new connection."""
    old = socket_bot.connection
    old.send_json(disconnect_message())
    new = socket_server.wait_connection(2, timeout=10)
    new.wait_ping(timeout=5)
    assert len(fake_slack.calls("apps.connections.open")) == 2
    # slack_sdk drops the old connection without a close frame, and only after its pending recv() times out
    # (about 3 s); until then it does not read the new one either, so wait before sending there.
    assert old.wait_closed(timeout=10)
    socket_bot.connection = new
    sent = time.monotonic()
    envelope, _ = socket_bot.command("help")
    assert "/azs backup status" in json.dumps(socket_bot.ack(envelope, sent).data.get("payload"))
    assert len(socket_server.open_connections()) == 1
