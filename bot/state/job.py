"""One backup job as it is kept in Redis, and a worker's claim on it.

States::

    starting --createBackup 202--> running --terminal status--> finished --posted--> notified
        \\--createBackup failed--> start_failed

Only :class:`bot.state.jobs.JobStore` writes a job; everything else reads these plain values.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from bot.model.backup import Backup


class JobState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    FINISHED = "finished"
    NOTIFIED = "notified"
    START_FAILED = "start_failed"


@dataclass
class Job:
    """One backup the bot started, as stored in its Redis hash (all fields round-trip as strings)."""

    job_id: str
    stamp: str
    requester: str
    channel: str
    state: JobState = JobState.STARTING
    requested_at: float = field(default_factory=time.time)
    backup_id: str = ""
    started_at: float = 0.0
    start_ts: str = ""
    strategy: str = ""
    """The name of the strategy that follows it (:mod:`bot.stamp.lro`), as last chosen."""
    poll_url: str = ""
    """The operation URL ``createBackup`` named to poll (``Azure-AsyncOperation``, else ``Location``); empty
    once the backup is followed by id."""
    location_url: str = ""
    """``createBackup``'s ``Location``, kept apart: where the final state is read after an async operation."""
    correlation_id: str = ""
    finished_at: float = 0.0
    result: str = ""
    error: str = ""
    poll_failures: int = 0
    overdue_reported: int = 0
    """1 once the overdue notice is in the channel (older versions: once it was tried)."""
    overdue_attempts: int = 0
    overdue_ts: str = ""
    post_attempts: int = 0
    threaded: int = 1
    progress_at: float = 0.0
    notified_ts: str = ""
    announce_attempts: int = 0
    announce_given_up: int = 0
    """1 once the start announcement was refused too often: the outcome then says so and stands alone."""
    fence: int = 0

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    @property
    def announcement_pending(self) -> bool:
        """A started backup whose announcement is neither in the channel nor given up on."""
        return bool(self.backup_id) and not self.start_ts and not self.announce_given_up

    @property
    def backup(self) -> Backup | None:
        """The final backup, once the job has one."""
        return Backup.from_dict(json.loads(self.result)) if self.result else None

    def log_fields(self) -> dict[str, str]:
        """Log fields that tie a line to this backup (``extra=``; see :data:`bot.ops.logs.CONTEXT_FIELDS`)."""
        return {
            "job_id": self.job_id,
            "backup_id": self.backup_id,
            "stamp": self.stamp,
            "correlation_id": self.correlation_id,
        }

    def to_mapping(self) -> Mapping[Any, Any]:
        """Hash fields for Redis; ``fence`` is only ever changed by a claim."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if f.name != "fence"}

    @classmethod
    def from_fields(cls, data: dict[str, str]) -> Job:
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            if f.type in ("float", float):
                kwargs[f.name] = float(raw or 0)
            elif f.type in ("int", int):
                kwargs[f.name] = int(raw or 0)
            elif f.name == "state":
                kwargs[f.name] = JobState(raw)
            else:
                kwargs[f.name] = raw
        return cls(**kwargs)


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a job: the lease token and the fencing number it was given."""

    job: Job
    token: str
    fence: int
