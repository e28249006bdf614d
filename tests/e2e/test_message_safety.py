"""The renderers' safety end to end: a crafted ARM error on a click a dead process left behind reaches the
channel through the running web process, inert (the in-process property tests are tests/unit/words/test_safety.py)."""

from __future__ import annotations

from bot.state.connection import connect
from bot.state.inbox import Inbox, WorkItem
from bot.state.keys import job_key
from devkit.simulator import Fault, StampSimulator
from tests.conftest import OPERATOR
from tests.harness import RedisServer, SlackClientSim
from tests.unit.words.test_safety import REPORTED_ARM_ERROR, arm_error, live_problems


def test_a_dead_processs_click_on_a_refused_start_is_answered_inertly(
    slack: SlackClientSim, stamp: StampSimulator, redis_server: RedisServer
) -> None:
    """The reported case end to end: the stamp refuses the start with a crafted ARM error, the process that had
    the click dies before replying, and the running web process takes the click over and answers it."""
    client = connect(redis_server.url)
    stamp.inject(Fault(status=409, times=1, path_contains="createBackup", body=arm_error(REPORTED_ARM_ERROR)))
    _, first = slack.click()
    slack.wait_reply(first, "Conflict", timeout=15)  # the stamp refused; the job is named after the click
    [job_id] = [str(key).rsplit(":", 1)[1] for key in client.keys(job_key("*"))]
    assert REPORTED_ARM_ERROR in str(client.hget(job_key(job_id), "error"))
    # As if that process had died before its reply: the click is back in the inbox with a lapsed lease.
    hook = "recovered-refused-click"
    item = WorkItem("click", OPERATOR, "CBACKUPS", slack.fake.response_url(hook), stamp="sim-stamp", item_id=job_id)
    assert Inbox(client, lease=0.0, owner="dead-web-process").admit(item)
    reply = slack.wait_reply(hook, "did not start", timeout=20)
    texts = [reply.get("text", ""), *(b["text"]["text"] for b in reply.get("blocks", []) if "text" in b)]
    for text in texts:
        assert "<!channel>" not in text and "<http" not in text, text
        assert not live_problems(text), text
