"""The bot against recorded real traffic: every recorded ``createBackup`` session, and variants of it.

Each test starts a backup the way the Slack button does (the Start click through the pipeline), then runs the real
worker (stamp client, MSAL token flow, Redis job store, Slack renderer and the fake Slack Web API)
against :class:`tests.replay.ReplayStamp`. Recorded ``Retry-After`` waits are skipped through the
one clock the start and the worker share, so the 60 s and 30 s cadence is checked without sleeping.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.app import build_parts, worker_loop
from bot.commands.request import Command
from bot.commands.table import Action
from bot.config.settings import load_settings
from bot.config.stamps import load_stamp
from bot.model.backup import Backup
from bot.stamp.arm import ArmClient
from bot.stamp.errors import StampError
from bot.state.job import Job, JobState
from bot.state.jobs import JobStore
from bot.words.backups import time_taken
from bot.words.mrkdwn import when
from bot.worker.loop import Loop
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.conftest import BOT_TOKEN, OPERATOR, SIGNING_SECRET
from tests.harness import FIXTURES, RedisServer, completions, wait_until
from tests.replay import (
    ReplayStamp,
    Session,
    ending_in,
    recorded_sessions,
    restore_final_bodies,
    with_final_body,
)

SESSIONS = recorded_sessions()
DOCUMENTED_EXTRAS = {"metadata", "openid-configuration", "token", "preflight", "update-location"}
"""Requests the bot makes that the module's recordings do not hold (docs/development.md, "Tested against")."""


class Clock:
    """The test's clock, shared by the start (``BackupService.clock``) and the worker: it moves only when the
    test moves it, so each recorded wait is exact however long the start's login and pre-flight take."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Run:
    replay: ReplayStamp | None
    store: JobStore
    worker: Loop
    clock: Clock
    job_id: str
    waits: list[float] = field(default_factory=list)
    """How far ahead each poll was scheduled (from the start, then from the poll before)."""

    @property
    def job(self) -> Job:
        job = self.store.get(self.job_id)
        assert job is not None
        return job

    def poll_until_reported(self, max_cycles: int = 80, pause: float = 0.0) -> Job:
        """Jump to each due time and run one worker cycle, until the outcome is posted."""
        for _ in range(max_cycles):
            due = self.store.due_at(self.job_id)
            if due is None:
                break
            self.waits.append(due - max(self.clock.now, self.job.started_at))
            self.clock.now = max(self.clock.now, due)
            self.worker.run_once(self.clock.now)
            self.worker.drain()
            time.sleep(pause)
        assert self.job.state == JobState.NOTIFIED, self.job
        return self.job


@pytest.fixture
def start_bot(
    tmp_path: Path, fake_slack: FakeSlack, redis_server: RedisServer, redis_client: redis.Redis
) -> Iterator[Any]:
    """Start a backup on a stamp (``stamp_env``) the way the Start button does; poll with a test clock."""
    started: list[Run] = []

    def start(stamp_env: dict[str, str], clock: Clock, replay: ReplayStamp | None = None, **env: str) -> Run:
        settings = load_settings(
            {
                **stamp_env,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": fake_slack.api_url,
                "REDIS_URL": redis_server.url,
                "AZS_OPERATORS": OPERATOR,
                "AZS_POLL_INTERVAL": "0.2",
                "AZS_METRICS_PORT": "0",
                **env,
            }
        )
        worker = worker_loop(settings, clock=clock)
        name = settings.stamp.name
        parts = build_parts(settings)
        for service in parts.pipeline.services.values():
            service.clock = clock
        message = parts.pipeline.answer_now(Command(Action.START_CLICK, stamp=name), OPERATOR, "CBACKUPS")
        assert message.ok and "started infrastructure backup" in message.text, message.text
        job = next(j for j in worker.store.active_jobs() if j.stamp == name)
        run = Run(replay, worker.store, worker, clock, job.job_id)
        started.append(run)
        return run

    yield start
    for run in started:
        run.worker.close()


@pytest.fixture
def run_replay(tmp_path: Path, start_bot: Any) -> Iterator[Any]:
    replays: list[ReplayStamp] = []

    def run(session: Session, *, alias: bool = False, **env: str) -> Run:
        clock = Clock()
        replay = ReplayStamp(session, clock=clock).start(tmp_path / "replay-ca.pem")
        replays.append(replay)
        if alias:  # the stamp names itself by DNS name in operation URLs; the bot is configured with the IP
            replay.op_origin = replay.url.replace("127.0.0.1", "localhost")
        run: Run = start_bot(replay.env(tmp_path / "replay-ca.pem"), clock, replay, **env)
        return run

    yield run
    for replay in replays:
        replay.stop()


def replayed(run: Run) -> ReplayStamp:
    assert run.replay is not None
    return run.replay


def expected_backup(session: Session) -> Backup:
    backup = Backup.from_json(session.final_backup())
    assert backup is not None
    return backup


def assert_reported(run: Run, fake: FakeSlack, expected: Backup) -> dict[str, Any]:
    """Every field the operator is shown, against the recorded backup; returns the posted message."""
    got = run.job.backup
    assert got is not None
    assert (got.backup_id, got.status, got.created, got.time_taken_raw, got.stamp_version, got.oem_version) == (
        expected.backup_id,
        expected.status,
        expected.created,
        expected.time_taken_raw,
        expected.stamp_version,
        expected.oem_version,
    )
    assert got.roles == expected.roles and got.roles
    assert got.is_automatic is False  # the bot started it: on demand, whatever the stamp says or omits
    posted = completions(fake)
    assert len(posted) == 1, posted
    shown = json.dumps(posted[0])
    for fact in (
        expected.backup_id,
        f"Status: {expected.status}",
        f"Time taken: {time_taken(got)}",
        expected.stamp_version or "unknown",
        when(expected.created),
        "on demand",
    ):
        assert fact in shown, (fact, shown)
    failed = [r.role for r in expected.roles if r.status != "Succeeded"]
    if failed:
        assert f"Failed roles ({len(failed)} of {len(expected.roles)})" in shown
    return posted[0]


def assert_cadence(run: Run, session: Session) -> None:
    """Each poll came exactly the recorded ``Retry-After`` after the answer before it (0: same cycle)."""
    times = replayed(run).recorded_times()
    for index in range(1, len(times)):
        wait = session.exchanges[index - 1].retry_after or 0.0
        assert abs(times[index] - times[index - 1] - wait) < 1.0, (index, times[index] - times[index - 1], wait)


@pytest.mark.parametrize("session", SESSIONS, ids=[s.name for s in SESSIONS])
def test_recorded_session_replays_to_the_recorded_outcome(
    run_replay: Any, fake_slack: FakeSlack, session: Session
) -> None:
    run = run_replay(session)
    run.poll_until_reported()
    kinds = replayed(run).kinds()
    assert replayed(run).position == session.needed, kinds
    assert set(kinds) - {"recorded"} <= DOCUMENTED_EXTRAS, kinds
    assert_cadence(run, session)
    assert_reported(run, fake_slack, expected_backup(session))


def test_seven_sessions_on_three_builds() -> None:
    builds = [s.build for s in SESSIONS]
    assert (builds.count("1.1809.0.45"), builds.count("1.2002.0.35"), builds.count("1.2108.0.32")) == (1, 3, 3)
    assert {60.0, 30.0} <= {x.retry_after for s in SESSIONS for x in s.exchanges}


def test_final_200_with_an_empty_body_ends_the_operation(run_replay: Any, fake_slack: FakeSlack) -> None:
    """Build 2002 answered Restore's final Location poll with 200 and no body: done, read the backup by id."""
    empty = restore_final_bodies("2002")[1]
    assert empty == b""
    session = with_final_body(SESSIONS[1], empty)
    run = run_replay(session)
    run.poll_until_reported()
    assert replayed(run).position == session.needed
    assert replayed(run).kinds().get("by-id") == 1
    assert_cadence(run, session)
    assert_reported(run, fake_slack, expected_backup(session))


def test_a_backup_still_running_after_the_operation_ended_is_followed_on(
    run_replay: Any, fake_slack: FakeSlack
) -> None:
    """If the by-id read says Running after an empty final 200 (never recorded), believe the backup."""
    session = replace(with_final_body(SESSIONS[1], b""), by_id_running=2)
    run = run_replay(session)
    run.poll_until_reported()
    assert replayed(run).kinds().get("by-id") == 3
    assert_reported(run, fake_slack, expected_backup(session))


def test_final_200_null_after_a_bare_succeeded_ends_the_operation(run_replay: Any, fake_slack: FakeSlack) -> None:
    """Build 2108's Restore: async ``{"status":"Succeeded"}`` then ``null`` on Location: read the backup by id."""
    bare, null = restore_final_bodies("2108")
    assert (bare, null) == (b'{"status":"Succeeded"}', b"null")
    session = with_final_body(SESSIONS[4], null, async_body=bare)
    run = run_replay(session)
    run.poll_until_reported()
    assert replayed(run).position == session.needed
    assert replayed(run).kinds().get("by-id") == 1
    assert_reported(run, fake_slack, expected_backup(session))


def test_2108_session_ending_in_the_recorded_partial_backup(run_replay: Any, fake_slack: FakeSlack) -> None:
    listed = json.loads((FIXTURES / "backups_list_2108_partial.json").read_text())
    partial = next(
        b
        for b in listed["value"]
        if b["properties"]["backupInfo"]["status"] == "PartialSucceeded"
        and b["properties"]["backupInfo"]["isAutomaticBackup"] is False
    )
    session = ending_in(SESSIONS[4], partial)
    run = run_replay(session)
    job = run.poll_until_reported()
    assert replayed(run).position == session.needed
    assert_cadence(run, session)
    posted = json.dumps(assert_reported(run, fake_slack, expected_backup(session)))
    # PT0S is no duration: the bot shows what it measured between its start and the poll that saw the end.
    measured = job.finished_at - job.started_at
    assert job.backup is not None and job.backup.measured_seconds == pytest.approx(measured)
    assert "(measured by the bot)" in posted and "Time taken: 0s" not in posted


def test_operation_urls_naming_another_host_are_followed_by_id(run_replay: Any, fake_slack: FakeSlack) -> None:
    """The stamp names itself ``localhost`` in its URLs, the bot knows it as 127.0.0.1: no token goes there."""
    session = replace(SESSIONS[1], by_id_body=json.dumps(SESSIONS[1].final_backup()).encode())
    run = run_replay(session, alias=True)
    run.poll_until_reported()
    assert not [s for s in replayed(run).seen if s.host.startswith("localhost")]
    assert replayed(run).kinds().get("by-id", 0) >= 1 and replayed(run).position == 1
    assert_reported(run, fake_slack, expected_backup(session))


def with_retry_after(session: Session, value: str) -> Session:
    exchanges = tuple(
        replace(x, headers={**x.headers, "Retry-After": value}) if "Retry-After" in x.headers else x
        for x in session.exchanges
    )
    return replace(session, exchanges=exchanges)


def test_a_huge_retry_after_is_capped(run_replay: Any, fake_slack: FakeSlack) -> None:
    session = with_retry_after(SESSIONS[1], "1000000000")
    run = run_replay(session, AZS_MAX_RETRY_AFTER="600")
    # createBackup's own Retry-After parked the first poll 31 years out; housekeeping brings it back.
    run.worker.check_running_jobs()
    due = run.store.due_at(run.job_id)
    assert due is not None and due <= run.clock.now + 600
    run.poll_until_reported()
    times = replayed(run).recorded_times()
    assert max(b - a for a, b in itertools.pairwise(times)) <= 601
    assert_reported(run, fake_slack, expected_backup(session))


def test_overdue_is_reported_without_a_poll(run_replay: Any, fake_slack: FakeSlack) -> None:
    session = with_retry_after(SESSIONS[1], "1000000000")
    run = run_replay(session, AZS_MAX_RETRY_AFTER="86400", AZS_BACKUP_TIMEOUT="3600")
    run.clock.now += 3601
    run.worker.check_running_jobs()
    run.worker.check_running_jobs()
    overdue = [m for m in fake_slack.messages("CBACKUPS") if "has been running for more than" in json.dumps(m)]
    assert len(overdue) == 1
    assert replayed(run).position == 1  # not polled: only createBackup reached the stamp
    assert run.job.state == JobState.RUNNING and run.job.overdue_reported


@pytest.mark.parametrize(
    ("build", "outcome", "roles"),
    [("1809", "Succeeded", 13), ("2002", "Succeeded", 1), ("2108", "Succeeded", 1), ("2108", "PartialSucceeded", 23)],
)
def test_simulator_speaks_each_recorded_build(
    start_bot: Any, fake_slack: FakeSlack, tmp_path: Path, build: str, outcome: str, roles: int
) -> None:
    """``azs-bot simulator --build``: the recorded shapes and the 60 s / 30 s cadence, through the real bot."""
    sim = StampSimulator(build=build, outcome=outcome, backup_seconds=0.8, state_dir=str(tmp_path / "sim"))
    sim.start()
    try:
        run = start_bot({**sim.env(), "AZS_STAMP_NAME": f"sim-{build}"}, Clock())
        job = run.poll_until_reported(pause=0.1)
    finally:
        sim.stop()
    polled = {r.kind for r in sim.requests_log if r.kind in ("operationResults", "asyncOperation")}
    assert polled == ({"asyncOperation", "operationResults"} if build == "2108" else {"operationResults"})
    assert len(run.waits) >= 3 and run.waits[0] == pytest.approx(60, abs=0.5)
    assert all(w == pytest.approx(30 if build == "2108" else 60, abs=0.01) for w in run.waits[1:]), run.waits
    backup = job.backup
    assert backup is not None and backup.status == outcome and len(backup.roles) == roles
    assert backup.stamp_version == {"1809": "1.1809.0.45", "2002": "1.2002.0.35", "2108": "1.2108.0.32"}[build]
    assert (backup.oem_version is None) == (build == "1809") and backup.is_automatic is False
    shown = json.dumps(completions(fake_slack))
    assert "on demand" in shown and ("(measured by the bot)" in shown) == (outcome != "Succeeded")


def test_recorded_session_through_the_bots_own_processes(
    tmp_path: Path, start_web: Any, start_worker: Any, fake_slack: FakeSlack
) -> None:
    """``azs-bot web`` and ``azs-bot worker`` on the real clock, against the 2002 recording with its
    60 s ``Retry-After`` capped to 1 s: the first poll comes from housekeeping, not 60 s later."""
    session = SESSIONS[1]
    replay = ReplayStamp(session).start(tmp_path / "ca.pem")
    try:
        env = {**replay.env(tmp_path / "ca.pem"), "AZS_MAX_RETRY_AFTER": "1"}
        _, slack = start_web(**env)
        worker = start_worker(**env)
        assert slack.start_backup(value="replay") == session.backup_id
        assert wait_until(lambda: bool(completions(fake_slack)), timeout=40), worker.log()
    finally:
        replay.stop()
    assert replay.position == session.needed and "unexpected" not in replay.kinds(), replay.kinds()
    shown = json.dumps(completions(fake_slack))
    assert session.backup_id in shown and "Time taken: 6m 35s" in shown and "on demand" in shown


def test_an_operation_url_that_names_no_guid_is_not_followed(tmp_path: Path) -> None:
    """The id at the end of the operation URL goes into ARM URLs later: anything but a GUID is refused."""
    first = SESSIONS[1].exchanges[0]
    crafted = {
        name: value.replace(SESSIONS[1].final_backup()["name"].rsplit("/", 1)[-1], "..%2Fsubscriptions")
        if name in ("Location", "Azure-AsyncOperation")
        else value
        for name, value in first.headers.items()
    }
    assert crafted != first.headers
    session = replace(SESSIONS[1], exchanges=(replace(first, headers=crafted), *SESSIONS[1].exchanges[1:]))
    replay = ReplayStamp(session, clock=Clock()).start(tmp_path / "replay-ca.pem")
    try:
        client = ArmClient(load_stamp(replay.env(tmp_path / "replay-ca.pem")))
        with pytest.raises(StampError, match="named no backup id"):
            client.start_backup()
    finally:
        replay.stop()
