"""Fair lanes (issue 17, finding 9): one user cannot starve a stamp's lane or wash out the audit trail.

Read commands and operator work (the Start card and the Start click) used to share one bounded lane per
stamp, so 17 slow reads from one user made an operator's Start click answer "busy". Now operator work
has its own lane, every user has a per-minute limit shared through Redis by every process, and a
refusal that repeats within a minute adds to one audit entry instead of writing a new one each time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bot.commands.access import UserCommandLimit
from bot.ops import outage
from bot.serve.lanes import AfterAckPool
from bot.state import audit
from bot.state.audit import AuditLog
from bot.state.connection import connect
from bot.state.inbox import Inbox, WorkItem
from bot.state.keys import audit_key
from bot.words import replies
from bot.words.replies import START_ACTION_ID
from devkit.localrun import BotProcess
from devkit.simulator import Fault, StampSimulator
from devkit.slack_fake import FakeSlack
from devkit.socket_server import SocketModeServer
from tests.e2e.test_socket_mode import launch_socket_bot
from tests.harness import SlackClientSim, free_port, wait_until

StartWeb = Callable[..., tuple[BotProcess, SlackClientSim]]


def final(slack: SlackClientSim, hook: str) -> str:
    """The last reply to a request, once it is more than the "Starting..." placeholder ("" until then)."""
    replies = [json.dumps(r) for r in slack.replies(hook)]
    return replies[-1] if replies and "Starting a backup" not in replies[-1] else ""


def audit_entries(client: redis.Redis) -> list[dict[str, str]]:
    """The audit stream's entries, oldest first, as text."""

    def text(value: bytes | str | None) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    return [{text(k): text(v) for k, v in (fields or {}).items()} for _id, fields in client.xrange(audit_key()) or []]


def test_seventeen_slow_reads_do_not_keep_an_operators_start_click_waiting(
    start_web: StartWeb, stamp: StampSimulator
) -> None:
    _, slack = start_web(AZS_WORK_THREADS="1")
    _, warm = slack.command("backup list")
    slack.wait_reply(warm, "Latest backups", timeout=15)  # logged in before the stamp turns slow
    creates = stamp.count("POST", "createBackup")
    stamp.inject(Fault(status=0, delay=3.0, times=40))
    reads = [slack.command("backup cancel", user="UREADER")[1] for _ in range(17)]  # fills the stamp's read lane
    _, click = slack.click()
    assert wait_until(lambda: bool(final(slack, click)), timeout=25), slack.replies(click)
    assert "started infrastructure backup" in final(slack, click), final(slack, click)
    assert stamp.count("POST", "createBackup") == creates + 1
    assert not any("busy" in final(slack, hook) for hook in reads)  # the reads still fit their own lane
    stamp.clear_faults()


def test_an_operators_own_reads_do_not_use_up_their_start(start_web: StartWeb, stamp: StampSimulator) -> None:
    """Operator work (the Start card and click) has a budget of its own: reads at the limit cannot block it."""
    _, slack = start_web(AZS_USER_COMMANDS_PER_MINUTE="4")
    creates = stamp.count("POST", "createBackup")
    for _ in range(4):
        _, hook = slack.command("backup status")
        slack.wait_reply(hook, "No backup")
    over, _ = slack.command("backup list")
    assert "4 commands" in over.json()["text"]
    _, card = slack.command("backup")
    slack.wait_reply(card, START_ACTION_ID)
    _, click = slack.click()
    slack.wait_reply(click, "started infrastructure backup")
    assert stamp.count("POST", "createBackup") == creates + 1


def test_a_user_over_the_limit_is_told_so_and_others_are_not(start_web: StartWeb, stamp: StampSimulator) -> None:
    """The count is shared: commands to either web process add up."""
    _, first = start_web(AZS_USER_COMMANDS_PER_MINUTE="3")
    _, second = start_web(AZS_USER_COMMANDS_PER_MINUTE="3")
    creates = stamp.count("POST", "createBackup")
    sent = [(client, client.command("backup status", user="UFLOOD")[1]) for client in (first, second, first)]
    for client, hook in sent:  # a read may be answered in its ack: the client that sent it holds that reply
        client.wait_reply(hook, "No backup")
    over, over_hook = second.command("backup status", user="UFLOOD")
    assert over.status_code == 200 and "3 commands" in over.json()["text"] and "try again" in over.json()["text"]
    for client in (first, second, first):  # the Start card and click are counted apart: 3 more for those
        _, hook = client.command("backup", user="UFLOOD")
        first.wait_reply(hook, "only backup operators")
    _, click_hook = second.click(user="UFLOOD")
    first.wait_reply(click_hook, "3 commands")
    _, other = second.command("backup status", user="UOPER")
    second.wait_reply(other, "No backup")
    assert not first.replies(over_hook)  # answered in the ack; nothing was done after it
    assert stamp.count("POST", "createBackup") == creates


def test_a_refusal_flood_is_one_audit_entry_with_a_count(
    start_web: StartWeb, stamp: StampSimulator, redis_client: redis.Redis
) -> None:
    _, slack = start_web(AZS_USER_COMMANDS_PER_MINUTE="8")
    for text in ("backup status", "backup list"):
        _, hook = slack.command(text)
        slack.wait_reply(hook, "")
    assert wait_until(lambda: len(audit_entries(redis_client)) == 2, timeout=5)
    earlier = audit_entries(redis_client)
    hooks = [slack.command("backup", user="UNOBODY")[1] for _ in range(20)]  # not an operator: refused
    for hook in hooks[:8]:
        slack.wait_reply(hook, "only backup operators")

    def counts() -> dict[str, int]:
        return {e["outcome"]: int(e.get("count", 1)) for e in audit_entries(redis_client) if e["user"] == "UNOBODY"}

    assert wait_until(lambda: counts() == {"refused or failed": 8, "rate-limited": 12}, timeout=10), counts()
    entries = audit_entries(redis_client)
    assert len(entries) == 4 and entries[:2] == earlier
    _, hook = slack.command("backup audit")
    shown = json.dumps(slack.wait_reply(hook, "Audit trail"))
    assert "8 times" in shown and "12 times" in shown


def test_socket_mode_and_web_processes_share_one_count(
    start_web: StartWeb,
    bot_env: dict[str, str],
    fake_slack: FakeSlack,
    redis_client: redis.Redis,
    stamp: StampSimulator,
    tmp_path: Path,
) -> None:
    server = SocketModeServer(app_id="A0001").start()
    bot = launch_socket_bot({**bot_env, "AZS_USER_COMMANDS_PER_MINUTE": "2"}, fake_slack, server, tmp_path)
    try:
        _, web = start_web(AZS_USER_COMMANDS_PER_MINUTE="2")
        for _ in range(2):
            _, hook = web.command("backup status", user="UFLOOD")
            web.wait_reply(hook, "No backup")
        sent = time.monotonic()
        envelope, hook = bot.command("backup status", user="UFLOOD")
        assert "2 commands" in json.dumps(bot.ack(envelope, sent).data.get("payload"))
        envelope, hook = bot.command("backup status", user="UOPER")
        bot.wait_reply(hook, "No backup")
    finally:
        bot.process.kill()
        fake_slack.socket_url = None
        server.stop()


def test_the_limit_counts_in_the_process_while_redis_cannot() -> None:
    outage.REDIS.ok()
    pool = AfterAckPool(per_user_per_minute=2)
    pool.make_durable(Inbox(redis.Redis(port=free_port(), socket_connect_timeout=0.2)), lambda item: None)
    try:
        admitted = [pool.admit(WorkItem("command", "U1", "C1", "")) for _ in range(3)]
        assert admitted == [True, True, False] and outage.REDIS.down
        assert pool.admit(WorkItem("command", "U2", "C1", ""))
    finally:
        pool.stop_recovering()  # its Redis never answers: left running, it would mark Redis down for later tests
        outage.REDIS.ok()


def test_limit_and_record_are_one_step(redis_client: redis.Redis) -> None:
    """Within the limit the item is in the inbox; past it nothing is, and the count still grows."""
    inbox, limit = Inbox(redis_client), UserCommandLimit(per_minute=1)
    counter = limit.counter("U1")
    first, second = WorkItem("command", "U1", "C1", ""), WorkItem("command", "U1", "C1", "")
    assert inbox.admit(first, counter) and not inbox.admit(second, counter)
    assert inbox.pending() == 1 and int(redis_client.get(counter.current) or 0) == 2
    assert 60 < int(redis_client.ttl(counter.current)) <= 120
    assert limit.counter("U1", operator=True).current != counter.current


def test_the_limit_holds_across_the_turn_of_a_minute(redis_client: redis.Redis) -> None:
    """Last minute's count still weighs on this one, so a burst cannot double at the turn of the minute."""
    inbox, limit = Inbox(redis_client), UserCommandLimit(per_minute=3)
    turn = (time.time() // 60 + 1) * 60
    before = [inbox.admit(WorkItem("command", "U1", "C", ""), limit.counter("U1", now=turn - 1)) for _ in range(3)]
    after = [inbox.admit(WorkItem("command", "U1", "C", ""), limit.counter("U1", now=turn + 1)) for _ in range(2)]
    assert before == [True, True, True] and after == [False, False]
    # Refused requests count: a minute later the 2 refused ones weigh 1/6 each, 50 s into the minute after.
    late = limit.counter("U1", now=turn + 110)
    assert inbox.admit(WorkItem("command", "U1", "C", ""), late)


def test_only_refusals_repeating_within_a_minute_share_an_entry(redis_client: redis.Redis) -> None:
    audit_log = AuditLog(connect(f"redis://127.0.0.1:{redis_client.connection_pool.connection_kwargs['port']}/0"))
    for user, outcome in [("U1", "ok"), ("U1", "ok"), ("U2", "refused or failed"), ("U3", "refused or failed")]:
        audit_log.record(audit.entry(user, "C1", "s", "status", outcome))
    for _ in range(3):
        audit_log.record(audit.entry("U2", "C1", "s", "status", "refused or failed"))
    audit_log.record(audit.entry("U2", "C2", "s", "status", "refused or failed"))  # another channel: its own
    shown = [(e.user, e.outcome, e.count) for e in audit_log.latest()][::-1]
    assert shown[:3] == [("U1", "ok", 1), ("U1", "ok", 1), ("U3", "refused or failed", 1)]
    assert shown[3] == ("U2", "refused or failed", 4)
    assert "refused or failed (4 times in " in replies.audit(audit_log.latest()).text
    assert shown[4] == ("U2", "refused or failed", 1) and len(shown) == 5
    redis_client.delete(*redis_client.keys("azs:audit:repeat:*"))  # the minute is over
    audit_log.record(audit.entry("U2", "C1", "s", "status", "refused or failed"))
    assert len(audit_log.latest()) == 6
