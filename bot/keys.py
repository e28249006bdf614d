"""Every Redis key name the bot uses, in one place (no key literal appears anywhere else)."""

from __future__ import annotations

PREFIX = "azs"


def job_key(job_id: str) -> str:
    """Hash holding one backup job (see :mod:`bot.jobs`)."""
    return f"{PREFIX}:job:{job_id}"


def lease_key(job_id: str) -> str:
    """Short-lived claim on a job by one worker; its value is that worker's claim token."""
    return f"{PREFIX}:lease:{job_id}"


def stamp_lock_key(stamp: str) -> str:
    """Id of the job whose backup runs on ``stamp``: the one-backup-per-stamp rule."""
    return f"{PREFIX}:stamp:{stamp}:active"


def due_key() -> str:
    """Sorted set of job ids scored by the unix time of their next poll."""
    return f"{PREFIX}:due"


def active_jobs_key() -> str:
    """Set of job ids not yet reported, for ``/azs backup status``."""
    return f"{PREFIX}:jobs:active"


def history_key(stamp: str) -> str:
    """Recent finished job ids of a stamp, newest first (bounded list)."""
    return f"{PREFIX}:stamp:{stamp}:history"


def audit_key() -> str:
    """Stream of audit entries (bounded)."""
    return f"{PREFIX}:audit"


def meta_key() -> str:
    """Hash of facts about the Redis data itself (its epoch), to notice when it was emptied."""
    return f"{PREFIX}:meta"


def health_key(component: str) -> str:
    """A problem one process found that every process's ``/healthz`` should report (expiring)."""
    return f"{PREFIX}:health:{component}"
