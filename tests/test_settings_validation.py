"""Settings that refuse nonsense: non-finite numbers, mrkdwn in names, ids that are not ids, leaked credentials,
and pairs of settings that contradict each other."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.settings import SettingsError, load_settings
from tests.harness import ROOT

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1-abcdef",
    "SLACK_SIGNING_SECRET": "s3cret-signing",
    "AZS_CLIENT_ID": "app",
    "AZS_ARM_ENDPOINT": "https://adminmanagement.local.azurestack.external",
    "AZS_CLIENT_SECRET": "p@ss-word-1",
}
NUMERIC = (
    "AZS_POLL_INTERVAL",
    "AZS_LEASE_SECONDS",
    "AZS_HTTP_TIMEOUT",
    "AZS_START_GRACE_SECONDS",
    "AZS_BACKUP_TIMEOUT",
    "AZS_WATCH_INTERVAL",
    "AZS_MAX_BACKUP_AGE_HOURS",
    "AZS_PROGRESS_INTERVAL",
)


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "infinity", "1e999", "-5", "0"])
def test_numbers_must_be_finite_and_positive(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({**BASE, name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("AZS_WORK_THREADS", "\u0662"), ("PORT", "\u0663000"), ("AZS_WORK_THREADS", "0"), ("AZS_METRICS_PORT", "-1")],
)
def test_whole_numbers_are_ascii_digits(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({**BASE, name: value})


@pytest.mark.parametrize("value", ["<!channel>", "east *bold*", "`x`", "<http://evil.example|login>", "a b", "x" * 64])
def test_stamp_names_cannot_carry_mrkdwn(value: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="AZS_STAMP_NAME"):
        load_settings({**BASE, "AZS_STAMP_NAME": value})
    stamps = tmp_path / "stamps.toml"
    stamps.write_text(
        f'[[stamp]]\nname = {json.dumps(value)}\narm_endpoint = "https://a.example"\n'
        'client_id = "app"\nclient_secret = "s3cret-east"\n'
    )
    with pytest.raises(SettingsError, match="name"):
        load_settings({**BASE, "AZS_STAMPS_FILE": str(stamps)})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AZS_OPERATORS", "<@U123>"),
        ("AZS_OPERATORS", "U123,@alice"),
        ("AZS_OPERATORS", "C123"),
        ("AZS_OPERATORS", "u123abc"),
        ("AZS_CHANNELS", "#general"),
        ("AZS_CHANNELS", "<#C123|general>"),
        ("AZS_CHANNELS", "U123"),
        ("AZS_OPERATOR_GROUP", "<!subteam^S123>"),
        ("AZS_OPERATOR_GROUP", "U123"),
        ("AZS_OPERATOR_GROUP", "S1,S2"),
    ],
)
def test_slack_ids_must_be_ids(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({**BASE, name: value})


def test_good_ids_are_kept() -> None:
    settings = load_settings(
        {**BASE, "AZS_OPERATORS": "U012AB3CD, W0123ABC", "AZS_CHANNELS": "C123,G456", "AZS_OPERATOR_GROUP": "S0614TZR7"}
    )
    assert settings.operators == {"U012AB3CD", "W0123ABC"} and settings.channels == {"C123", "G456"}
    assert settings.operator_group == "S0614TZR7"


@pytest.mark.parametrize(
    ("change", "both"),
    [
        ({"AZS_START_GRACE_SECONDS": "30"}, ("AZS_START_GRACE_SECONDS", "AZS_HTTP_TIMEOUT")),
        ({"AZS_START_GRACE_SECONDS": "20", "AZS_HTTP_TIMEOUT": "25"}, ("AZS_START_GRACE_SECONDS", "AZS_HTTP_TIMEOUT")),
        ({"AZS_LEASE_SECONDS": "65"}, ("AZS_LEASE_SECONDS", "AZS_HTTP_TIMEOUT")),
        ({"AZS_LEASE_SECONDS": "90", "AZS_HTTP_TIMEOUT": "45"}, ("AZS_LEASE_SECONDS", "AZS_HTTP_TIMEOUT")),
    ],
)
def test_cross_field_rules_name_both_settings(change: dict[str, str], both: tuple[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **change})
    assert all(name in str(caught.value) for name in both)


def test_cross_field_rules_hold_for_the_slowest_stamp_in_a_file(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps.toml"
    stamps.write_text(
        '[[stamp]]\nname = "east"\narm_endpoint = "https://a.example"\nclient_id = "a"\n'
        'client_secret = "s3cret-east"\n\n[[stamp]]\nname = "west"\narm_endpoint = "https://b.example"\n'
        'client_id = "a"\nclient_secret = "s3cret-west"\nhttp_timeout = 60\n'
    )
    with pytest.raises(SettingsError, match=r"AZS_LEASE_SECONDS.*AZS_HTTP_TIMEOUT"):
        load_settings({**BASE, "AZS_STAMPS_FILE": str(stamps)})
    assert load_settings({**BASE, "AZS_STAMPS_FILE": str(stamps), "AZS_LEASE_SECONDS": "126"}).lease_seconds == 126


def test_defaults_satisfy_every_rule() -> None:
    settings = load_settings(BASE)
    assert settings.start_grace > settings.stamp.timeout_seconds and settings.lease_seconds > 65


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "http://admin:hunter2-redis-pw@redis.internal:6379/0"),
        ("SLACK_API_URL", "https://admin:hunter2-redis-pw@slack.internal/"),
        ("AZS_ARM_ENDPOINT", "http://admin:hunter2-redis-pw@adminmanagement.local/?sig=hunter2-redis-pw"),
    ],
)
def test_a_config_error_never_echoes_credentials(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        load_settings({**BASE, name: value})
    assert "hunter2" not in str(caught.value)


def test_the_config_error_line_is_json_through_the_secret_filter() -> None:
    """The process reports a bad setting as one JSON log line, already scrubbed: no token, no URL password."""
    env = {
        "PATH": "/usr/bin:/bin",
        **BASE,
        "AZS_OPERATORS": "xoxb-1-abcdef",
        "REDIS_URL": "redis://:hunter2-redis-pw@redis.internal:6379/0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "worker"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    entry = json.loads(lines[0])
    assert entry["level"] == "error" and "AZS_OPERATORS" in entry["message"]
    assert "xoxb-1-abcdef" not in lines[0] and "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("host", "bound"),
    [
        ("[::1]", "::1"),
        ("::", "::"),
        ("127.0.0.1", "127.0.0.1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("bot.internal", "bot.internal"),
    ],
)
def test_host_takes_ipv6_literals(host: str, bound: str) -> None:
    assert load_settings({**BASE, "HOST": host}).host == bound


@pytest.mark.parametrize("host", ["bad host", "[::1", "http://x", "1.2.3.4:80"])
def test_host_refuses_what_cannot_be_bound(host: str) -> None:
    with pytest.raises(SettingsError, match=re.escape("HOST")):
        load_settings({**BASE, "HOST": host})


@pytest.mark.parametrize("name", ["AZS_ARM_ENDPOINT", "SLACK_API_URL", "REDIS_URL"])
@pytest.mark.parametrize("value", ["https://u:hunter2@[::1/api/", "https://h:port/api/", "redis://h:99999999999/0"])
def test_unparsable_urls_are_refused_not_crashed_on(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        load_settings({**BASE, name: value})
    assert "hunter2" not in str(caught.value)


VARIABLES = (
    "AZS_ARM_ENDPOINT",
    "SLACK_API_URL",
    "REDIS_URL",
    "HOST",
    "PORT",
    "AZS_METRICS_PORT",
    "AZS_OPERATORS",
    "AZS_CHANNELS",
    "AZS_OPERATOR_GROUP",
    "AZS_STAMP_NAME",
    "AZS_WORK_THREADS",
    *NUMERIC,
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(VARIABLES), value=st.text(max_size=40))
def test_any_value_is_accepted_or_refused_by_name_never_crashed_on(name: str, value: str) -> None:
    try:
        load_settings({**BASE, name: value})
    except SettingsError as exc:
        assert name in str(exc) or "AZS_" in str(exc)
