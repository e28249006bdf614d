"""Log lines carry no token of any shape, read from the JSON the processes really write.

Issue 17, finding 11: the secret filter missed bare JWTs (an MSAL access or id token, a client assertion:
three base64url segments starting ``eyJ``), ``client_assertion=...`` in a token request body, and the
``ticket=`` of a Socket Mode URL (``wss://...?ticket=...``), which lets whoever holds it take the bot's
connection. The first test runs the logging set-up of every entry point in a child process; the second starts
``azs-bot socket`` against a Slack whose WebSocket URL refuses the handshake, so the URL lands in its log.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devkit.slack_fake import FakeSlack
from tests.conftest import BOT_TOKEN
from tests.harness import ROOT, BotProcess, wait_until


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


JWT = ".".join(
    [
        _segment({"typ": "JWT", "alg": "RS256", "x5t": "nOo3ZDrODXEK1jKWhXslHR_KXEg"}),
        _segment({"aud": "https://adminmanagement.local.azurestack.external/", "oid": "3e5a7c1b", "exp": 1}),
        "Xq8sQyq7eW-vH_0dJ2kq1xYb9VtG0p4aP3rL6mN8oZcE2uI5wT7yA1sD4fG6hJ9kL0",
    ]
)
TICKET = "8d1a7f32-4c2b-4e8f-9a6d-1b2c3d4e5f60"
LINES = [
    f"token refreshed: {JWT}",
    f"MSAL error body: {{'id_token': '{JWT}'}}",
    f"POST /adfs/oauth2/token body grant_type=client_credentials&client_assertion={JWT}&client_assertion_type="
    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_id=app",
    f'{{"client_assertion": "{JWT}", "client_id": "app"}}',
    f"cannot connect (WSServerHandshakeError: 404, message='Invalid response status', "
    f"url=URL('wss://wss-primary.slack.com/link/?ticket={TICKET}&app_id=A0001'))",
    f"GET wss://wss-primary.slack.com/link/?app_id=A0001&ticket={TICKET}",
]
CHILD = """
import logging, sys
from bot.ops.logs import configure_logging
configure_logging()
log = logging.getLogger("azs.test")
for line in sys.argv[1:]:
    log.warning("%s", line)
try:
    raise RuntimeError(sys.argv[1])
except RuntimeError:
    log.exception("failed")
"""


def test_jwts_client_assertions_and_socket_tickets_are_redacted_in_the_json_log() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *LINES], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(entries) == len(LINES) + 1
    for entry in entries:
        text = json.dumps(entry)
        for secret in (JWT, JWT.split(".")[1], JWT.split(".")[2], TICKET):
            assert secret not in text, f"a secret in {text}"
    messages = [entry["message"] for entry in entries]
    assert "client_assertion=[redacted]" in messages[2] and "client_id=app" in messages[2]
    assert "wss-primary.slack.com/link/?ticket=[redacted]&app_id=A0001" in messages[4]
    assert messages[5].endswith("ticket=[redacted]") and messages[0] == "token refreshed: [redacted]"


@pytest.mark.parametrize(
    "harmless",
    [
        "backup 3f2504e0-4f89-11d3-9a0c-0305e82c3301 on east ended: Succeeded",
        "polling https://adminmanagement.local/subscriptions/x/providers/Microsoft.Backup.Admin/backupLocations/local"
        "/operationResults/3f2504e0-4f89-11d3-9a0c-0305e82c3301?api-version=2018-09-01",
        "version 1.2108.0.32, file eyJ.txt, a.b.c",
    ],
)
def test_ordinary_lines_are_left_alone(harmless: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, harmless], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(result.stderr.splitlines()[0])["message"] == harmless


@pytest.mark.timeout(60)
def test_a_refused_socket_mode_url_is_logged_without_its_ticket(
    bot_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The real process: Slack hands out a URL whose WebSocket handshake fails, and the bot logs why."""
    fake_slack.socket_url = f"ws://127.0.0.1:{fake_slack.port}/link/?ticket={TICKET}&app_id=A0001"
    process = BotProcess(
        "socket", {**bot_env, "SLACK_APP_TOKEN": "xapp-1-A0001-test-app-token", "AZS_METRICS_PORT": "0"}, tmp_path
    )
    try:
        assert wait_until(lambda: "cannot connect" in process.log(), timeout=20), process.log()
        log = process.log()
        assert "ticket=[redacted]" in log, log
        assert TICKET not in log and BOT_TOKEN not in log, log
    finally:
        process.kill()
        fake_slack.socket_url = None
