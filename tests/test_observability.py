"""Metrics on /metrics (web and worker) and JSON logs that carry the job and correlation ids."""

from __future__ import annotations

import json
from collections.abc import Callable

import redis
import requests

from devkit.localrun import BotProcess, RedisServer, free_port
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim, completions, page_text, wait_until


def test_web_and_worker_expose_metrics_and_json_logs(
    slack: SlackClientSim,
    web: str,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    start_worker: Callable[..., BotProcess],
) -> None:
    stamp.backup_seconds = 1
    slack.start_backup()
    web_metrics = requests.get(f"{web}/metrics", timeout=5).text
    assert 'azs_commands_total{action="start-click",outcome="ok"}' in web_metrics
    assert "azs_jobs_in_flight 1.0" in web_metrics
    port = free_port()
    worker = start_worker(AZS_METRICS_PORT=str(port))
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=20)
    # The worker observes the report lag after Slack has taken the post: wait for the metric itself.
    worker_metrics = f"http://127.0.0.1:{port}/metrics"
    assert wait_until(lambda: "azs_report_lag_seconds_count 1.0" in page_text(worker_metrics), timeout=10)
    metrics = page_text(worker_metrics)
    assert 'azs_polls_total{result="done",strategy="async"}' in metrics
    assert "azs_report_lag_seconds_count 1.0" in metrics
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    ended = next(line for line in lines if "ended" in line["message"])
    assert ended["job_id"] and ended["backup_id"] in json.dumps(fake_slack.messages("CBACKUPS"))
    assert ended["correlation_id"] and ended["stamp"] == "sim-stamp"


def test_worker_healthz_is_ready_with_redis_and_unready_without(
    start_worker: Callable[..., BotProcess], redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    port = free_port()
    start_worker(AZS_METRICS_PORT=str(port))
    url = f"http://127.0.0.1:{port}/healthz"
    assert wait_until(lambda: _status(url) == 200, timeout=10)
    redis_server.stop()
    try:
        assert wait_until(lambda: _status(url) == 503, timeout=10)
        assert "redis" in requests.get(url, timeout=5).json()["problems"]
    finally:
        redis_server.start()
    assert redis_client.ping()
    assert wait_until(lambda: _status(url) == 200, timeout=10)


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0
