"""Metrics on /metrics (every process, on its metrics port only) and JSON logs carrying job and correlation ids."""

from __future__ import annotations

import json
from collections.abc import Callable

import redis
import requests

from devkit.localrun import BotProcess, RedisServer, free_port
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim, completions, page_text, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]


def test_web_and_worker_expose_metrics_and_json_logs(
    start_web: StartWeb,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    start_worker: Callable[..., BotProcess],
) -> None:
    stamp.backup_seconds = 1
    web_port = free_port()
    _, slack = start_web(AZS_METRICS_PORT=str(web_port))
    slack.start_backup()
    web_metrics = requests.get(f"http://127.0.0.1:{web_port}/metrics", timeout=5).text
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


def test_web_metrics_are_not_on_the_public_port_and_healthz_is_on_both(
    start_web: StartWeb, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """``/metrics`` names the stamps: only the metrics port (not Slack's) serves it; probes may use either."""
    port = free_port()
    _, slack = start_web(AZS_METRICS_PORT=str(port))
    metrics_base = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: _status(f"{metrics_base}/healthz") == 200, timeout=10)
    assert requests.get(f"{slack.base_url}/metrics", timeout=5).status_code == 404
    assert "azs_commands_total" not in requests.get(f"{slack.base_url}/metrics", timeout=5).text
    assert "azs_jobs_in_flight" in requests.get(f"{metrics_base}/metrics", timeout=5).text
    assert _status(f"{slack.base_url}/healthz") == 200
    redis_server.stop()
    try:
        for url in (f"{slack.base_url}/healthz", f"{metrics_base}/healthz"):
            assert wait_until(lambda: _status(url) == 503, timeout=10), url  # noqa: B023
            assert "redis" in requests.get(url, timeout=5).json()["problems"]
    finally:
        redis_server.start()
    assert redis_client.ping()  # back, but empty: both ports now report the lost data, not a silent Redis
    for url in (f"{slack.base_url}/healthz", f"{metrics_base}/healthz"):
        assert wait_until(lambda: "redis-data" in _problems(url), timeout=10), url  # noqa: B023
        assert "redis" not in _problems(url)


def _problems(url: str) -> dict[str, str]:
    try:
        problems: dict[str, str] = requests.get(url, timeout=2).json().get("problems", {})
        return problems
    except requests.RequestException:
        return {}


def test_worker_healthz_is_ready_with_redis_and_unready_without(
    start_worker: Callable[..., BotProcess], redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """Without Redis the worker cannot take work (unready) but its loop turns (live: no restart)."""
    port = free_port()
    start_worker(AZS_METRICS_PORT=str(port))
    url, ready, live = (f"http://127.0.0.1:{port}/{path}" for path in ("healthz", "readyz", "livez"))
    assert wait_until(lambda: _status(url) == 200 and _status(ready) == 200, timeout=10)
    redis_server.stop()
    try:
        assert wait_until(lambda: _status(url) == 503 and _status(ready) == 503, timeout=10)
        assert "redis" in requests.get(url, timeout=5).json()["problems"]
        assert _status(live) == 200
    finally:
        redis_server.start()
    assert redis_client.ping()
    assert wait_until(lambda: _status(url) == 200, timeout=10)


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0
