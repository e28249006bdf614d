"""``/azs backup report``: the words it takes, and the runner building from Redis and uploading to the channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from slack_sdk import WebClient

from bot.commands.backups import BackupService
from bot.commands.parse import parse
from bot.commands.report import Reporter
from bot.commands.request import Request
from bot.commands.table import BY_ACTION, Action, Lane
from bot.slack.client import SlackPoster
from devkit.slack_fake import BOT_SCOPES, FakeSlack
from tests.unit.report.month_of_history import NOW, STAMP, feed, windows


@pytest.mark.parametrize(
    ("text", "stamp", "month"),
    [
        ("backup report", None, None),
        ("backup report 2026-03", None, "2026-03"),
        ("backup report all 2026-03", None, "2026-03"),
        ("backup report 2026-03 east", "east", "2026-03"),
        ("backup east report", "east", None),
        ("backup report west", "west", None),
    ],
)
def test_the_words_it_takes(text: str, stamp: str | None, month: str | None) -> None:
    command = parse(text)
    assert (command.action, command.stamp, command.option, command.problem) == (Action.REPORT, stamp, month, None)


@pytest.mark.parametrize("text", ["backup report 2026-13", "backup report 2026-03 2026-04", "backup report a b"])
def test_anything_else_gets_the_help(text: str) -> None:
    assert parse(text).action == Action.HELP and parse(text).problem is not None


def test_its_row_reads_redis_only_and_is_for_operators() -> None:
    verb = BY_ACTION[Action.REPORT]
    assert verb.lane == Lane.BOT and verb.operator_only


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def reporter(client: redis.Redis, fake: FakeSlack) -> Reporter:
    history, snapshots = feed(client)
    poster = SlackPoster(WebClient(token="xoxb-t", base_url=fake.api_url, timeout=5), retry_seconds=2.0)
    return Reporter(history, snapshots, windows(client), poster, clock=lambda: NOW)


def test_the_report_is_uploaded_with_its_summary(store_redis: redis.Redis, fake: FakeSlack) -> None:
    request = Request(parse("backup report"), "U1", "C1", stamps=(STAMP,))  # April 2nd: March by default
    reply = reporter(store_redis, fake).report(request, None)
    files = fake.uploaded_files("C1")
    assert [f.name for f in files] == ["azs-backup-report-2026-03-east.csv", "azs-backup-report-2026-03-east.png"]
    [message] = fake.messages("C1")
    for file in files:
        assert file.sha256 in message["text"] and file.sha256 in reply.text
    assert "RPO compliance 93.1 %" in message["text"] and reply.ok


def test_without_the_scope_the_operator_is_told_why(store_redis: redis.Redis, fake: FakeSlack) -> None:
    fake.set_scopes("xoxb-t", tuple(s for s in BOT_SCOPES if s != "files:write"))
    request = Request(parse("backup report 2026-03"), "U1", "C1", stamps=(STAMP,))
    reply = reporter(store_redis, fake).report(request, None)
    assert not reply.ok and "missing_scope" in reply.text and "files:write" in reply.text
    assert fake.uploaded_files() == []


def test_a_stamp_named_in_other_case_reports_on_the_configured_stamp(store_redis: redis.Redis, fake: FakeSlack) -> None:
    """Routing takes ``EAST`` for ``east``: the report (and its files' names) must say ``east`` too, not find
    nothing under ``EAST``. The service's other parts are not used by the report."""
    unused: Any = None
    service = BackupService(
        STAMP, unused, unused, unused, 30.0, unused, unused, unused, 300.0, 60.0, unused,
        reporter=reporter(store_redis, fake),
    )  # fmt: skip
    service.report(Request(parse(f"backup report 2026-03 {STAMP.upper()}"), "U1", "C1", stamps=(STAMP,)))
    files = fake.uploaded_files("C1")
    assert [f.name for f in files] == ["azs-backup-report-2026-03-east.csv", "azs-backup-report-2026-03-east.png"]
    assert "RPO compliance 93.1 %" in fake.messages("C1")[0]["text"]


@pytest.mark.parametrize(("month", "said"), [("9998-12", "has not started yet"), ("2026-05", "has not started yet"),
                                             ("1969-12", "before any backup")])  # fmt: skip
def test_a_month_out_of_range_is_told_with_the_usage(
    store_redis: redis.Redis, fake: FakeSlack, month: str, said: str
) -> None:
    request = Request(parse(f"backup report {month}"), "U1", "C1", stamps=(STAMP,))  # now is 2 April 2026
    reply = reporter(store_redis, fake).report(request, None)
    assert not reply.ok and said in reply.text and "/azs backup report [YYYY-MM]" in reply.text
    assert fake.uploaded_files() == []
