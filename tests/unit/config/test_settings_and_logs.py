"""Fail-fast settings and secret-free logs."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config.env import SettingsError
from bot.config.settings import load_settings
from bot.ops.logs import REDACTED, JsonFormatter, SecretFilter
from tests.harness import ROOT

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1-abcdef",
    "SLACK_SIGNING_SECRET": "s3cret-signing",
    "AZS_CLIENT_ID": "app",
    "AZS_ARM_ENDPOINT": "https://adminmanagement.local.azurestack.external",
    "AZS_CLIENT_SECRET": "p@ss-word-1",
}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"AZS_ARM_ENDPOINT": ""}, "AZS_ARM_ENDPOINT"),
        ({"AZS_ARM_ENDPOINT": "http://x"}, "AZS_ARM_ENDPOINT"),
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN"),
        ({"AZS_CLIENT_CERT": "/no/such.pem"}, "AZS_CLIENT_SECRET"),
        ({"AZS_CLIENT_SECRET": "", "AZS_CLIENT_CERT": "/no/such.pem"}, "AZS_CLIENT_CERT"),
        ({"AZS_POLL_INTERVAL": "soon"}, "AZS_POLL_INTERVAL"),
        ({"AZS_POLL_INTERVAL": "0"}, "AZS_POLL_INTERVAL"),
        ({"SLACK_API_URL": "http://127.0.0.1:1/"}, "SLACK_API_URL"),
        ({"PORT": "http"}, "PORT"),
        ({"AZS_CA_BUNDLE": "/no/ca.pem"}, "AZS_CA_BUNDLE"),
    ],
)
def test_bad_settings_name_the_variable(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({**BASE, **change})


def test_defaults_and_operators() -> None:
    settings = load_settings({**BASE, "AZS_OPERATORS": " U1, U2 ,,"})
    assert settings.operators == {"U1", "U2"} and settings.poll_interval == 30.0
    assert settings.stamp.api_version == "2018-09-01" and settings.port == 3000
    assert not any(secret in repr(settings) for secret in settings.secrets())


def test_process_stops_with_one_line_naming_the_setting() -> None:
    env = {"PATH": "/usr/bin:/bin", **{k: v for k, v in BASE.items() if k != "AZS_CLIENT_ID"}}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "worker"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AZS_CLIENT_ID" in lines[0]


def test_log_filter_scrubs_known_secrets_and_token_shapes() -> None:
    record = logging.LogRecord(
        "t",
        logging.ERROR,
        __file__,
        1,
        "token %s then %s and %s",
        ("p@ss-word-1", "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.abc", '{"encryptedBackupEncryptionKey":"pQDlmgk"}'),
        None,
    )
    try:
        raise ValueError("xoxb-fake-secretish in an exception")
    except ValueError:
        record.exc_info = sys.exc_info()
    SecretFilter(["p@ss-word-1"]).filter(record)
    line = JsonFormatter().format(record)
    assert json.loads(line)["level"] == "error"
    for secret in ("p@ss-word-1", "eyJ0eXAi", "pQDlmgk", "xoxb-fake-secretish"):
        assert secret not in line
    assert REDACTED in line


def test_stamps_file_lists_stamps_and_names_bad_entries(tmp_path: Path) -> None:
    good = tmp_path / "stamps.toml"
    good.write_text(
        '[[stamp]]\nname = "east"\narm_endpoint = "https://adminmanagement.east.example"\n'
        'client_id = "app"\nclient_secret = "s3cret-east"\n\n'
        '[[stamp]]\nname = "west"\narm_endpoint = "https://adminmanagement.west.example"\n'
        'client_id = "app"\nclient_secret = "s3cret-west"\ntenant_id = "t"\n'
    )
    settings = load_settings({**BASE, "AZS_STAMPS_FILE": str(good)})
    assert [s.name for s in settings.stamps] == ["east", "west"] and settings.stamp.name == "east"
    assert "s3cret-west" in settings.secrets()
    for body, named in (
        ('[[stamp]]\nname = "x"\nclient_id = "a"\nclient_secret = "b"\n', "arm_endpoint"),
        ('[[stamp]]\nname = "bad name"\n', "name"),
        ("stamp = 1", "no [[stamp]]"),
        ('[[stamp]]\nname = "x"\ncolour = "red"\n', "unknown keys: colour"),
        ("[[", "not valid TOML"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(body)
        with pytest.raises(SettingsError, match=re.escape(named)):
            load_settings({**BASE, "AZS_STAMPS_FILE": str(bad)})


def test_log_filter_keeps_request_bodies_and_url_credentials_out() -> None:
    """Bolt logs a rejected request's body at INFO and quotes bodies in warnings; URLs may carry passwords."""
    scrub = SecretFilter()
    verification = logging.LogRecord(
        "slack_bolt.RequestVerification",
        logging.INFO,
        __file__,
        1,
        "Invalid request signature detected (body: BODYMARKER)",
        None,
        None,
    )
    assert not scrub.filter(verification)
    unhandled = logging.LogRecord(
        "slack_bolt.App",
        logging.WARNING,
        __file__,
        1,
        "Unhandled request ({'type': 'BODYMARKER'})\n---\n[Suggestion] ...",
        None,
        None,
    )
    assert scrub.filter(unhandled) and "BODYMARKER" not in unhandled.getMessage()
    assert unhandled.getMessage().startswith("Unhandled request (")
    url = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "cannot reach %s", ("redis://:pw-hunter2@redis:6379/0",), None
    )
    scrub.filter(url)
    assert "pw-hunter2" not in url.getMessage() and "redis:6379/0" in url.getMessage()


def test_a_proxy_password_is_a_secret_from_the_first_log_line_on() -> None:
    """A connection error can name the proxy, and an authentication failure its password alone, outside any URL."""
    from bot.ops.logs import secrets_in_environment

    env = {**BASE, "HTTPS_PROXY": "http://bot:Pr0xy-Passw0rd@proxy.example:3128", "no_proxy": "stamp.local"}
    line = "proxy refused the credentials Pr0xy-Passw0rd for http://bot:Pr0xy-Passw0rd@proxy.example:3128"
    for secrets in (secrets_in_environment(env), load_settings(env).secrets()):
        assert "Pr0xy-Passw0rd" not in SecretFilter(secrets).scrub(line)
    assert "Pr0xy-Passw0rd" not in repr(load_settings(env))
