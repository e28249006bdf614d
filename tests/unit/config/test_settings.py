"""Settings that refuse nonsense: non-finite numbers, numbers past what a person would set, mrkdwn in names, ids
that are not ids, leaked credentials, a bot token sent in clear text, and pairs of settings that contradict each
other. Issue 17, finding 5: ``AZS_JOB_RETENTION_DAYS=1e306`` was accepted and a refused start then overflowed
inside its transaction, leaving the stamp locked; ``AZS_OPERATOR_GROUP_MAX_AGE=1e300`` trusted a stale operator
group for ever; ``SLACK_API_URL=http://...`` sent the bot token in clear text to any host."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.config.env import SettingsError
from bot.config.limits import LIMITS
from bot.config.settings import Settings, load_settings
from bot.ops.probes import Heartbeat
from bot.slack.client import make_web_client
from bot.state.connection import connect
from bot.state.job import Job
from bot.state.jobs import JobStore
from bot.state.keys import job_key, stamp_lock_key
from bot.worker.next_step import Failed, Policy, Reschedule, decide
from tests.harness import ROOT, RedisServer

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


def test_the_time_zone_is_an_iana_name_utc_by_default() -> None:
    assert load_settings(BASE).timezone == "UTC"
    assert load_settings({**BASE, "AZS_TIMEZONE": "Europe/Berlin"}).timezone == "Europe/Berlin"
    for bad in ("Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/Berlin\n"):
        with pytest.raises(SettingsError, match="AZS_TIMEZONE"):
            load_settings({**BASE, "AZS_TIMEZONE": bad + "x" if bad.endswith("\n") else bad})


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
    *LIMITS,
)
ROOM = {"AZS_START_GRACE_SECONDS": "86400", "AZS_LEASE_SECONDS": "86400"}
"""Room for the largest AZS_HTTP_TIMEOUT: the grace and the lease must be above it (the cross-field rules)."""


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_every_number_has_a_maximum_refused_by_name_with_the_range(name: str) -> None:
    limit = LIMITS[name]
    top = f"{limit.high:g}" if not limit.whole else str(int(limit.high))
    accepted = load_settings({**BASE, **ROOM, name: top})
    assert accepted is not None
    over = str(int(limit.high) + 1) if limit.whole else f"{limit.high * 1.001:g}"
    for value in (over, "1e306", "9" * 5000):
        with pytest.raises(SettingsError) as caught:
            load_settings({**BASE, **ROOM, name: value})
        said = str(caught.value)
        assert said.startswith(name) and f"{limit.low:g} to {limit.high:g}" in said, said
        assert len(said) < 300, said  # a 5,000-digit value is not echoed whole


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AZS_JOB_RETENTION_DAYS", "1e306"),
        ("AZS_JOB_RETENTION_DAYS", "3651"),
        ("AZS_OPERATOR_GROUP_MAX_AGE", "1e300"),
        ("AZS_OPERATOR_GROUP_MAX_AGE", "86401"),
        ("AZS_WORK_THREADS", "65"),
        ("AZS_LEASE_SECONDS", "86401"),
        ("AZS_HTTP_TIMEOUT", "601"),
        ("PORT", "9" * 5000),
    ],
)
def test_the_reported_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}"):
        load_settings({**BASE, name: value})


@pytest.mark.parametrize(
    "url",
    [
        "http://slack.example.com/api/",
        "http://10.0.0.5:8080/api/",
        "http://localhost.evil.example/api/",
        "http://127.0.0.1.evil.example/api/",
        "http://127.0.0.1@evil.example/api/",
        "http://evil.example\\@127.0.0.1/api/",
        "https://slack.example.com\\@127.0.0.1/api/",
        "https://user:pw@slack.example.com/api/",
        "https://slack.example.com /api/",
        "http:///api/",
    ],
)
def test_the_bot_token_never_goes_out_in_clear_text(url: str) -> None:
    with pytest.raises(SettingsError, match="SLACK_API_URL") as caught:
        load_settings({**BASE, "SLACK_API_URL": url})
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://slack.com/api/",
        "https://slack.example.com:8443/api/",
        "http://127.0.0.1:8080/api/",
        "http://127.9.8.7/api/",
        "http://[::1]:8080/api/",
        "http://localhost:8080/api/",
        "http://LOCALHOST/api/",
    ],
)
def test_https_anywhere_and_http_on_this_machine_are_accepted(url: str) -> None:
    assert load_settings({**BASE, "SLACK_API_URL": url}).slack_api_url == url


def exercise(config: Settings, client: redis.Redis) -> None:
    """What the processes build from ``config`` and the arithmetic its numbers feed, against a real Redis:
    job retention (a refused start expires its job inside the transaction that frees the stamp), lease
    milliseconds, the next poll after a throttled or failed poll, the worker's liveness age, the Slack client."""
    store = JobStore(client, retention_seconds=config.job_retention_days * 86_400)
    refused = Job(job_id=Job.new_id(), stamp="prop-stamp", requester="U1", channel="C1")
    assert store.reserve(refused, reconcile_after=config.start_grace) is None
    store.mark_start_failed(refused, "the stamp refused it")
    assert client.get(stamp_lock_key(refused.stamp)) is None, "a refused start left its stamp locked"
    assert int(client.ttl(job_key(refused.job_id))) > 0
    running = Job(job_id=Job.new_id(), stamp="prop-stamp", requester="U1", channel="C1")
    assert store.reserve(running, reconcile_after=config.start_grace) is None
    claim = store.claim(running.job_id, ttl=config.lease_seconds)
    assert claim is not None and store.renew(claim, ttl=config.lease_seconds)
    policy = Policy(
        config.poll_interval, config.max_retry_after, config.backup_timeout, config.max_permanent_failures, 300.0
    )
    now = time.time()
    for failed in (Failed("429", status=429, retry_after=1e12), Failed("500", status=500)):
        step = decide(claim.job, failed, now, policy)
        assert isinstance(step, Reschedule) and now <= step.due_at <= now + max(config.max_retry_after, 300.0)
        assert store.reschedule(claim, due_at=step.due_at, poll_failures=step.poll_failures)
        claim = store.claim(running.job_id, ttl=config.lease_seconds)
        assert claim is not None
    assert store.close(claim) and int(client.ttl(job_key(running.job_id))) > 0
    Heartbeat(max_age=max(60.0, 2 * config.lease_seconds))
    make_web_client(config)


values = st.one_of(
    st.text(max_size=60),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["1e306", "1e300", "-0", "0.0", "1e-300", "1_000", " 5 ", "0x10", "9" * 5000, "\u0663"]),
)
"""Any text, plus numbers near and far past every limit, written the ways people write numbers."""


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=st.sampled_from(VARIABLES), value=values)
@example(name="AZS_JOB_RETENTION_DAYS", value="1e306")  # the reported one: OverflowError, stamp left locked
@example(name="AZS_LEASE_SECONDS", value="1e300")
@example(name="PORT", value="9" * 5000)
def test_any_value_is_accepted_or_refused_by_name_and_what_is_accepted_works(
    redis_server: RedisServer, name: str, value: str
) -> None:
    try:
        config = load_settings({**BASE, name: value})
    except SettingsError as exc:
        assert name in str(exc), f"{name}={value[:60]!r} refused without naming it: {exc}"
        return
    client = connect(redis_server.url)
    try:
        exercise(config, client)
    finally:
        client.close()


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_the_settings_tables_give_each_numbers_maximum(name: str) -> None:
    """The settings an install sets are in the README's table, the tuning ones in docs/settings.md."""
    tables = (ROOT / "README.md", ROOT / "docs" / "settings.md")
    rows = [line for path in tables for line in path.read_text().splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"README.md or docs/settings.md needs one row for {name}"
    assert f"{LIMITS[name].high:g}" in rows[0], f"the row for {name} does not give its maximum"
