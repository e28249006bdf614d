"""``/azs backup report`` through the shipped web process: a signed command, the month built from Redis, the files
uploaded to the local Slack through the v2 flow (upload URL, POST, complete), read back byte for byte."""

from __future__ import annotations

import csv
import hashlib
import io

import redis

from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim
from tests.unit.report.month_of_history import feed, windows

STAMP = "sim-stamp"


def test_the_report_is_uploaded_and_its_hashes_match(
    slack: SlackClientSim, fake_slack: FakeSlack, redis_client: redis.Redis
) -> None:
    feed(redis_client, STAMP)
    windows(redis_client, STAMP)
    response, hook = slack.command(f"backup report 2026-03 {STAMP}")
    assert response.status_code == 200
    reply = slack.wait_reply(hook, contains="SHA-256", timeout=30)
    assert fake_slack.wait_for(lambda f: len(f.uploaded_files("CBACKUPS")) == 2, timeout=10)
    steps = [c.method for c in fake_slack.calls() if c.method.startswith("files.")]
    assert steps == ["files.getUploadURLExternal"] * 2 + ["files.completeUploadExternal"]
    files = fake_slack.uploaded_files("CBACKUPS")
    assert [f.name for f in files] == [
        f"azs-backup-report-2026-03-{STAMP}.csv",
        f"azs-backup-report-2026-03-{STAMP}.png",
    ]
    [message] = [m for m in fake_slack.messages("CBACKUPS") if m.get("files")]
    for file in files:
        assert file.content is not None and hashlib.sha256(file.content).hexdigest() == file.sha256
        assert file.sha256 in message["text"] and file.sha256 in str(reply)
    assert "RPO compliance 93.1 %" in message["text"]
    rows = list(csv.reader(io.StringIO((files[0].content or b"").decode("utf-8-sig"))))
    assert len(rows) == 61 and files[1].content and files[1].content.startswith(b"\x89PNG")


def test_non_operators_are_refused(slack: SlackClientSim, fake_slack: FakeSlack) -> None:
    response, hook = slack.command("backup report", user="UNOBODY")
    assert response.status_code == 200
    slack.wait_reply(hook, contains="only backup operators", timeout=10)
    assert fake_slack.uploaded_files() == []
