"""The audit trail: every command and click, in a bounded Redis stream and as a JSON log line."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict

import redis

from bot.model.facts import AuditEntry
from bot.state import keys

__all__ = ["MAX_ENTRIES", "AuditEntry", "AuditLog", "entry"]

log = logging.getLogger("azs.audit")

MAX_ENTRIES = 10_000


class AuditLog:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def record(self, entry: AuditEntry) -> None:
        """Log always; store in Redis when it answers (an outage must not block the operator)."""
        log.info("audit %s", json.dumps(asdict(entry), sort_keys=True))
        try:
            self.redis.xadd(
                keys.audit_key(), {k: str(v) for k, v in asdict(entry).items()}, maxlen=MAX_ENTRIES, approximate=True
            )
        except redis.RedisError as exc:
            log.error("audit entry not stored in Redis (%s); it is in this log line only", type(exc).__name__)

    def latest(self, count: int = 20) -> list[AuditEntry]:
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
                )
            )
        return entries


def entry(user: str, channel: str, stamp: str, action: str, outcome: str) -> AuditEntry:
    return AuditEntry(at=time.time(), user=user, channel=channel, stamp=stamp, action=action, outcome=outcome)
