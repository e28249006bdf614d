"""No secret in any log line, Slack message or reply: a whole backup's life, failures included."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack, SlackFault
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.harness import SlackClientSim, completions, wait_until


def test_no_secret_reaches_logs_or_slack(
    slack: SlackClientSim,
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    web_process: tuple[BotProcess, str],
    start_worker: Callable[..., BotProcess],
) -> None:
    stamp.backup_seconds, stamp.outcome = 1, "PartialSucceeded"
    stamp.inject(Fault(status=403, times=1, path_contains="backupLocations/local?"))
    _, hook = slack.command("backup")
    slack.wait_reply(hook, "permission")
    for text in ("backup", "backup list", "backup config", "backup status", "backup audit"):
        _, hook = slack.command(text)
        assert wait_until(partial(lambda h: bool(slack.replies(h)), hook), timeout=10)
    slack.start_backup()
    stamp.revoke_tokens()  # the worker's first ARM call is refused and the token refreshed
    fake_slack.inject(SlackFault(method="chat.postMessage", error="invalid_auth", times=1))
    worker = start_worker()
    assert wait_until(lambda: bool(completions(fake_slack)), timeout=30)
    finished = stamp.finished_at
    _, hook = slack.command(f"backup show {max(finished, key=lambda backup_id: finished[backup_id])}")
    slack.wait_reply(hook, "Roles")

    secrets = [BOT_TOKEN, SIGNING_SECRET, *stamp.secrets_issued()]
    assert len(secrets) > 4
    seen = {
        "web log": web_process[0].log(),
        "worker log": worker.log(),
        "slack api calls": json.dumps([c.payload for c in fake_slack.calls()]),
        "response_url posts": json.dumps([r.payload for r in fake_slack.hook_posts()]),
    }
    assert "invalid_auth" in seen["worker log"] and "failed" in seen["response_url posts"] + seen["web log"]
    for where, text in seen.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into the {where}"
