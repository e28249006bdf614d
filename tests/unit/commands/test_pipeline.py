"""The request pipeline in process (bot/commands/pipeline.py): real Redis, a stamp and a Slack poster answered from
memory, no Bolt. Every row of the command table is routed and answered here, so a new row is covered with no test
of its own; then the stamp choice, who may run what, the failures that become replies, the audit trail, and the
Start click a dead process left behind."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import redis

from bot.app import update_states
from bot.commands.access import AccessPolicy
from bot.commands.backups import BackupService
from bot.commands.pipeline import OPERATOR_LANE, SNAPSHOT_LANE, Pipeline
from bot.commands.reads import StampReads
from bot.commands.report import Reporter
from bot.commands.request import Command, Request
from bot.commands.table import TABLE, Action, Args, Lane, Verb
from bot.config import limits
from bot.config.settings import Settings
from bot.config.stamps import StampSettings
from bot.model.backup import Backup
from bot.model.location import BackupLocation
from bot.model.update import UpdateLocation
from bot.ops import outage
from bot.slack.client import SlackPoster
from bot.stamp.arm import ArmClient, StartedBackup
from bot.stamp.errors import StampError
from bot.state import keys
from bot.state.audit import AuditLog
from bot.state.connection import connect
from bot.state.history import HistoryStore
from bot.state.job import Job
from bot.state.jobs import JobStore
from bot.state.prefs import ChannelPrefs
from bot.state.snapshots import SnapshotStore
from bot.state.watches import WatchStore
from bot.words.mrkdwn import Message
from tests.harness import RedisServer

OPERATOR, READER, CHANNEL = "UOPER", "UREADER", "CBACKUPS"
SETTINGS = Settings(redis_url="redis://localhost", stamps=())
BACKUP_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
LOCATION = BackupLocation(
    name="local",
    path=r"\\fileserver\backups",
    blob_url=None,
    user_name="svc",
    scheduler_enabled=True,
    frequency_hours=12,
    retention_days=7,
    available_capacity="1.00 TB",
    next_backup=None,
    last_backup=None,
    encryption_cert_thumbprint="AB12",
)


class FakeStamp:
    """The stamp calls the runners make, answered from memory; ``fail`` makes every call raise it."""

    region = "local"
    stamp = StampSettings(name="fake", arm_endpoint="https://adminmanagement.local.azurestack.external", client_id="x")
    update = UpdateLocation("local", "AppliedSuccessfully", "1.2108.0.32")

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: Exception | None = None
        self.backups = [Backup(BACKUP_ID, "Succeeded", created=datetime(2026, 1, 2, tzinfo=UTC))]

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.fail is not None:
            raise self.fail

    def backup_location(self) -> BackupLocation:
        self._call("location")
        return LOCATION

    def list_backups(self) -> list[Backup]:
        self._call("list")
        return list(self.backups)

    def get_backup(self, backup_id: str) -> Backup | None:
        self._call("get")
        return next((b for b in self.backups if b.backup_id == backup_id), None)

    def update_location(self) -> UpdateLocation:
        self._call("update")
        return self.update

    def start_backup(self) -> StartedBackup:
        self._call("start")
        return StartedBackup("9d5a2b1c-0000-4000-8000-000000000001", None, None, None, None)


class FakePoster:
    """Records posts (the announcement) and answers with a message timestamp."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Message]] = []

    def post(self, channel: str, message: Message, **_options: Any) -> str:
        self.posts.append((channel, message))
        return f"{time.time():.6f}"

    def upload_files(self, channel: str, files: list[Any], initial_comment: str, **_options: Any) -> list[str]:
        self.posts.append((channel, Message(text=initial_comment)))
        return [f"F{n}" for n in range(len(files))]


class Bot:
    """A pipeline over two stamps (``east``, the default, and ``west``), wired as bot/app.py wires it."""

    def __init__(self, client: redis.Redis, *, channels: frozenset[str] = frozenset()) -> None:
        self.client = client
        self.stamps = {"east": FakeStamp(), "west": FakeStamp()}
        self.poster = FakePoster()
        self.store = JobStore(client)
        self.audit_log, self.prefs = AuditLog(client), ChannelPrefs(client)
        self.snapshots, self.history = SnapshotStore(client, stale_after=180.0), HistoryStore(client, keep_days=400)
        access = AccessPolicy(frozenset({OPERATOR}), channels=channels)
        services = {
            name: BackupService(
                stamp=name,
                store=self.store,
                arm=cast(ArmClient, stamp),
                poster=cast(SlackPoster, self.poster),
                poll_interval=30.0,
                audit_log=self.audit_log,
                prefs=self.prefs,
                watches=WatchStore(client),
                start_grace=300.0,
                home_cache_seconds=60.0,
                reads=StampReads(
                    name, cast(ArmClient, stamp), self.snapshots, self.history, update_states(SETTINGS), 400
                ),
                reporter=Reporter(
                    HistoryStore(client, keep_days=400),
                    SnapshotStore(client, stale_after=600.0),
                    None,
                    cast(SlackPoster, self.poster),
                ),
            )
            for name, stamp in self.stamps.items()
        }
        self.pipeline = Pipeline(services, access=access, audit_log=self.audit_log, prefs=self.prefs)

    def ask(self, command: Command, user: str = OPERATOR, channel: str = CHANNEL, **request: Any) -> Message:
        route = self.pipeline.route(command, channel)
        return self.pipeline.answer(route, Request(command, user, channel, stamps=("east", "west"), **request))

    def audited(self) -> list[tuple[str, str, str]]:
        return [(e.action, e.stamp, e.outcome) for e in self.audit_log.latest()][::-1]


def private_redis() -> Iterator[RedisServer]:
    """A Redis of these tests' own: the shared web process of the other tests takes over work left in the shared
    one's inbox, and would answer these tests' items itself."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def emptied(server: RedisServer) -> Iterator[redis.Redis]:
    made = connect(server.url)
    made.flushall()
    outage.REDIS.ok()  # a test that stopped a Redis may have left the process thinking Redis is down
    yield made
    made.close()


own_redis = pytest.fixture(scope="module")(private_redis)


@pytest.fixture
def client(own_redis: RedisServer) -> Iterator[redis.Redis]:
    yield from emptied(own_redis)


@pytest.fixture
def bot(client: redis.Redis) -> Bot:
    return Bot(client)


def command_for(verb: Verb, stamp: str | None = None) -> Command:
    """A well-formed command for the row, from the row alone (the Start click and ``stamps use`` included)."""
    return Command(
        verb.action,
        stamp=stamp,
        backup_id=BACKUP_ID if verb.args == Args.BACKUP_ID else None,
        option=verb.choices[-1] if verb.args in (Args.CHOICE, Args.WORDS) else None,
    )


@pytest.mark.parametrize("verb", [v for v in TABLE if not v.in_ack], ids=lambda v: str(v.action))
def test_every_row_is_routed_answered_and_audited(bot: Bot, verb: Verb) -> None:
    message = bot.ask(command_for(verb, stamp="west"))
    assert message.ok, f"{verb.action}: {message.text}"
    assert "Usage" not in message.text
    assert bot.audited() == [(verb.action.value, "west", "ok")]


@pytest.mark.parametrize("verb", [v for v in TABLE if v.in_ack], ids=lambda v: str(v.action))
def test_rows_answered_in_the_ack_do_no_io(bot: Bot, verb: Verb) -> None:
    answer = bot.pipeline.answer_in_ack(command_for(verb), READER, "CANYWHERE")
    assert answer is not None and answer.ok
    assert bot.audited() == [] and all(not s.calls for s in bot.stamps.values())


def test_rows_not_answered_in_the_ack_are_left_for_the_lane(bot: Bot) -> None:
    assert bot.pipeline.answer_in_ack(Command(Action.LIST), OPERATOR, CHANNEL) is None


def test_the_stamp_is_the_named_one_else_the_channels_default_else_the_first(bot: Bot) -> None:
    route = bot.pipeline.route
    assert route(Command(Action.LIST, stamp="WEST"), CHANNEL).stamp == "west"  # names match in any case
    assert route(Command(Action.LIST), CHANNEL).stamp == "east"
    bot.prefs.use_stamp(CHANNEL, "west")
    assert route(Command(Action.LIST), CHANNEL).stamp == "west"
    assert route(Command(Action.LIST), "COTHER").stamp == "east"
    bot.prefs.use_stamp("CGONE", "removed-stamp")  # a default that is no longer configured: the first
    assert route(Command(Action.LIST), "CGONE").stamp == "east"


def test_a_redis_failure_while_choosing_means_the_first_stamp(bot: Bot) -> None:
    bot.pipeline.prefs = ChannelPrefs(connect("redis://127.0.0.1:1/0"))  # nothing listens there
    assert bot.pipeline.route(Command(Action.LIST), CHANNEL).stamp == "east"


@pytest.mark.parametrize(
    ("action", "lane"),
    [(v.action, v.lane) for v in TABLE],
    ids=lambda value: str(value),
)
def test_the_lane_comes_from_the_row(bot: Bot, action: Action, lane: Lane) -> None:
    expected = {
        Lane.READS: "west",
        Lane.OPERATOR: "west" + OPERATOR_LANE,
        Lane.BOT: "",
        Lane.SNAPSHOT: "west" + SNAPSHOT_LANE,
    }[lane]
    assert bot.pipeline.route(Command(action, stamp="west"), CHANNEL).lane == expected


def test_an_unknown_stamp_is_named_only_to_those_allowed_the_command(bot: Bot) -> None:
    route = bot.pipeline.route(Command(Action.AUDIT, stamp="nosuch"), CHANNEL)
    assert route.service is None and route.lane == ""
    refused = bot.ask(Command(Action.AUDIT, stamp="nosuch"), user=READER)
    assert not refused.ok and "only backup operators" in refused.text and "east" not in refused.text
    told = bot.ask(Command(Action.AUDIT, stamp="nosuch"))
    assert not told.ok and "no stamp" in told.text and "east" in told.text and "west" in told.text
    assert bot.audited() == [("audit", "nosuch", "refused or failed")] * 2


@pytest.mark.parametrize("verb", [v for v in TABLE if v.operator_only], ids=lambda v: str(v.action))
def test_operator_rows_refuse_others_before_their_runner_runs(bot: Bot, verb: Verb) -> None:
    message = bot.ask(command_for(verb, stamp="east"), user=READER)
    assert not message.ok and verb.refusal in message.text
    assert bot.stamps["east"].calls == [] and bot.poster.posts == []
    assert bot.audited() == [(verb.action.value, "east", "refused or failed")]


def test_a_channel_outside_the_allow_list_refuses_every_row(client: redis.Redis) -> None:
    bot = Bot(client, channels=frozenset({CHANNEL}))
    for verb in (v for v in TABLE if not v.in_ack):
        message = bot.ask(command_for(verb), channel="COTHER")
        assert not message.ok and "not enabled" in message.text, verb.action
    assert all(not s.calls for s in bot.stamps.values())


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (StampError("HTTP 403 (Forbidden): no permission", status=403), "I could not list backups on east"),
        (redis.ConnectionError("down"), "Redis"),
        (RuntimeError("a bug"), "something went wrong while trying to list backups"),
    ],
)
def test_a_failing_runner_becomes_a_reply_and_is_audited(bot: Bot, failure: Exception, said: str) -> None:
    bot.stamps["east"].fail = failure
    message = bot.ask(Command(Action.LIST))
    assert not message.ok and said in message.text
    assert bot.audited() == [("list", "east", "refused or failed")]


def test_the_start_click_starts_once_and_a_second_click_is_told_who_runs_it(bot: Bot) -> None:
    click = Command(Action.START_CLICK, stamp="east")
    first = bot.ask(click, item_id="click-1")
    assert first.ok and "started infrastructure backup" in first.text
    assert [job.job_id for job in bot.store.active_jobs()] == ["click-1"]  # named after the click's item
    assert [channel for channel, _ in bot.poster.posts] == [CHANNEL]  # announced
    again = bot.ask(click, item_id="click-2")
    assert "already running" in again.text and bot.stamps["east"].calls.count("start") == 1


def test_a_recovered_click_first_tells_how_far_the_dead_process_got(bot: Bot) -> None:
    click = Command(Action.START_CLICK, stamp="east")
    starting = Job(job_id="dead-1", stamp="east", requester=OPERATOR, channel=CHANNEL)
    assert bot.store.reserve(starting, reconcile_after=300) is None
    assert "did not answer the start request" in bot.ask(click, item_id="dead-1", recovered=True).text
    late = time.time() - limits.RECOVERED_START_MAX_AGE - 1
    too_old = bot.ask(click, item_id="never-reserved", recovered=True, received_at=late)
    assert "restarted before it could act" in too_old.text
    assert "start" not in bot.stamps["east"].calls  # neither started a backup


def test_stamps_lists_every_stamp_and_marks_the_channels_default(bot: Bot) -> None:
    bot.prefs.use_stamp(CHANNEL, "west")
    listed = bot.ask(Command(Action.STAMPS))
    assert "`east`" in listed.text and "`west` (this channel's default)" in listed.text


def test_stamps_use_changes_the_default_the_next_command_gets(bot: Bot) -> None:
    assert bot.ask(Command(Action.USE_STAMP, stamp="west")).ok
    assert bot.pipeline.route(Command(Action.LIST), CHANNEL).stamp == "west"
    assert not bot.ask(Command(Action.USE_STAMP, stamp="nosuch")).ok


# --- snapshot reads answered in the ack ------------------------------------------------------------------------------

SNAPSHOT_ROWS = [v for v in TABLE if v.lane == Lane.SNAPSHOT]


def surveyed(bot: Bot, stamp: str = "east") -> None:
    """The snapshot exists (a first read after the ack surveys the stamp and writes it); calls and audit reset."""
    assert bot.ask(Command(Action.LIST, stamp=stamp)).ok
    bot.stamps[stamp].calls.clear()
    bot.client.delete(keys.audit_key())


def in_ack(bot: Bot, command: Command, user: str = READER, channel: str = CHANNEL) -> Message | None:
    return bot.pipeline.answer_from_snapshot(command, user, channel, item_id="item-1")


@pytest.mark.parametrize("verb", SNAPSHOT_ROWS, ids=lambda v: str(v.action))
def test_a_snapshot_row_is_answered_in_the_ack_without_the_stamp_and_audited_once(bot: Bot, verb: Verb) -> None:
    surveyed(bot)
    answer = in_ack(bot, command_for(verb))
    assert answer is not None and answer.ok, verb.action
    assert bot.stamps["east"].calls == []
    assert bot.audited() == [(verb.action.value, "east", "ok")]


@pytest.mark.parametrize(
    "verb", [v for v in SNAPSHOT_ROWS if v.action != Action.HISTORY], ids=lambda v: str(v.action)
)  # history is the bot's own record: it needs no snapshot
def test_with_no_snapshot_yet_a_read_is_left_to_the_after_ack_path(bot: Bot, verb: Verb) -> None:
    assert in_ack(bot, command_for(verb)) is None
    assert bot.stamps["east"].calls == [] and bot.audited() == []  # audited once, by the path that answers


def test_rows_that_are_not_snapshot_reads_are_never_answered_in_the_ack(bot: Bot) -> None:
    surveyed(bot)
    for verb in (v for v in TABLE if v.lane != Lane.SNAPSHOT):
        assert in_ack(bot, command_for(verb), user=OPERATOR) is None, verb.action
    assert bot.audited() == [] and all(not s.calls for s in bot.stamps.values())


def test_show_of_an_id_the_snapshot_and_history_do_not_know_waits_for_the_stamp(bot: Bot) -> None:
    surveyed(bot)
    unknown = "0b1e7c4e-1111-4222-8333-944455556666"
    assert in_ack(bot, Command(Action.SHOW, backup_id=unknown)) is None
    assert bot.stamps["east"].calls == [] and bot.audited() == []
    shown = in_ack(bot, Command(Action.SHOW, backup_id=BACKUP_ID))
    assert shown is not None and BACKUP_ID in shown.text


def test_a_channel_outside_the_allow_list_is_refused_in_the_ack_and_audited(client: redis.Redis) -> None:
    bot = Bot(client, channels=frozenset({CHANNEL}))
    surveyed(bot)
    refused = in_ack(bot, Command(Action.LIST), channel="COTHER")
    assert refused is not None and not refused.ok and "not enabled" in refused.text
    assert bot.audited() == [("list", "east", "refused or failed")]


def test_an_unknown_stamp_is_told_after_the_ack(bot: Bot) -> None:
    surveyed(bot)
    assert in_ack(bot, Command(Action.LIST, stamp="nosuch")) is None and bot.audited() == []


def test_a_redis_known_to_be_down_is_not_asked_in_the_ack(bot: Bot) -> None:
    surveyed(bot)
    outage.REDIS.failed(redis.ConnectionError("down"))
    try:
        assert in_ack(bot, Command(Action.LIST)) is None
    finally:
        outage.REDIS.ok()


def test_a_redis_that_does_not_answer_in_time_leaves_the_read_to_the_after_ack_path(bot: Bot) -> None:
    """The ack path's client has short timeouts: a Redis that accepts and never answers costs it about one."""
    surveyed(bot)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        host, port = silent.getsockname()
        slow = connect(f"redis://{host}:{port}/0", timeout=limits.REDIS_ACK_PATH_TIMEOUT)
        services = bot.pipeline.services
        pipeline = Pipeline(
            services, access=bot.pipeline.access, audit_log=bot.audit_log, prefs=bot.prefs, ack_redis=slow
        )
        began = time.monotonic()
        assert pipeline.answer_from_snapshot(Command(Action.LIST), READER, CHANNEL) is None
        assert time.monotonic() - began < 4 * limits.REDIS_ACK_PATH_TIMEOUT
        assert bot.audited() == [] and bot.stamps["east"].calls == []
        answered = bot.pipeline.answer_from_snapshot(Command(Action.LIST), READER, CHANNEL)  # the real Redis
        assert answered is not None and answered.ok
    finally:
        silent.close()


def test_an_answer_ready_after_the_ack_deadline_is_not_audited_and_left_to_the_after_ack_path(bot: Bot) -> None:
    """A slow (not dead) Redis can pass Slack's 3 s: the late ack would be dropped with its answer, yet audited ok."""
    surveyed(bot)
    began = time.time()
    assert bot.pipeline.answer_from_snapshot(Command(Action.LIST), READER, CHANNEL, deadline=began) is None
    assert bot.audited() == [] and bot.stamps["east"].calls == []
    in_time = bot.pipeline.answer_from_snapshot(Command(Action.LIST), READER, CHANNEL, deadline=time.time() + 60)
    assert in_time is not None and in_time.ok
    assert bot.audited() == [("list", "east", "ok")]  # once, by the path that answered
