"""Per-channel preferences kept in Redis: the default stamp and whether outcomes go in a thread."""

from __future__ import annotations

import redis

from bot.state import keys


class ChannelPrefs:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def default_stamp(self, channel: str) -> str | None:
        value = self.redis.hget(keys.channel_key(channel), "stamp")
        return None if value is None else str(value)

    def use_stamp(self, channel: str, stamp: str) -> None:
        self.redis.hset(keys.channel_key(channel), "stamp", stamp)

    def threaded(self, channel: str) -> bool:
        """Outcomes are replies in the announcement's thread unless the channel turned that off."""
        return self.redis.hget(keys.channel_key(channel), "threads") != "off"  # the client decodes replies

    def set_threaded(self, channel: str, on: bool) -> None:
        self.redis.hset(keys.channel_key(channel), "threads", "on" if on else "off")
