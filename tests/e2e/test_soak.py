"""Soak: at least 50 backups on 5 stamps through two web processes and two workers while processes are
killed and frozen past their lease, Redis restarts (AOF), Slack throttles in bursts and stamps answer 5xx.

Asserts 0 lost (every backup a stamp started has an outcome in the channel), 0 duplicated (no job has
two outcomes or two announcements) and 0 unanswered (every acknowledged click gets a final reply).
Run it alone with ``pytest -m soak``; it takes about two minutes on 2 cores.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.words.posts import ANNOUNCE_EVENT, REPORT_EVENT
from devkit.localrun import BotProcess, RedisServer, launch_web, write_stamps_file
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack, SlackFault
from tests.conftest import SIGNING_SECRET
from tests.harness import SlackClientSim, wait_until

BACKUPS = 50
STAMPS = 5
CHANNEL = "CSOAK"
LEASE = 8.0
"""The shortest lease the settings allow with the stamps' 1 s timeout (lease above the longest poll)."""
FINAL_REPLY_TIMEOUT = 60.0
SOAK_DEADLINE = 300.0
pytestmark = [pytest.mark.soak, pytest.mark.timeout(SOAK_DEADLINE + 240)]
ROUNDS = 2
FAULTS = (
    "kill-worker",
    "freeze-worker",
    "slack-429",
    "stamp-5xx",
    "kill-web",
    "redis-restart",
    "freeze-web",
    "stall-after-post",
    "kill-after-post",
)


@dataclass
class Cluster:
    """The bot's processes, replaced as the chaos kills them."""

    env: dict[str, str]
    log_dir: Path
    fake: FakeSlack
    webs: list[tuple[BotProcess, SlackClientSim] | None] = field(default_factory=list)
    workers: list[BotProcess] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start_web(self, slot: int) -> None:
        process, base = launch_web(self.env, self.log_dir)
        with self.lock:
            self.webs[slot] = (process, SlackClientSim(base, SIGNING_SECRET, self.fake))

    def live_webs(self) -> list[SlackClientSim]:
        with self.lock:
            return [w[1] for w in self.webs if w is not None]

    def stop_all(self) -> None:
        for web in self.webs:
            if web is not None:
                web[0].kill()
        for worker in self.workers:
            worker.kill()


@pytest.fixture
def soak_stamps(sim: StampSimulator) -> Iterator[dict[str, StampSimulator]]:
    sims = {
        f"soak{i}": StampSimulator(state_dir=sim.state_dir, backup_seconds=1.0, retry_after=0) for i in range(STAMPS)
    }
    for one in sims.values():
        one.start()
    yield sims
    for one in sims.values():
        one.stop()


def new_backups(sims: dict[str, StampSimulator], before: dict[str, set[str]]) -> dict[str, list[str]]:
    return {name: [b["id"] for b in s.state()["backups"] if b["id"] not in before[name]] for name, s in sims.items()}


def marked(fake: FakeSlack, event_type: str) -> list[dict[str, Any]]:
    return [
        m["metadata"]["event_payload"]
        for m in fake.messages(CHANNEL)
        if (m.get("metadata") or {}).get("event_type") == event_type
    ]


def final_reply(slack: SlackClientSim, hook: str) -> str:
    replies = [json.dumps(p.payload) for p in slack.fake.hook_posts(hook)]
    return replies[-1] if replies and "Starting a backup" not in replies[-1] else ""


def test_soak_nothing_lost_nothing_doubled_nothing_unanswered(
    bot_env: dict[str, str], fake_slack: FakeSlack, soak_stamps: dict[str, StampSimulator], tmp_path: Path
) -> None:
    redis_server = RedisServer(persistent=True)
    redis_server.start()
    before = {name: {b["id"] for b in s.state()["backups"]} for name, s in soak_stamps.items()}
    env = {
        **bot_env,
        "REDIS_URL": redis_server.url,
        "AZS_STAMPS_FILE": write_stamps_file(tmp_path / "s.toml", soak_stamps, http_timeout=1),
        "AZS_LEASE_SECONDS": str(LEASE),
        "AZS_START_GRACE_SECONDS": "3",
        "AZS_POLL_INTERVAL": "0.2",
        # One operator clicks Start again at once after each answer, on every stamp: far past a person's pace.
        "AZS_USER_COMMANDS_PER_MINUTE": "10000",
    }
    cluster = Cluster(env, tmp_path, fake_slack, webs=[None, None])
    stop = threading.Event()
    unanswered: list[str] = []
    acked: list[str] = []
    try:
        cluster.start_web(0)
        cluster.start_web(1)
        cluster.workers = [BotProcess("worker", env, tmp_path), BotProcess("worker", env, tmp_path)]

        injected: Counter[str] = Counter()
        answers: Counter[str] = Counter()

        def done() -> bool:
            """Enough backups, and every fault at least twice."""
            enough = sum(map(len, new_backups(soak_stamps, before).values())) >= BACKUPS
            return stop.is_set() or (enough and all(injected[f] >= ROUNDS for f in FAULTS))

        def drive(stamp: str) -> None:
            """One operator per stamp: click Start, wait for the answer and then for the outcome, again."""
            while not done():
                webs = cluster.live_webs()
                if not webs:
                    time.sleep(0.2)
                    continue
                slack = random.choice(webs)
                try:
                    response, hook = slack.click(channel=CHANNEL, value=stamp)
                except requests.RequestException:
                    time.sleep(0.2)
                    continue  # no ack: Slack would have shown the user an error
                if response.status_code != 200:
                    continue
                acked.append(hook)
                if not wait_until(lambda: bool(final_reply(slack, hook)), timeout=FINAL_REPLY_TIMEOUT):  # noqa: B023
                    unanswered.append(hook)
                    continue
                answer = final_reply(slack, hook)
                answers[f"{stamp} {answer[30:110]}"] += 1
                if "started infrastructure backup" in answer:
                    backup_id = answer.split("backup `", 1)[1].split("`", 1)[0]
                    began = time.monotonic()
                    wait_until(
                        lambda: any(
                            p.get("backup_id") == backup_id  # noqa: B023
                            for p in marked(fake_slack, REPORT_EVENT)
                        ),
                        timeout=90,
                    )
                    answers[f"{stamp} waited {time.monotonic() - began:.0f}s for the outcome"] += 1
                else:
                    time.sleep(1.0)  # already running, busy, Redis down, start uncertain: ask again later

        def chaos() -> None:
            """Each fault in turn, ROUNDS times, then at random, every 0.5-1.5 s."""
            rng = random.Random(10)
            turn = 0
            while not done():
                fault = FAULTS[turn % len(FAULTS)] if turn < ROUNDS * len(FAULTS) else rng.choice(FAULTS)
                turn += 1
                injected[fault] += 1
                if fault == "kill-worker":
                    index = rng.randrange(2)
                    cluster.workers[index].kill()
                    cluster.workers[index] = BotProcess("worker", env, tmp_path)
                elif fault == "freeze-worker":
                    worker = cluster.workers[rng.randrange(2)]
                    worker.signal(signal.SIGSTOP)
                    stop.wait(LEASE + 1.0)
                    worker.signal(signal.SIGCONT)
                elif fault == "slack-429":
                    fake_slack.inject(SlackFault(method="chat.postMessage", status=429, retry_after=1, times=5))
                elif fault == "stamp-5xx":
                    rng.choice(list(soak_stamps.values())).inject(Fault(status=503, times=2))
                elif fault == "kill-web":
                    slot = rng.randrange(2)
                    with cluster.lock:
                        web, cluster.webs[slot] = cluster.webs[slot], None
                    if web is not None:
                        web[0].kill()
                    cluster.start_web(slot)
                elif fault == "redis-restart":
                    redis_server.stop()
                    stop.wait(1.5)
                    redis_server.start()
                elif fault == "stall-after-post":  # Slack takes the next post, its sender hears back after its lease
                    fake_slack.inject(SlackFault(method="chat.postMessage", delay_after=LEASE + 1.0))
                elif fault == "kill-after-post":  # Slack takes the next post; every worker dies before hearing back
                    taken = SlackFault(method="chat.postMessage", delay_after=2.0)
                    fake_slack.inject(taken)
                    wait_until(lambda: taken.times == 0 or stop.is_set(), timeout=30)  # noqa: B023
                    for index, worker in enumerate(cluster.workers):
                        worker.kill()
                        cluster.workers[index] = BotProcess("worker", env, tmp_path)
                elif fault == "freeze-web":  # past its hold on the clicks it acked: another web takes them
                    with cluster.lock:
                        frozen = cluster.webs[rng.randrange(2)]
                    if frozen is not None:
                        frozen[0].signal(signal.SIGSTOP)
                        stop.wait(12.0)
                        frozen[0].signal(signal.SIGCONT)
                stop.wait(rng.uniform(0.5, 1.5))

        drivers = [threading.Thread(target=drive, args=(name,), daemon=True) for name in soak_stamps]
        chaos_thread = threading.Thread(target=chaos, daemon=True)
        for thread in [*drivers, chaos_thread]:
            thread.start()
        deadline = time.monotonic() + SOAK_DEADLINE
        while not done() and time.monotonic() < deadline:
            time.sleep(0.5)
        stop.set()
        chaos_thread.join(timeout=60)
        for thread in drivers:
            thread.join(timeout=FINAL_REPLY_TIMEOUT + 100)
        created = new_backups(soak_stamps, before)
        started = [b for ids in created.values() for b in ids]
        assert len(started) >= BACKUPS, f"only {len(started)} backups in {SOAK_DEADLINE:.0f} s: {answers} {injected}"

        def all_reported() -> bool:
            reported = {p.get("backup_id") for p in marked(fake_slack, REPORT_EVENT)}
            return all(b in reported for b in started)

        wait_until(all_reported, timeout=90)
        time.sleep(2 * LEASE)  # any late duplicate would show up now
        reports = marked(fake_slack, REPORT_EVENT)
        per_backup = Counter(p.get("backup_id") for p in reports)
        lost = [b for b in started if per_backup[b] == 0]
        doubled_reports = [j for j, n in Counter(p.get("job_id") for p in reports).items() if n > 1]
        doubled_announcements = [
            j for j, n in Counter(p.get("job_id") for p in marked(fake_slack, ANNOUNCE_EVENT)).items() if n > 1
        ]
        print(f"soak: {len(started)} backups, {len(acked)} acked clicks, {len(reports)} reports, faults {injected}")
        assert set(injected) == set(FAULTS)
        assert lost == [], f"{len(lost)} backups never reported: {lost}"
        assert doubled_reports == [] and doubled_announcements == [], (doubled_reports, doubled_announcements)
        assert unanswered == [], f"{len(unanswered)} acknowledged clicks never answered"
    finally:
        stop.set()
        cluster.stop_all()
        redis_server.stop()
