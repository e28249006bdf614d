"""Acknowledged work that outlives its process: each click or command is in Redis before Slack gets the ack.

Slack does not resend a command or a click, so once the ack is out the work exists only where the
bot keeps it. :meth:`Inbox.admit` counts the request against its user's per-minute limit and, within
it, writes the item, its owner and a lease, in one round trip; the owner renews the leases of what it
holds and deletes each item when its reply is sent. Any web process takes over items whose lease ran
out (their owner died or froze), so the user still gets an answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field

import redis

from bot.config.limits import INBOX_LEASE_SECONDS, ORPHANS_PER_TURN, USER_LIMIT_COUNTER_TTL
from bot.state import keys

# Take over expired items. KEYS: leases, owners, items. ARGV: now, new expiry, owner, limit.
# Returns a flat list: id, json, id, json...
_TAKE_ORPHANS = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(ids) do
  local item = redis.call('HGET', KEYS[3], id)
  if item then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    redis.call('HSET', KEYS[2], id, ARGV[3])
    table.insert(out, id)
    table.insert(out, item)
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
end
return out
"""

# Count the request against its user's limit; only within it, record item, owner and lease.
# KEYS: items, owners, leases, the user's counter for this minute and for the last ("": no limit).
# ARGV: id, json, owner, lease expiry, limit, counter TTL, weight of the last minute's count.
# Returns 1 (recorded) or 0 (over the limit).
_ADMIT = """
if KEYS[4] ~= '' then
  local count = redis.call('INCR', KEYS[4])
  if count == 1 then redis.call('EXPIRE', KEYS[4], ARGV[6]) end
  local previous = tonumber(redis.call('GET', KEYS[5]) or '0')
  if count + previous * tonumber(ARGV[7]) > tonumber(ARGV[5]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"""

# Renew the holds of one owner. KEYS: leases, owners. ARGV: new expiry, owner, ids...
_RENEW = """
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[2] then redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i]) end
end
return 1
"""


def item_id_for(kind: str, slack_id: str) -> str:
    """An item id named after Slack's id for the request (its ``trigger_id``), or a random one without it.

    A click's job is named after its item, so a copy of the click that got past the front door (Redis
    was down there) finds the job the first one reserved instead of starting another backup.
    """
    if not slack_id:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{kind}:{slack_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class WorkItem:
    """What a listener must still do after its ack, with everything needed to do it anywhere."""

    kind: str
    """``command`` (``/azs``) or ``click`` (the Start button)."""
    user: str
    channel: str
    response_url: str
    text: str = ""
    """The command as typed; still written so an older process can read the item."""
    stamp: str = ""
    """The stamp the command names, or the clicked card's stamp ("": none)."""
    action: str = ""
    """The parsed command's action (a word of the command table); "" in an item written before it was stored."""
    backup_id: str = ""
    option: str = ""
    item_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    received_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """Every field is a str or a float: ``vars`` is enough (``asdict`` deep-copies, on the ack path)."""
        return json.dumps(vars(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> WorkItem:
        data = json.loads(raw)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Counter:
    """Where one request is counted: this minute's counter, last minute's, and how much of last minute's
    count still falls within the sliding minute (1 at the turn of the minute, 0 at its end)."""

    current: str
    previous: str
    previous_weight: float
    limit: int


class Inbox:
    """The items in Redis. ``owner`` names this process (host and pid, plus a random part)."""

    def __init__(self, client: redis.Redis, *, lease: float = INBOX_LEASE_SECONDS, owner: str | None = None) -> None:
        self.redis = client
        self.lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._take = client.register_script(_TAKE_ORPHANS)
        self._renew = client.register_script(_RENEW)
        self._admit = client.register_script(_ADMIT)

    def admit(self, item: WorkItem, counter: Counter | None = None) -> bool:
        """Item, owner and lease in one round trip, after counting the request on its user's ``counter``
        (``None``: no limit): ``False``, and nothing recorded, past the counter's limit."""
        counted = [counter.current, counter.previous] if counter else ["", ""]
        admitted = self._admit(
            keys=[keys.inbox_items_key(), keys.inbox_owners_key(), keys.inbox_leases_key(), *counted],
            args=[
                item.item_id,
                item.to_json(),
                self.owner,
                time.time() + self.lease,
                counter.limit if counter else 0,
                USER_LIMIT_COUNTER_TTL,
                counter.previous_weight if counter else 0,
            ],
        )
        return bool(int(admitted))

    def renew(self, item_ids: list[str]) -> None:
        if item_ids:
            self._renew(
                keys=[keys.inbox_leases_key(), keys.inbox_owners_key()],
                args=[time.time() + self.lease, self.owner, *item_ids],
            )

    def mine(self, item_id: str) -> bool:
        """Still this process's to do: false once another process took it over (this one froze)."""
        owner = self.redis.hget(keys.inbox_owners_key(), item_id)
        return owner is not None and _text(owner) == self.owner

    def finish(self, item_id: str) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hdel(keys.inbox_items_key(), item_id)
            pipe.hdel(keys.inbox_owners_key(), item_id)
            pipe.zrem(keys.inbox_leases_key(), item_id)
            pipe.execute()

    def take_orphans(self, limit: int = ORPHANS_PER_TURN) -> list[WorkItem]:
        """Items whose owner stopped renewing them, now held by this process."""
        now = time.time()
        flat = self._take(
            keys=[keys.inbox_leases_key(), keys.inbox_owners_key(), keys.inbox_items_key()],
            args=[now, now + self.lease, self.owner, limit],
        )
        return [WorkItem.from_json(flat[i + 1]) for i in range(0, len(flat), 2)]

    def pending(self) -> int:
        return int(self.redis.hlen(keys.inbox_items_key()))
