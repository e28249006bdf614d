"""Redis that survives losing a node: Sentinel URLs, replica acks on must-not-lose writes, a real failover."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.config.env import SettingsError
from bot.config.redis_url import parse_sentinel_url, redact_url
from bot.config.settings import load_settings
from bot.state.connection import NotReplicated, connect
from bot.state.job import Job
from bot.state.jobs import JobStore
from bot.state.keys import job_key
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import ROOT, BotProcess, RedisServer, SlackClientSim, completions, free_port, wait_until
from tests.sentinel_cluster import SentinelCluster

REDIS_DOWN = "job store (Redis) is not answering"


@pytest.fixture
def cluster() -> Iterator[SentinelCluster]:
    started = SentinelCluster()
    try:
        assert started.wait_ready(), "sentinels did not discover each other and the replica"
        yield started
    finally:
        started.stop()


def test_sentinel_url_forms_and_redaction() -> None:
    target = parse_sentinel_url("rediss+sentinel://bot:s3cr%40t@10.0.0.1:26379,[fd00::2]:26380,sentinel-3/azs-main/2")
    assert target.sentinels == (("10.0.0.1", 26379), ("fd00::2", 26380), ("sentinel-3", 26379))
    assert (target.master_name, target.db, target.username, target.password, target.tls) == (
        "azs-main",
        2,
        "bot",
        "s3cr@t",
        True,
    )
    assert parse_sentinel_url("redis+sentinel://h:1/m").db == 0
    assert redact_url("redis://:hunter22@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redact_url("redis+sentinel://bot:hunter22@a:1,b:2/m") == "redis+sentinel://bot:***@a:1,b:2/m"
    assert redact_url("redis://redis:6379/0") == "redis://redis:6379/0"


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://bot:hunter22@a:1,b:2",
        "redis+sentinel://bot:hunter22@a:x/m",
        "redis+sentinel://bot:hunter22@a:1/m/zero",
        "http://bot:hunter22@redis/0",
        "redis://bot:hunter22@redis:port/0",
    ],
)
def test_bad_redis_url_is_refused_without_its_password(url: str) -> None:
    env = {
        "REDIS_URL": url,
        "AZS_ARM_ENDPOINT": "https://adminmanagement.local.azurestack.external",
        "AZS_CLIENT_ID": "app",
        "AZS_CLIENT_SECRET": "secret-value",
        "SLACK_BOT_TOKEN": "xoxb-t",
        "SLACK_SIGNING_SECRET": "s",
    }
    with pytest.raises(SettingsError, match="REDIS_URL") as refused:
        load_settings(env)
    assert "hunter22" not in str(refused.value) and "***" in str(refused.value)


def test_a_process_refusing_its_redis_url_does_not_print_the_password(bot_env: dict[str, str]) -> None:
    env = {**bot_env, "REDIS_URL": "redis+sentinel://bot:hunter22pw@127.0.0.1:1/"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "worker"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "REDIS_URL" in result.stderr
    assert "hunter22pw" not in result.stderr + result.stdout


def test_settings_keep_the_redis_password_out_of_repr_and_in_the_log_scrubber() -> None:
    env = {
        "REDIS_URL": "rediss://default:hunter22@redis:6380/0",
        "AZS_CLIENT_SECRET": "secret-value",
        "AZS_ARM_ENDPOINT": "https://adminmanagement.local.azurestack.external",
        "AZS_CLIENT_ID": "app",
        "SLACK_BOT_TOKEN": "xoxb-t",
        "SLACK_SIGNING_SECRET": "s",
    }
    settings = load_settings(env)
    assert "hunter22" not in repr(settings)
    assert "hunter22" in settings.secrets()
    with pytest.raises(SettingsError, match="REDIS_CA_BUNDLE"):
        load_settings({**env, "REDIS_CA_BUNDLE": "/nonexistent/ca.pem"})


def test_must_not_lose_writes_wait_for_the_replica(cluster: SentinelCluster) -> None:
    store = JobStore(connect(cluster.url))
    job = Job(job_id=Job.new_id(), stamp="ack-stamp", requester="UOPER", channel="CBACKUPS")
    assert store.reserve(job, reconcile_after=300) is None
    replica = redis.Redis(port=cluster.replica_ports[0])
    assert replica.hget(job_key(job.job_id), "stamp") == b"ack-stamp"  # acked means already on the replica

    # A replica that stops acknowledging (here: frozen) turns the start into "Redis unavailable".
    frozen = cluster.servers[cluster.replica_ports[0]]
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        second = Job(job_id=Job.new_id(), stamp="other-stamp", requester="UOPER", channel="CBACKUPS")
        started = time.monotonic()
        with pytest.raises(NotReplicated):
            store.reserve(second, reconcile_after=300)
        assert time.monotonic() - started < 3, "the wait is bounded well inside Slack's 3 s"
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    # The refused start freed its stamp: the operator's next click is not told "already running".
    third = Job(job_id=Job.new_id(), stamp="other-stamp", requester="UOPER", channel="CBACKUPS")
    assert store.reserve(third, reconcile_after=300) is None


def test_without_replicas_nothing_waits(redis_client: redis.Redis, redis_server: RedisServer) -> None:
    store = JobStore(connect(redis_server.url))
    started = time.monotonic()
    for _ in range(5):
        job = Job(job_id=Job.new_id(), stamp=f"solo-{time.monotonic_ns()}", requester="UOPER", channel="C")
        assert store.reserve(job, reconcile_after=300) is None
    assert time.monotonic() - started < 1.0


def test_master_killed_mid_backup_fails_over_and_posts_once(
    cluster: SentinelCluster,
    start_web: Callable[..., tuple[BotProcess, SlackClientSim]],
    start_worker: Callable[..., BotProcess],
    stamp: StampSimulator,
    fake_slack: FakeSlack,
) -> None:
    """The issue's drill: kill the master while a backup runs; replies stay honest; one outcome."""
    env = {"REDIS_URL": cluster.url, "AZS_LEASE_SECONDS": "8", "AZS_HTTP_TIMEOUT": "1"}
    stamp.backup_seconds = 12
    _, slack = start_web(**env)
    start_worker(**env)
    backup_id = slack.start_backup()
    polls = stamp.count("GET", "operationResults")
    assert wait_until(lambda: stamp.count("GET", "operationResults") >= polls + 2, timeout=10), "worker not polling"

    old_master = cluster.kill_master()
    lost_at = time.monotonic()
    polls_at_loss = stamp.count("GET", "operationResults")
    answered_at: float | None = None
    unavailable = 0
    while answered_at is None and time.monotonic() - lost_at < 30:
        _, hook = slack.command("backup status")
        assert wait_until(lambda: bool(slack.replies(hook)), timeout=15), "a command got no answer at all"  # noqa: B023
        reply = json.dumps(slack.replies(hook)[-1])
        if REDIS_DOWN in reply:
            unavailable += 1
        else:
            assert backup_id in reply, reply
            answered_at = time.monotonic()
        time.sleep(0.1)
    assert answered_at is not None, "commands never answered normally after the failover"
    assert unavailable >= 1, "no command was refused while the master was gone"
    assert cluster.current_master() not in (None, old_master)

    assert wait_until(lambda: stamp.count("GET", "operationResults") > polls_at_loss, timeout=30)
    polling_at = time.monotonic()
    print(
        f"\nfailover: first successful command {answered_at - lost_at:.1f}s after the master's loss "
        f"({unavailable} commands answered 'Redis unavailable'); polling again after {polling_at - lost_at:.1f}s"
    )

    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=40), "the outcome was never posted"
    time.sleep(2)  # a second post would come within a poll or two
    outcomes = completions(fake_slack)
    assert len(outcomes) == 1 and backup_id in json.dumps(outcomes[0])


def test_rediss_is_checked_against_the_configured_ca() -> None:
    tls = SentinelCluster(replicas=0, sentinels=0, tls=True)
    try:
        url = f"rediss://127.0.0.1:{tls.master_port}/0"
        assert connect(url, ca_bundle=tls.ca_file).ping()
        with pytest.raises(redis.ConnectionError, match=r"(?i)certificate"):
            connect(url).ping()  # the system's CAs do not know this server
    finally:
        tls.stop()


def test_rediss_sentinel_reaches_sentinels_and_master_over_tls() -> None:
    tls = SentinelCluster(tls=True)
    try:
        assert tls.wait_ready(), "sentinels did not discover each other over TLS"
        store = JobStore(connect(tls.url, ca_bundle=tls.ca_file))
        job = Job(job_id=Job.new_id(), stamp="tls-stamp", requester="UOPER", channel="CBACKUPS")
        assert store.reserve(job, reconcile_after=300) is None
        assert tls.client(tls.replica_ports[0]).hget(job_key(job.job_id), "stamp") == b"tls-stamp"
        with pytest.raises(redis.ConnectionError):
            connect(tls.url).ping()
    finally:
        tls.stop()


def test_a_redis_that_hides_role_still_takes_starts(tmp_path: Path) -> None:
    """Managed Redis services and proxies may disable ROLE: the start must not fail on that."""
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
            "--rename-command",
            "ROLE",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = connect(f"redis://127.0.0.1:{port}/0")
        assert wait_until(lambda: _pings(client), timeout=10)
        with pytest.raises(redis.ResponseError):
            client.execute_command("ROLE")  # type: ignore[no-untyped-call]
        job = Job(job_id=Job.new_id(), stamp="proxied", requester="UOPER", channel="CBACKUPS")
        assert JobStore(client).reserve(job, reconcile_after=300) is None
    finally:
        server.kill()
        server.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.mark.parametrize("sentinels_need_password", [False, True])
def test_password_protected_master_with_or_without_protected_sentinels(sentinels_need_password: bool) -> None:
    protected = SentinelCluster(password="s3cret-pw", sentinels_need_password=sentinels_need_password)
    try:
        assert protected.wait_ready()
        assert "s3cret-pw" not in redact_url(protected.url)
        store = JobStore(connect(protected.url))
        job = Job(job_id=Job.new_id(), stamp="protected", requester="UOPER", channel="CBACKUPS")
        assert store.reserve(job, reconcile_after=300) is None
        with pytest.raises(redis.ConnectionError) as refused:  # by the master, or by sentinels that know it
            connect(protected.url.replace("s3cret-pw", "wrong-pw")).ping()
        assert "wrong-pw" not in str(refused.value)
    finally:
        protected.stop()


def test_every_redis_client_comes_from_the_factory() -> None:
    """Issue 17, finding 4: a client built by hand skips Sentinel, ``REDIS_CA_BUNDLE`` and the short timeouts."""
    makers = {"Redis", "StrictRedis", "from_url", "Sentinel", "ConnectionPool", "SentinelConnectionPool"}
    found = []
    for path in sorted([*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]):
        if path.relative_to(ROOT).as_posix() == "bot/state/connection.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in makers:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node.func)}()")
    assert not found, "use bot.state.connection.make_redis:\n" + "\n".join(found)
