"""The README's first command: the demo runs the whole product and reports a backup, ends with a report and a
digest whose files it keeps and prints, and stays sealed.

Finding 6 of issue 11: run on a production host, the demo used ``REDIS_URL`` and marked a real finished
job as notified. Here the environment points at a "production" Redis holding such a job, plus Slack and
stamp settings; the demo must run on its own and leave that Redis exactly as it was, never connected to.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.config.limits import LIMITS
from bot.state.job import Job, JobState
from bot.state.keys import active_jobs_key, due_key, job_key, stamp_lock_key
from devkit.demo import TUNING, tuning_setting
from devkit.localrun import RedisServer
from tests.harness import ROOT


@pytest.fixture
def production() -> Iterator[redis.Redis]:
    server = RedisServer()
    server.start()
    client = redis.Redis.from_url(server.url)
    job = Job(
        job_id="prodjob1",
        stamp="demo-stamp",
        requester="UREAL",
        channel="CPROD",
        state=JobState.FINISHED,
        backup_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        started_at=time.time() - 60,
        finished_at=time.time(),
    )
    client.hset(job_key(job.job_id), mapping=job.to_mapping())
    client.sadd(active_jobs_key(), job.job_id)
    client.zadd(due_key(), {job.job_id: time.time()})
    client.set(stamp_lock_key("demo-stamp"), job.job_id)
    yield client
    client.close()
    server.stop()


def snapshot(client: redis.Redis) -> tuple[dict[Any, Any], int]:
    """Every key's serialised value, and how many connections the server has ever accepted (this one included)."""
    values = {key: client.dump(key) for key in client.keys("*")}
    return values, int(client.info("stats")["total_connections_received"])


def test_demo_reports_a_backup_and_leaves_a_production_redis_untouched(production: redis.Redis) -> None:
    before, connections = snapshot(production)
    url = str(production.connection_pool.connection_kwargs["port"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZS_", "SLACK_", "REDIS_URL"))}
    env.update(
        {
            "REDIS_URL": f"redis://127.0.0.1:{url}/0",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "SLACK_BOT_TOKEN": "xoxb-production-looking",
            "AZS_STAMP_NAME": "demo-stamp",
            "AZS_OPERATORS": "UREAL",
            "AZS_ARM_ENDPOINT": "https://127.0.0.1:9",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--backup-seconds", "2", "--set", "AZS_PROGRESS_INTERVAL=5"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    kept = re.search(r"kept in (\S+)\):", result.stdout)
    if kept:  # the demo's own directory of files, kept for the operator: checked, then removed
        check_kept_files(Path(kept.group(1)), result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert kept, result.stdout
    out = result.stdout
    for expected in (
        "/azs backup",
        "[ Start backup ]",
        "started infrastructure backup",
        "succeeded.",
        "21m 15s",
        "Reported",
        "Scheduled backup",
        "failed.",
        "Failed roles",
        "spawned redis-server",
        "/azs backup report",
        "Backup report for",
        "RPO compliance",
        "Backup digest",
    ):
        assert expected in out
    production.connection_pool.disconnect()
    after, connections_after = snapshot(production)
    assert after == before
    assert connections_after == connections + 1  # only this test's own second look


def check_kept_files(folder: Path, out: str) -> None:
    """The report's CSV and chart and the digest are in the demo's directory, each printed with its SHA-256."""
    try:
        assert folder.name.startswith("azs-demo-files-") and folder.parent == Path(tempfile.gettempdir())
        names = sorted(p.name for p in folder.iterdir())
        assert len(names) == 3 and "digest.txt" in names, names
        assert any(n.startswith("azs-backup-report-") and n.endswith(".csv") for n in names), names
        assert any(n.endswith(".png") for n in names), names
        for path in folder.iterdir():
            assert f"{path}  SHA-256 {hashlib.sha256(path.read_bytes()).hexdigest()}" in out
        assert "Backup digest" in (folder / "digest.txt").read_text()
        assert (folder / next(n for n in names if n.endswith(".csv"))).read_bytes().startswith(b"\xef\xbb\xbf")
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    "setting",
    [
        "AZS_STAMPS_FILE=prod.toml",
        "AZS_ARM_ENDPOINT=https://adminmanagement.prod.contoso.com",
        "AZS_CLIENT_SECRET=s3cret",
        "AZS_CA_BUNDLE=/etc/azs/prod-root.pem",
        "AZS_OPERATORS=UREAL",
        "AZS_CHANNELS=CPROD",
        "AZS_STAMP_NAME=prod-east",
        "AZS_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000000",
        "AZS_API_VERSION=2021-09-01",
        "AZS_METRICS_PORT=9102",
        "AZS_NO_SUCH_SETTING=1",
    ],
)
def test_demo_set_takes_tuning_settings_only(setting: str, tmp_path: Path) -> None:
    """Issue 17, finding 7: ``--set AZS_STAMPS_FILE=prod.toml`` loaded the production stamps into the sealed demo.
    It is refused before anything starts, and the refusal says which settings may be set."""
    (tmp_path / "prod.toml").write_text(
        '[[stamp]]\nname = "prod-east"\narm_endpoint = "https://127.0.0.1:9"\nclient_id = "app"\nclient_secret = "s"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--set", setting],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Stamp simulator" not in result.stdout and "redis-server" not in result.stdout  # nothing started
    name = setting.partition("=")[0]
    assert name in result.stderr and "AZS_POLL_INTERVAL" in result.stderr and "AZS_LEASE_SECONDS" in result.stderr


def test_every_tuning_setting_the_demo_takes_is_a_bounded_number() -> None:
    """The allow-list names real settings, each with a range (so a value the bot refuses is refused at start)."""
    assert TUNING and set(TUNING) <= set(LIMITS)
    assert tuning_setting("AZS_POLL_INTERVAL=2") == ("AZS_POLL_INTERVAL", "2")
