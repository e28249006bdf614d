"""Finding 8 of issue 11: Redis stays bounded. Finished jobs expire; announced pairs age out one by one."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from bot.state.keys import job_key, watch_announced_key
from bot.worker.watch import ANNOUNCED_MEMORY_SECONDS, WatchStore
from devkit.localrun import BotProcess
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import SlackClientSim, completions, wait_until


def test_a_reported_job_expires_and_list_and_show_still_work_from_the_stamp(
    slack: SlackClientSim,
    fake_slack: FakeSlack,
    stamp: StampSimulator,
    redis_client: redis.Redis,
    start_worker: Callable[..., BotProcess],
) -> None:
    backup_id = slack.start_backup()
    start_worker(AZS_JOB_RETENTION_DAYS="2")
    assert wait_until(lambda: len(completions(fake_slack)) == 1, timeout=20)
    [key] = redis_client.keys(job_key("*"))
    assert wait_until(lambda: redis_client.hget(key, "state") == b"notified", timeout=5)
    assert 2 * 86_400 - 60 < redis_client.ttl(key) <= 2 * 86_400
    redis_client.delete(key)  # as if the retention had passed
    _, hook = slack.command("backup list")
    assert backup_id in str(slack.wait_reply(hook, "Latest backups"))
    _, hook = slack.command(f"backup show {backup_id}")
    assert "Roles" in str(slack.wait_reply(hook, backup_id))


def test_announced_pairs_expire_one_by_one_while_the_stamp_stays_watched(redis_client: redis.Redis) -> None:
    store = WatchStore(redis_client)
    store.mark_announced("east", "old-backup", "C1")
    key = watch_announced_key("east")
    redis_client.zadd(key, {"old-backup C1": time.time() - ANNOUNCED_MEMORY_SECONDS - 60})  # announced long ago
    store.mark_announced("east", "new-backup", "C1")
    assert store.announced("east", "old-backup", ["C1"]) == [False]
    assert store.announced("east", "new-backup", ["C1", "C2"]) == [True, False]
    assert 0 < redis_client.ttl(key) <= ANNOUNCED_MEMORY_SECONDS


def test_the_set_earlier_versions_kept_is_converted_without_announcing_again(redis_client: redis.Redis) -> None:
    redis_client.sadd(watch_announced_key("east"), "b1 C1", "b2 C1")
    store = WatchStore(redis_client)
    assert store.announced("east", "b1", ["C1", "C2"]) == [True, False]
    store.mark_announced("east", "b3", "C1")
    assert redis_client.type(watch_announced_key("east")) == b"zset"
    assert store.announced("east", "b2", ["C1"]) == [True]
