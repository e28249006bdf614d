"""Acknowledged work is durable and fair: a killed web process's clicks are finished elsewhere, a slow stamp
delays only its own replies, a full lane says "busy", and a Redis outage is two log lines."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.serve.lanes import AfterAckPool
from devkit.localrun import BotProcess, RedisServer, write_stamps_file
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim, frozen, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]
StartWorker = Callable[..., BotProcess]


@pytest.fixture(scope="module")
def fast_stamp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StampSimulator]:
    simulator = StampSimulator(backup_seconds=1.0, retry_after=0, state_dir=str(tmp_path_factory.mktemp("fast")))
    simulator.start()
    yield simulator
    simulator.stop()


def final(slack: SlackClientSim, hook: str) -> str:
    """The last reply to a request, once it is more than the "Starting..." placeholder ("" until then)."""
    replies = [json.dumps(r) for r in slack.replies(hook)]
    return replies[-1] if replies and "Starting a backup" not in replies[-1] else ""


def test_clicks_and_commands_acked_by_a_killed_web_process_are_answered_by_another(
    start_web: StartWeb, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    first, slack = start_web()
    stamp.inject(Fault(status=0, delay=2.0, times=6))  # every stamp call is slow: the work queues up
    creates = stamp.count("POST", "createBackup")
    acks = [slack.click(), slack.command("backup list"), slack.command("backup config")]
    assert all(response.status_code == 200 for response, _ in acks)
    time.sleep(0.5)
    first.kill()  # three acknowledged requests, none answered yet
    assert not any(final(slack, hook) for _, hook in acks)
    stamp.clear_faults()
    start_web()
    hooks = [hook for _, hook in acks]
    assert wait_until(lambda: all(final(slack, h) for h in hooks), timeout=30), [slack.replies(h) for h in hooks]
    assert "started infrastructure backup" in final(slack, hooks[0])
    assert "Latest backups" in final(slack, hooks[1]) and "Backup configuration" in final(slack, hooks[2])
    assert stamp.count("POST", "createBackup") == creates + 1


def test_slow_stamp_delays_only_its_own_replies(
    start_web: StartWeb, stamp: StampSimulator, fast_stamp: StampSimulator, tmp_path: Path
) -> None:
    _, slack = start_web(
        AZS_STAMPS_FILE=write_stamps_file(tmp_path / "stamps.toml", {"slow": stamp, "fast": fast_stamp})
    )
    _, warm = slack.command("backup fast list")  # log in to both before timing anything
    _, warm_slow = slack.command("backup slow list")
    slack.wait_reply(warm, "Latest backups", timeout=15)
    slack.wait_reply(warm_slow, "Latest backups", timeout=15)
    stamp.inject(Fault(status=0, delay=6.0, times=3))
    for _ in range(3):
        slack.command("backup slow cancel")
    time.sleep(0.3)
    asked = time.monotonic()
    _, hook = slack.command("backup fast list")
    slack.wait_reply(hook, "Latest backups on fast", timeout=10)
    assert time.monotonic() - asked < 4.0


def test_a_full_lane_answers_busy_at_once(start_web: StartWeb, stamp: StampSimulator) -> None:
    _, slack = start_web(AZS_WORK_THREADS="1")
    stamp.inject(Fault(status=0, delay=3.0, times=40))
    # cancel reads the stamp live (list and the other reads answer from the snapshot, in a lane never full)
    hooks = [slack.command("backup cancel")[1] for _ in range(19)]  # 1 running + 16 queued fit; 2 do not
    assert wait_until(lambda: sum("busy" in final(slack, h) for h in hooks) == 2, timeout=5)
    stamp.clear_faults()


def test_a_refusal_waits_for_the_acks_in_flight() -> None:
    """A full lane's "busy" reply is work like any other: sent at once, a burst's refusals slowed its acks."""
    pool = AfterAckPool(threads=1, max_wait=5.0, queue_limit=0)
    release, refused = threading.Event(), threading.Event()
    try:
        assert pool.submit(release.wait, "a")  # the lane's only place is taken
        with pool.request():  # an ack in flight
            assert not pool.submit(lambda: None, "a", if_full=refused.set)
            assert not refused.wait(0.5)
        assert refused.wait(2.0)
    finally:
        release.set()


def test_redis_outage_is_one_line_when_it_goes_and_one_when_it_returns(
    start_web: StartWeb, start_worker: StartWorker
) -> None:
    persistent = RedisServer(persistent=True)
    persistent.start()
    try:
        web, _ = start_web(REDIS_URL=persistent.url)
        worker = start_worker(REDIS_URL=persistent.url)
        assert wait_until(lambda: "worker polling" in worker.log(), timeout=10)
        persistent.stop()
        time.sleep(6)
        persistent.start()
        for process in (web, worker):
            assert wait_until(lambda: "redis is back after" in process.log(), timeout=15), process.log()  # noqa: B023
            log = process.log()
            assert log.count("redis unavailable") == 1 and log.count("redis is back after") == 1, log
            assert "Traceback" not in log
    finally:
        persistent.stop()


def test_frozen_web_process_does_not_answer_twice(start_web: StartWeb, stamp: StampSimulator) -> None:
    first, slack = start_web()
    stamp.inject(Fault(status=0, delay=1.5, times=1))
    _, hook = slack.command("backup list")
    assert wait_until(lambda: stamp.state()["pending_faults"] == 0)  # its stamp read has begun, and is slow
    with frozen(first):  # frozen with the command in hand, past its hold on it
        start_web()
        assert wait_until(lambda: bool(final(slack, hook)), timeout=30)
    assert len(slack.replies(hook)) == 1


def test_frozen_web_process_does_not_start_a_click_another_one_took_over(
    start_web: StartWeb, start_worker: StartWorker, stamp: StampSimulator, fake_slack: FakeSlack
) -> None:
    first, slack = start_web()
    stamp.backup_seconds = 1
    creates = stamp.count("POST", "createBackup")
    stamp.inject(Fault(status=0, delay=1.5, times=1))  # its first stamp read is slow
    _, hook = slack.click()
    assert wait_until(lambda: stamp.state()["pending_faults"] == 0)  # inside its slow first stamp read
    # Frozen before createBackup, past its hold on the click. Woken once the stamp is free again: only the
    # click's job id stops a second start.
    with frozen(first, settle=4.0):
        start_web()
        start_worker()
        assert wait_until(lambda: "started infrastructure backup" in json.dumps(slack.replies(hook)), timeout=30)
        assert wait_until(
            lambda: (
                bool(fake_slack.messages("CBACKUPS"))
                and all("Succeeded" in m["text"] for m in fake_slack.messages("CBACKUPS") if not m.get("thread_ts"))
            ),
            timeout=30,
        )
    assert stamp.count("POST", "createBackup") == creates + 1
