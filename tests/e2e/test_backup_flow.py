"""The product's spine, end to end: signed Slack requests, waitress, Redis, the TLS simulator, a worker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.conftest import OPERATOR
from tests.harness import BotProcess, SlackClientSim, announced_backup_id, completions, wait_until


def start_backup(slack: SlackClientSim) -> str:
    """Confirm and click as an operator; returns the announced backup id."""
    response, hook = slack.command("backup")
    assert response.status_code == 200
    card = slack.wait_reply(hook, "backup_start")
    assert card.get("response_type") == "ephemeral"
    response, hook = slack.click()
    assert response.status_code == 200
    backup_id = announced_backup_id(slack.wait_reply(hook, "started infrastructure backup"))
    assert backup_id
    return backup_id


def test_operator_starts_backup_and_worker_reports_it_once(
    slack: SlackClientSim, fake_slack: FakeSlack, stamp: StampSimulator, start_worker: Callable[[], BotProcess]
) -> None:
    stamp.backup_seconds = 1.5
    backup_id = start_backup(slack)
    assert backup_id == stamp.running_backup_id()
    announcement = fake_slack.messages("CBACKUPS")[0]
    assert f"<@{OPERATOR}>" in announcement["text"] and backup_id in announcement["text"]
    start_worker()
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=20)
    time.sleep(1.0)
    [done] = completions(fake_slack)
    text = json.dumps(done)
    assert done["thread_ts"] == announcement["ts"]
    for expected in (backup_id, f"<@{OPERATOR}>", "Succeeded", "21m 15s", "1.2108.0.32"):
        assert expected in text
