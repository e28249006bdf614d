"""Finding 2 of issue 17: a backup whose operation URL cannot be followed is read by id the way ARM
accepts it (with ``api-version``), and its outcome is posted.

The shared simulator is as strict as ARM: a request without ``api-version`` gets 400
``MissingApiVersionParameter``, so each test also checks that the stamp refused nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from bot.config.stamps import load_stamp
from bot.stamp.arm import ArmClient
from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim, completions, wait_until

StartWorker = Callable[..., BotProcess]
StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]


@pytest.fixture
def restored(stamp: StampSimulator) -> Iterator[StampSimulator]:
    """The shared simulator, handed back naming itself in its operation URLs again."""
    yield stamp
    stamp.configure({"operation_origin": ""})


def reported(fake: FakeSlack, backup_id: str) -> bool:
    shown = json.dumps(completions(fake))
    return "Status: Succeeded" in shown and backup_id in shown


def assert_read_by_id(stamp: StampSimulator, since: int, backup_id: str) -> None:
    calls = stamp.requests_log[since:]
    by_id = [r for r in calls if r.kind == "backup" and backup_id in r.path]
    assert by_id and all(r.status == 200 and "api-version=" in r.path for r in by_id), by_id
    assert not [r for r in calls if r.status in (400, 405)], [(r.method, r.path, r.status) for r in calls]


def test_operation_urls_on_an_alias_host_are_followed_by_id(
    slack: SlackClientSim, restored: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    """The stamp names itself ``localhost`` in its operation URLs; the bot knows it as 127.0.0.1."""
    stamp = restored
    stamp.backup_seconds = 2.0
    stamp.configure({"operation_origin": stamp.url.replace("127.0.0.1", "localhost")})
    since = len(stamp.requests_log)
    backup_id = slack.start_backup()
    start_worker()
    assert wait_until(lambda: reported(fake_slack, backup_id), timeout=30), json.dumps(completions(fake_slack))
    assert_read_by_id(stamp, since, backup_id)
    assert not [r for r in stamp.requests_log[since:] if r.kind in ("operationResults", "asyncOperation")]


def test_a_reconciled_start_is_followed_by_id(
    start_web: StartWeb, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    """createBackup's answer is lost (it comes after the web process gave up): the worker adopts the
    backup from the stamp's list and follows it by id to its outcome."""
    _, slack = start_web(AZS_START_GRACE_SECONDS="2", AZS_HTTP_TIMEOUT="1")
    stamp.backup_seconds = 3.0
    stamp.inject(Fault(status=0, delay=2.0, times=1, path_contains="createBackup"))
    since = len(stamp.requests_log)
    _, hook = slack.click()
    slack.wait_reply(hook, "did not answer", timeout=10)
    assert wait_until(lambda: stamp.running_backup_id() is not None, timeout=10)  # the late answer's backup
    backup_id = str(stamp.running_backup_id())
    start_worker()
    assert wait_until(lambda: reported(fake_slack, backup_id), timeout=30), json.dumps(completions(fake_slack))
    assert_read_by_id(stamp, since, backup_id)


def test_an_operation_404_is_followed_by_id(
    slack: SlackClientSim, stamp: StampSimulator, fake_slack: FakeSlack, start_worker: StartWorker
) -> None:
    stamp.backup_seconds = 2.0
    backup_id = slack.start_backup()
    stamp.inject(Fault(status=404, times=100, path_contains="operationResults"))
    since = len(stamp.requests_log)
    start_worker()
    assert wait_until(lambda: reported(fake_slack, backup_id), timeout=30), json.dumps(completions(fake_slack))
    assert_read_by_id(stamp, since, backup_id)


def test_every_read_by_id_carries_the_api_version(stamp: StampSimulator) -> None:
    """The stamp client's own by-id read, against the strict simulator."""
    backup_id = stamp.run_scheduled_backup()
    client = ArmClient(load_stamp(stamp.env()), max_attempts=1)
    backup = client.get_backup(backup_id)
    assert backup is not None and backup.backup_id == backup_id
    assert "api-version=2018-09-01" in client.backup_url(backup_id)
    answer = client.read_backup(backup_id, accept=frozenset({200, 404}))
    assert answer.status == 200 and answer.body["properties"]["backupInfo"]["backupId"] == backup_id
