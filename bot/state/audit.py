"""The audit trail: every command and click, in a bounded Redis stream and as a JSON log line.

The stream keeps the latest ~10,000 entries, so a flood of refusals from one user would push real entries
out. A refusal that repeats one within a minute (same user, channel, stamp, action and outcome) is
counted instead: its entry is replaced, in one script, by one carrying the new count, the first time
and the latest time. A log line is written for the first refusal and at each power of ten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict

import redis

from bot.config.limits import AUDIT_MAX_ENTRIES, AUDIT_REPEAT_WINDOW_SECONDS
from bot.model.facts import AuditEntry
from bot.state import keys

__all__ = ["AuditEntry", "AuditLog", "entry"]

log = logging.getLogger("azs.audit")


# Add a refusal, or count it on the entry of the same refusal in the last minute.
# KEYS: stream, repeat key. ARGV: max entries, window seconds, now, then field/value pairs (no count/first_at).
# Returns the entry's count.
_COUNT_REPEAT = """
local count, first_at = 1, ARGV[3]
local previous = redis.call('GET', KEYS[2])
if previous then
  local found = redis.call('XRANGE', KEYS[1], previous, previous)
  if #found > 0 then
    local fields = found[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'count' then count = tonumber(fields[i + 1]) + 1 end
      if fields[i] == 'first_at' then first_at = fields[i + 1] end
    end
    redis.call('XDEL', KEYS[1], previous)
  end
end
local entry = {}
for i = 4, #ARGV do table.insert(entry, ARGV[i]) end
table.insert(entry, 'count')
table.insert(entry, tostring(count))
table.insert(entry, 'first_at')
table.insert(entry, first_at)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(entry))
redis.call('SET', KEYS[2], id, 'EX', ARGV[2])
return count
"""


class AuditLog:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._count_repeat = client.register_script(_COUNT_REPEAT)

    def record(self, entry: AuditEntry) -> None:
        """Log and store in Redis when it answers (an outage must not block the operator); refusals that
        repeat within a minute are counted on one entry."""
        fields = _fields(entry)
        try:
            if entry.outcome == "ok":
                self.redis.xadd(keys.audit_key(), fields, maxlen=AUDIT_MAX_ENTRIES, approximate=True)  # type: ignore[arg-type]
                count = 1
            else:
                count = self._add_refusal(entry, fields)
        except redis.RedisError as exc:
            log.info("audit %s", json.dumps(_logged(entry), sort_keys=True))
            log.error("audit entry not stored in Redis (%s); it is in this log line only", type(exc).__name__)
            return
        if _power_of_ten(count):  # a flood leaves a few lines, each saying how many so far
            log.info("audit %s", json.dumps({**_logged(entry), "count": count}, sort_keys=True))

    def _add_refusal(self, entry: AuditEntry, fields: dict[str, str]) -> int:
        same = "\0".join((entry.user, entry.channel, entry.stamp, entry.action, entry.outcome))
        repeat_key = keys.audit_repeat_key(hashlib.sha256(same.encode()).hexdigest()[:40])
        pairs = [part for item in fields.items() for part in item]
        count = self._count_repeat(
            keys=[keys.audit_key(), repeat_key],
            args=[AUDIT_MAX_ENTRIES, AUDIT_REPEAT_WINDOW_SECONDS, fields["at"], *pairs],
        )
        return int(count)

    def latest(self, count: int = 20) -> list[AuditEntry]:
        """Newest first; a counted refusal carries how often it came, and since when."""
        entries = []
        for _id, fields in self.redis.xrevrange(keys.audit_key(), count=count) or []:
            data = {
                (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                for k, v in (fields or {}).items()
            }
            entries.append(
                AuditEntry(
                    at=float(data.get("at", 0)),
                    user=data.get("user", ""),
                    channel=data.get("channel", ""),
                    stamp=data.get("stamp", ""),
                    action=data.get("action", ""),
                    outcome=data.get("outcome", ""),
                    count=int(data.get("count") or 1),
                    first_at=float(data.get("first_at") or 0),
                )
            )
        return entries


def _logged(entry: AuditEntry) -> dict[str, object]:
    """The entry as it is logged and stored: the count and the first time are the store's to keep."""
    return {k: v for k, v in asdict(entry).items() if k not in ("count", "first_at")}


def _fields(entry: AuditEntry) -> dict[str, str]:
    return {k: str(v) for k, v in _logged(entry).items()}


def _power_of_ten(count: int) -> bool:
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count == 1


def entry(user: str, channel: str, stamp: str, action: str, outcome: str) -> AuditEntry:
    return AuditEntry(at=time.time(), user=user, channel=channel, stamp=stamp, action=action, outcome=outcome)
