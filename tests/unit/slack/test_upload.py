"""Uploading report files through Slack's current flow (files_upload_v2: get an upload URL, POST the bytes,
complete the upload into the channel), against the devkit's Slack, which follows that flow and keeps the bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.model.report import ReportFile
from bot.slack.client import Fenced, PostFailed, SlackPoster
from devkit.slack_fake import BOT_SCOPES, FakeSlack, SlackFault

TOKEN = "xoxb-test"
FILES = [
    ReportFile("report.csv", "\ufeffstamp,id\r\neast,x\r\n".encode(), "Backups (CSV)"),
    ReportFile("report.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "Backups (chart)"),
]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def poster(fake: FakeSlack) -> SlackPoster:
    return SlackPoster(WebClient(token=TOKEN, base_url=fake.api_url, timeout=5), retry_seconds=5.0)


def test_the_files_go_up_in_three_steps_and_come_back_byte_for_byte(fake: FakeSlack) -> None:
    ids = poster(fake).upload_files("C1", FILES, "Backup report\nreport.csv SHA-256 ...")
    steps = [r.method for r in fake.calls() if r.method.startswith("files.")]
    assert steps == ["files.getUploadURLExternal", "files.getUploadURLExternal", "files.completeUploadExternal"]
    assert [r.payload["length"] for r in fake.calls("files.getUploadURLExternal")] == [
        str(len(f.content)) for f in FILES
    ]
    complete = fake.calls("files.completeUploadExternal")[0].payload
    assert complete["channel_id"] == "C1" and complete["initial_comment"].startswith("Backup report")
    uploaded = fake.uploaded_files("C1")
    assert [f.file_id for f in uploaded] == ids and len(ids) == 2
    for sent, got in zip(FILES, uploaded, strict=True):
        assert (got.name, got.title, got.content) == (sent.name, sent.title, sent.content)
        assert got.sha256 == sent.sha256 == hashlib.sha256(sent.content).hexdigest()
    [message] = fake.messages("C1")
    assert message["text"].startswith("Backup report") and [f["id"] for f in message["files"]] == ids


def test_a_throttled_completion_is_waited_out_and_shares_once(fake: FakeSlack) -> None:
    fake.inject(SlackFault("files.completeUploadExternal", status=429, retry_after=1))
    ids = poster(fake).upload_files("C1", FILES[:1], "report")
    assert len(fake.calls("files.completeUploadExternal")) == 2
    assert [f.file_id for f in fake.uploaded_files()] == ids and len(fake.messages("C1")) == 1


def test_without_files_write_slack_says_so(fake: FakeSlack) -> None:
    fake.set_scopes(TOKEN, tuple(s for s in BOT_SCOPES if s != "files:write"))
    with pytest.raises(PostFailed) as failed:
        poster(fake).upload_files("C1", FILES, "report")
    assert failed.value.error == "missing_scope" and fake.uploaded_files() == []


def test_a_fenced_upload_sends_nothing(fake: FakeSlack) -> None:
    with pytest.raises(Fenced):
        poster(fake).upload_files("C1", FILES, "report", guard=lambda: False)
    assert fake.calls() == []


def test_the_fake_refuses_the_legacy_upload_and_incomplete_files(fake: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=fake.api_url)
    with pytest.raises(SlackApiError) as legacy:
        client.api_call("files.upload", params={"channels": "C1", "content": "x"})
    assert legacy.value.response["error"] == "method_deprecated"
    url = client.files_getUploadURLExternal(filename="a.csv", length=3)
    with pytest.raises(SlackApiError) as never_sent:  # the bytes never went to the upload URL
        client.files_completeUploadExternal(files=[{"id": url["file_id"], "title": "a"}], channel_id="C1")
    assert never_sent.value.response["error"] == "file_not_found" and fake.uploaded_files() == []
