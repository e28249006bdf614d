"""Finding 3 of issue 11, end to end: a stamp returning hostile text, through the real web app and worker.

Role names, stamp version and the backup target come from the simulator; every post, edit and reply the
fake Slack receives is checked for live mentions, links and formatting. A backup id that is not a GUID,
found on the reconciliation path, must never reach an ARM URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from bot.state.job import Job
from bot.state.jobs import JobStore
from bot.state.keys import job_key
from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim, completions, wait_until
from tests.unit.words.test_safety import live_problems

HOSTILE = "<!channel> <http://evil.example/login|Re-authenticate here>"
SAS = "?sv=2024-01-01&sig=SECRETSIGNATURE"


def mrkdwn_of(payload: dict[str, Any]) -> list[str]:
    """Top-level text and every mrkdwn text object of a message or reply."""
    texts = [str(payload.get("text") or "")]
    for block in payload.get("blocks") or []:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                texts.append(obj["text"])
    return texts


def assert_inert(fake: FakeSlack) -> None:
    payloads = [c.payload for c in fake.calls() if c.method in ("chat.postMessage", "chat.update")]
    payloads += [r.payload for r in fake.hook_posts()]
    assert payloads
    for payload in payloads:
        for text in mrkdwn_of(payload):
            assert "<!channel>" not in text and "<http" not in text, text
            assert not live_problems(text), (live_problems(text), text[:300])


def test_hostile_stamp_text_reaches_no_channel_live(
    slack: SlackClientSim,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    start_worker: Callable[..., BotProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("devkit.simulator.ROLES", ("KeyVault_Internal", HOSTILE, "*bold* _it_ `code` ~x~"))
    monkeypatch.setattr(stamp, "stamp_version", HOSTILE)
    stamp.outcome, stamp.backup_seconds = "PartialSucceeded", 1.0
    location = stamp._location_body()
    location["properties"]["externalStoreDefault"].update(
        path="", blobStorageUrl="https://acct.blob.example/backups" + SAS, availableCapacity=HOSTILE
    )
    stamp.inject(
        Fault(status=0, method="GET", path_contains="backupLocations/local?", times=50, body=json.dumps(location))
    )
    _, hook = slack.command("backup watch")
    slack.wait_reply(hook, "will hear about every backup")
    backup_id = slack.start_backup()
    start_worker(AZS_WATCH_INTERVAL="1", AZS_SNAPSHOT_INTERVAL="1", AZS_PROGRESS_INTERVAL="1")
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=30)
    time.sleep(0.05)
    scheduled = stamp.run_scheduled_backup("Failed")
    assert wait_until(lambda: any(scheduled in json.dumps(m) for m in fake_slack.messages("CBACKUPS")), timeout=20)
    for text in ("backup list", f"backup show {backup_id}", "backup config", "backup"):
        _, hook = slack.command(text)
        slack.wait_reply(hook)
    time.sleep(0.5)
    everything = json.dumps([c.payload for c in fake_slack.calls()] + [r.payload for r in fake_slack.hook_posts()])
    assert "Re-authenticate here" in everything  # the text is shown, only inert
    assert "https://acct.blob.example/backups" in everything and "SECRETSIGNATURE" not in everything
    assert_inert(fake_slack)


def test_reconciliation_never_puts_a_non_guid_backup_id_into_a_url(
    stamp: StampSimulator, fake_slack: FakeSlack, redis_client: redis.Redis, start_worker: Callable[..., BotProcess]
) -> None:
    """A start whose answer was lost; the stamp's list then offers a running "backup" with a crafted id."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    crafted = {
        "value": [
            {
                "name": "local/x",
                "properties": {
                    "backupInfo": {
                        "backupId": "../../../../providers/Microsoft.Evil/things/1?x=",
                        "status": "Running",
                        "createdDateTime": now,
                    }
                },
            }
        ]
    }
    stamp.inject(Fault(status=0, method="GET", path_contains="/backups?", times=50, body=json.dumps(crafted)))
    job = Job(
        job_id=Job.new_id(), stamp="sim-stamp", requester="UOPER", channel="CBACKUPS", requested_at=time.time() - 10
    )
    assert JobStore(redis_client).reserve(job, reconcile_after=0.0) is None
    start_worker()
    key = job_key(job.job_id)
    assert wait_until(lambda: redis_client.hget(key, "state") in (b"start_failed", b"running"), timeout=20)
    time.sleep(1.0)
    assert redis_client.hget(key, "state") == b"start_failed"
    assert not [r.path for r in stamp.requests_log if "evil" in r.path.lower() or "/../" in r.path]
