"""The Slack side of the pipeline in process (bot/serve/dispatch.py), without Bolt: the admitted item in a real
Redis, the lanes of a real after-ack pool, and the replies recorded instead of sent to a ``response_url``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis

from bot.commands.request import Command
from bot.commands.table import Action
from bot.config import limits
from bot.serve.dispatch import OVER_LIMIT, Dispatcher
from bot.serve.lanes import AfterAckPool
from bot.state import keys
from bot.state.inbox import Inbox, WorkItem
from bot.words.mrkdwn import Message
from devkit.localrun import wait_until
from tests.harness import RedisServer
from tests.unit.commands.test_pipeline import CHANNEL, OPERATOR, Bot, emptied, private_redis

URL = "https://hooks.example/response"


class Replies:
    """What the dispatcher sent, by ``response_url``, with the options it sent it with."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, response_url: str, message: Message, **options: Any) -> None:
        with self._lock:
            self.sent.append((response_url, message, options))

    def to(self, url: str) -> list[Message]:
        with self._lock:
            return [message for sent_to, message, _ in self.sent if sent_to == url]


class Parts:
    def __init__(self, client: redis.Redis, *, per_minute: int = 20, queue: int = 16, lifetime: float = 1800.0):
        self.bot = Bot(client)
        self.inbox = Inbox(client, lease=30.0)
        self.pool = AfterAckPool(1, max_wait=0.0, queue_limit=queue, per_user_per_minute=per_minute)
        self.replies = Replies()
        self.dispatcher = Dispatcher(self.bot.pipeline, self.pool, response_url_lifetime=lifetime, reply=self.replies)
        self.pool.make_durable(self.inbox, self.dispatcher.recover)

    def item(self, command: Command, *, url: str = URL, kind: str = "command", text: str = "") -> WorkItem:
        return command.work_item(kind, user=OPERATOR, channel=CHANNEL, response_url=url, item_id=url, text=text)

    def answered(self, url: str = URL, count: int = 1) -> list[Message]:
        assert wait_until(lambda: len(self.replies.to(url)) >= count, timeout=10), self.replies.sent
        return self.replies.to(url)


own_redis = pytest.fixture(scope="module")(private_redis)


@pytest.fixture
def client(own_redis: RedisServer) -> Iterator[redis.Redis]:
    yield from emptied(own_redis)


@pytest.fixture
def make_parts(client: redis.Redis) -> Iterator[Callable[..., Parts]]:
    """Parts with other limits; each stops taking over work when its test ends, so it cannot answer the next's."""
    made: list[Parts] = []

    def make(**options: Any) -> Parts:
        made.append(Parts(client, **options))
        return made[-1]

    yield make
    for each in made:
        each.pool.stop_recovering()


@pytest.fixture
def parts(make_parts: Callable[..., Parts]) -> Parts:
    return make_parts()


def test_a_command_is_recorded_before_the_ack_answered_in_its_lane_and_then_forgotten(parts: Parts) -> None:
    item = parts.item(Command(Action.LIST))
    assert parts.dispatcher.admit(item) is None
    assert parts.inbox.pending() == 1  # in Redis before the ack: another process could finish it
    parts.dispatcher.dispatch(item)
    [reply] = parts.answered()
    assert "Latest backups on east" in reply.text
    assert parts.replies.sent[0][2] == {"response_type": "ephemeral"}
    assert wait_until(lambda: parts.inbox.pending() == 0, timeout=5)


def test_the_command_the_listener_parsed_is_the_one_answered(parts: Parts) -> None:
    """Parsed once: the item carries ``status``; its text (kept for older processes) is not read again."""
    item = parts.item(Command(Action.STATUS), text="backup list")
    parts.dispatcher.admit(item)
    parts.dispatcher.dispatch(item)
    assert "No backup" in parts.answered()[0].text


def test_the_stamp_is_chosen_once_for_the_lane_and_the_runner(parts: Parts) -> None:
    reads: list[str] = []
    prefs = parts.bot.pipeline.prefs
    default_stamp = prefs.default_stamp

    def counted(channel: str) -> str | None:
        reads.append(channel)
        return default_stamp(channel)

    prefs.default_stamp = counted  # type: ignore[method-assign]
    prefs.use_stamp(CHANNEL, "west")
    item = parts.item(Command(Action.LIST))
    parts.dispatcher.admit(item)
    parts.dispatcher.dispatch(item)
    assert "Latest backups on west" in parts.answered()[0].text
    assert reads == [CHANNEL]


def test_items_recorded_before_commands_were_carried_are_parsed_from_their_text(parts: Parts) -> None:
    """Left by a process that died (its lease lapsed at once), in the old form: taken over and answered."""
    dead = Inbox(parts.inbox.redis, lease=0.0, owner="dead-process")
    assert dead.admit(WorkItem("command", OPERATOR, CHANNEL, URL, text="backup west list", item_id="old-1"))
    assert dead.admit(WorkItem("click", OPERATOR, CHANNEL, URL + "/click", stamp="east", item_id="old-click"))
    assert "Latest backups on west" in parts.answered()[0].text
    assert "started infrastructure backup" in parts.answered(URL + "/click")[-1].text


def test_a_click_says_starting_then_replaces_it_with_the_result(parts: Parts) -> None:
    item = parts.item(Command(Action.START_CLICK, stamp="east"), kind="click")
    parts.dispatcher.admit(item)
    parts.dispatcher.dispatch(item)
    starting, started = parts.answered(count=2)
    assert "Starting a backup on east" in starting.text and "started infrastructure backup" in started.text
    assert all(options == {"replace_original": True} for _, _, options in parts.replies.sent)


def test_over_the_limit_nothing_is_recorded_and_the_refusal_is_audited(make_parts: Callable[..., Parts]) -> None:
    parts = make_parts(per_minute=2)
    items = [parts.item(Command(Action.STATUS), url=f"{URL}/{n}") for n in range(2)]
    assert [parts.dispatcher.admit(item) for item in items] == [None, None]
    click = parts.item(Command(Action.START_CLICK, stamp="east"), url=URL + "/click", kind="click")
    assert parts.dispatcher.admit(click) is None  # the Start click is counted apart from the reads
    late = parts.item(Command(Action.STATUS), url=URL + "/late")
    refusal = parts.dispatcher.admit(late)
    assert refusal is not None and not refusal.ok and "more than 2 commands" in refusal.text
    assert parts.inbox.pending() == 3
    parts.dispatcher.refuse(late, refusal)
    assert wait_until(lambda: any(e.outcome == OVER_LIMIT for e in parts.bot.audit_log.latest()), timeout=5)
    assert parts.replies.to(URL + "/late") == []  # a command was told in its ack


def test_a_full_lane_answers_busy_and_other_stamps_are_not_held_up(make_parts: Callable[..., Parts]) -> None:
    """A stamp's lane (``cancel`` reads the stamp live); the snapshot reads have their own lane, never full."""
    parts = make_parts(queue=1)
    release = threading.Event()
    slow = parts.bot.stamps["east"]
    slow_list = slow.list_backups

    def held() -> Any:
        release.wait(10)
        return slow_list()

    slow.list_backups = held  # type: ignore[method-assign]
    urls = [f"{URL}/{n}" for n in range(3)]
    for url in urls:  # one runs (held), one waits, the third finds the lane full
        item = parts.item(Command(Action.CANCEL), url=url)
        parts.dispatcher.admit(item)
        parts.dispatcher.dispatch(item)
    assert "busy" in parts.answered(urls[2])[0].text
    other = parts.item(Command(Action.CANCEL, stamp="west"), url=URL + "/west")
    parts.dispatcher.admit(other)
    parts.dispatcher.dispatch(other)
    assert "cannot cancel" in parts.answered(URL + "/west")[0].text
    release.set()
    assert all("cannot cancel" in parts.answered(url)[0].text for url in urls[:2])


def test_work_older_than_its_response_url_is_dropped_not_answered(make_parts: Callable[..., Parts]) -> None:
    parts = make_parts(lifetime=60.0)
    dead = Inbox(parts.inbox.redis, lease=0.0, owner="dead-process")
    assert dead.admit(replace(parts.item(Command(Action.LIST)), received_at=time.time() - 61))
    assert wait_until(lambda: parts.inbox.pending() == 0, timeout=10)  # taken over, then dropped
    assert parts.replies.sent == []


def test_each_stamp_has_its_own_bounded_lane_for_snapshot_reads(make_parts: Callable[..., Parts]) -> None:
    """A read after the ack may call the stamp (no snapshot yet: the first read surveys it): an unreachable stamp
    holds up only its own reads, and its lane fills and answers busy, naming the stamp, like its other lanes."""
    parts = make_parts(queue=1)
    release = threading.Event()
    slow = parts.bot.stamps["east"]
    slow_list = slow.list_backups

    def held() -> Any:
        release.wait(30)
        return slow_list()

    slow.list_backups = held  # type: ignore[method-assign]
    try:
        urls = [f"{URL}/{n}" for n in range(3)]
        for url in urls:  # one runs (held), one waits, the third finds east's snapshot lane full
            item = parts.item(Command(Action.LIST), url=url)
            parts.dispatcher.admit(item)
            parts.dispatcher.dispatch(item)
        [busy] = parts.answered(urls[2])
        assert "busy with earlier requests about east " in busy.text and "/snapshot" not in busy.text
        other = parts.item(Command(Action.LIST, stamp="west"), url=URL + "/west")
        parts.dispatcher.admit(other)
        parts.dispatcher.dispatch(other)
        assert "Latest backups on west" in parts.answered(URL + "/west")[0].text  # while east is still held
        assert parts.replies.to(urls[0]) == []
    finally:
        release.set()
    assert all("Latest backups on east" in parts.answered(url)[0].text for url in urls[:2])


def test_a_read_admitted_too_slowly_is_acked_at_once_and_answered_after_the_ack(parts: Parts) -> None:
    """Admission (one Redis round trip) that took over IN_ACK_ADMIT_MAX leaves too little of Slack's 3 s for the
    snapshot read: the ack goes out empty, the after-ack path answers, audited once."""
    warm = parts.item(Command(Action.LIST), url=URL + "/warm")  # the first read surveys the stamp: a snapshot
    parts.dispatcher.admit(warm)
    parts.dispatcher.dispatch(warm)
    parts.answered(URL + "/warm")
    parts.bot.client.delete(keys.audit_key())
    fresh = parts.item(Command(Action.LIST), url=URL + "/fresh")
    parts.dispatcher.admit(fresh)
    answered = parts.dispatcher.answer_from_snapshot(fresh)
    assert answered is not None and "Latest backups on east" in answered.text  # the snapshot answers in the ack
    slow = replace(parts.item(Command(Action.LIST)), received_at=time.time() - limits.IN_ACK_ADMIT_MAX - 0.2)
    parts.dispatcher.admit(slow)
    assert parts.dispatcher.answer_from_snapshot(slow) is None
    parts.dispatcher.dispatch(slow)
    assert "Latest backups on east" in parts.answered()[0].text
    assert wait_until(lambda: len(parts.bot.audited()) == 2, timeout=5)
    assert parts.bot.audited() == [("list", "east", "ok")] * 2  # the fresh one and the slow one, once each
