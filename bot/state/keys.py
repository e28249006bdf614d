"""Every Redis key name the bot uses, in one place (no key literal appears anywhere else)."""

from __future__ import annotations

PREFIX = "azs"


def job_key(job_id: str) -> str:
    """Hash holding one backup job (see :mod:`bot.state.job`)."""
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


def fenced_update_keys(job_id: str, stamp: str) -> list[str]:
    """The keys one fenced write of a job touches, in the order its Lua script names them (``KEYS[1..6]``)."""
    return [job_key(job_id), lease_key(job_id), due_key(), active_jobs_key(), stamp_lock_key(stamp), history_key(stamp)]


def audit_key() -> str:
    """Stream of audit entries (bounded)."""
    return f"{PREFIX}:audit"


def meta_key() -> str:
    """Hash of facts about the Redis data itself (its epoch), to notice when it was emptied."""
    return f"{PREFIX}:meta"


def health_key(component: str) -> str:
    """A problem one process found that every process's ``/healthz`` should report (expiring)."""
    return f"{PREFIX}:health:{component}"


def channel_key(channel: str) -> str:
    """Hash of one channel's preferences: default stamp, threading."""
    return f"{PREFIX}:channel:{channel}"


def watchers_key(stamp: str) -> str:
    """Hash channel -> "mode since" for channels watching every backup of ``stamp``."""
    return f"{PREFIX}:stamp:{stamp}:watchers"


def watch_announced_key(stamp: str) -> str:
    """Sorted set of "backup_id channel" pairs already announced by the watcher, scored by when."""
    return f"{PREFIX}:stamp:{stamp}:watch:announced"


def watch_turn_key(stamp: str) -> str:
    """Expiring key: whoever sets it checks ``stamp``'s backup list this interval (one list per stamp)."""
    return f"{PREFIX}:stamp:{stamp}:watch:turn"


def stale_alert_key(stamp: str) -> str:
    """Expiring key: an "overdue backups" alert was sent for ``stamp`` within the last day."""
    return f"{PREFIX}:stamp:{stamp}:watch:stale-alert"


def replica_ack_key() -> str:
    """Counter written just before ``WAIT``, so the wait covers every earlier write (:mod:`bot.state.connection`)."""
    return f"{PREFIX}:replica-ack"


def envelope_key(envelope_id: str) -> str:
    """Expiring key: a Socket Mode envelope was acted on (redelivered copies are only acked)."""
    return f"{PREFIX}:socket:envelope:{envelope_id}"


def inbox_items_key() -> str:
    """Hash item id -> JSON of acknowledged work not yet finished (see :mod:`bot.state.inbox`)."""
    return f"{PREFIX}:inbox:items"


def inbox_owners_key() -> str:
    """Hash item id -> the process doing that work."""
    return f"{PREFIX}:inbox:owners"


def inbox_leases_key() -> str:
    """Sorted set of item ids scored by when their owner's hold runs out (then any process takes them)."""
    return f"{PREFIX}:inbox:leases"


def replay_key(signature: str) -> str:
    """Expiring key: a request with this signature (``v0=<hex>``) was taken; the same bytes again are a replay."""
    return f"{PREFIX}:front:signature:{signature.removeprefix('v0=')}"


def delivery_key(digest: str) -> str:
    """Expiring key: a Slack delivery (a digest of its event_id or trigger_id) was taken; a retry is not acted on."""
    return f"{PREFIX}:front:delivery:{digest}"


def user_limit_key(user: str, budget: str, window: int) -> str:
    """Counter of one user's commands and clicks of one ``budget`` (reads, operator work) in one minute
    (``window``: minutes since the epoch), expiring."""
    return f"{PREFIX}:limit:user:{user}:{budget}:{window}"


def audit_repeat_key(digest: str) -> str:
    """Expiring key: the audit entry (stream id) a repeated refusal adds its count to, for a minute."""
    return f"{PREFIX}:audit:repeat:{digest}"


# Issue 19: the durable backup history and the per-stamp snapshot.
def backup_history_index_key(stamp: str) -> str:
    """Sorted set of backup ids of ``stamp`` ever seen, scored by their creation time (pruned by score)."""
    return f"{PREFIX}:stamp:{stamp}:backups:by-created"


def backup_history_entries_key(stamp: str) -> str:
    """Hash backup id -> compact JSON of what the bot last saw of that backup (:mod:`bot.model.history`)."""
    return f"{PREFIX}:stamp:{stamp}:backups:entries"


def snapshot_key(stamp: str) -> str:
    """JSON of what the bot last read from ``stamp`` (location, backup list, update location, last error)."""
    return f"{PREFIX}:stamp:{stamp}:snapshot"


def snapshot_turn_key(stamp: str) -> str:
    """Expiring key: whoever sets it refreshes ``stamp``'s snapshot this interval (one reader per stamp)."""
    return f"{PREFIX}:stamp:{stamp}:snapshot:turn"


def capacity_key(stamp: str) -> str:
    """Sorted set of ``availableCapacity`` samples of ``stamp``, scored by when read (bounded by count)."""
    return f"{PREFIX}:stamp:{stamp}:capacity"


def config_changes_key(stamp: str) -> str:
    """List of the backup configuration values of ``stamp`` each time they changed, oldest first (bounded)."""
    return f"{PREFIX}:stamp:{stamp}:config:changes"


def update_window_current_key(stamp: str) -> str:
    """JSON of when ``stamp``'s update state was last noted and its window still open (an update pauses backups)."""
    return f"{PREFIX}:stamp:{stamp}:update-windows:current"


def update_windows_key(stamp: str) -> str:
    """Sorted set of ``stamp``'s closed update windows (JSON), scored by their end (pruned by it)."""
    return f"{PREFIX}:stamp:{stamp}:update-windows:closed"


def watch_notice_key(stamp: str, notice: str, channel: str) -> str:
    """Expiring key: the watch posted ``notice`` (an update began or ended, no backup on a version, no permission)
    about ``stamp`` in ``channel``; set with NX, so two workers post it once."""
    return f"{PREFIX}:stamp:{stamp}:watch:notice:{notice}:{channel}"
