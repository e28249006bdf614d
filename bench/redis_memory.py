"""Redis memory per finished job, per announced watch pair and per backup in the durable history, and what
retention bounds each to.

    .venv/bin/python -m bench.redis_memory            # 500 jobs, 2,000 pairs (a few seconds)
    .venv/bin/python -m bench.redis_memory --jobs 5000

Spawns its own redis-server, finishes jobs through the real JobStore path (reserve, mark running, claim,
fenced update to notified, with a 23-role result as the simulator reports it), marks watch pairs with
the real WatchStore and records backups (the same 23 roles, one failed) in the real HistoryStore; reads
``used_memory`` before and after each. Prints the table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/redis_memory.py`: make `bench` and `bot` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench.common import Section
from bot.config.settings import Settings
from bot.model.backup import Backup, RoleStatus
from bot.state.history import HistoryStore
from bot.state.job import Job
from bot.state.jobs import DEFAULT_RETENTION_SECONDS, JobStore
from bot.state.keys import job_key
from bot.worker.watch import WatchStore
from devkit.localrun import RedisServer
from devkit.simulator import ROLES

BACKUPS_PER_DAY = 2  # a 12-hour scheduler, the recorded stamps' default


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def finish_jobs(store: JobStore, count: int) -> None:
    result = Backup(
        backup_id=str(uuid.uuid4()),
        status="Succeeded",
        time_taken_seconds=1275.0,
        time_taken_raw="PT21M15.0081024S",
        stamp_version="1.2108.0.32",
        is_automatic=False,
        encryption_cert_thumbprint="7C2E9A41F05B3D86E1A4C9270B5F8D3E6A1C4B97",
        roles=tuple(RoleStatus(r, "Succeeded") for r in ROLES),
        size_kb=1_048_576,
    )
    for _ in range(count):
        job = Job(job_id=Job.new_id(), stamp="bench", requester="U012ABCDEF", channel="C012ABCDEF")
        store.reserve(job, reconcile_after=300.0)
        job.backup_id, job.started_at, job.strategy = str(uuid.uuid4()), time.time(), "azure-async-operation"
        job.poll_url = f"https://adminmanagement.local.azurestack.external/operationResults/{job.backup_id}"
        store.mark_running(job, due_at=time.time())
        claim = store.claim(job.job_id, ttl=60.0)
        assert claim is not None
        store.finish(claim, at=time.time(), result=result, error="")
        store.mark_notified(claim, "1700000000.000100")


def history_backups(count: int, now: float) -> list[Backup]:
    """Backups as a 2108 stamp lists them: 23 roles (one failed), versions, thumbprint, two a day back from now."""
    roles = tuple(RoleStatus(r, "Failed" if i == 0 else "Succeeded") for i, r in enumerate(ROLES))
    return [
        Backup.from_json(
            {
                "name": f"local/{uuid.uuid4()}",
                "properties": {
                    "backupInfo": {
                        "backupId": str(uuid.uuid4()),
                        "status": "PartialSucceeded",
                        "createdDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - i * 43_200)),
                        "timeTakenToCreate": "PT21M15.0081024S",
                        "stampVersion": "1.2108.0.32",
                        "oemVersion": "2.2.2108.1",
                        "isCloudRecoveryReady": True,
                        "completelyUploaded": True,
                        "encryptionCertThumbprint": "7C2E9A41F05B3D86E1A4C9270B5F8D3E6A1C4B97",
                        "roleStatus": [{"roleName": r.role, "status": r.status} for r in roles],
                    }
                },
            }
        )
        or Backup(backup_id="unreadable", status="")
        for i in range(count)
    ]


def measure(jobs: int, pairs: int, history: int = 800) -> Section:
    server = RedisServer()
    server.start()
    try:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        store, watches = JobStore(client), WatchStore(client)
        base = used_memory(client)
        finish_jobs(store, jobs)
        after_jobs = used_memory(client)
        for i in range(pairs):
            watches.mark_announced("bench", str(uuid.uuid4()), f"C{i % 20:09d}")
        after_pairs = used_memory(client)
        HistoryStore(client, keep_days=Settings.history_days).record(
            "bench", history_backups(history, time.time()), time.time()
        )
        after_history = used_memory(client)
        expiring = sum(1 for key in client.scan_iter(job_key("*")) if client.ttl(key) > 0)
    finally:
        server.stop()
    per_job, per_pair = (after_jobs - base) / jobs, (after_pairs - after_jobs) / pairs
    per_entry = (after_history - after_pairs) / history
    days = DEFAULT_RETENTION_SECONDS / 86_400
    section = Section("Redis memory per finished job", ["item", "n", "bytes each", "bounded to (default retention)"])
    section.rows.append(
        [
            "finished job (hash + history)",
            str(jobs),
            f"{per_job:,.0f}",
            f"{per_job * BACKUPS_PER_DAY * days / 1024:,.0f} KiB per stamp",
        ]
    )
    section.rows.append(
        [
            "announced watch pair",
            str(pairs),
            f"{per_pair:,.0f}",
            f"{per_pair * BACKUPS_PER_DAY * days / 1024:,.0f} KiB per watching channel and stamp",
        ]
    )
    section.rows.append(
        [
            "backup in the durable history (issue 19)",
            str(history),
            f"{per_entry:,.0f}",
            f"{per_entry * BACKUPS_PER_DAY * Settings.history_days / 1024:,.0f} KiB per stamp "
            f"(AZS_HISTORY_DAYS {Settings.history_days})",
        ]
    )
    section.notes += [
        f"{expiring} of {jobs} finished job hashes carry a TTL (AZS_JOB_RETENTION_DAYS, default {days:.0f} days).",
        f"'bounded to': {BACKUPS_PER_DAY} backups a day kept {days:.0f} days; before issue 11 job hashes never "
        "expired and the announced set's TTL was renewed on every add, so both grew without end.",
        "used_memory deltas from INFO on a private redis-server; allocator rounding makes small runs noisy.",
        "A history entry: one backup's JSON (id, created, status, duration, kind, versions, cloud-recovery fields, "
        "thumbprint, failed roles by name) in a hash, plus its score in the index; the 23 roles are kept only as the "
        "failed ones' names.",
    ]
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=2000)
    args = parser.parse_args(argv)
    print(measure(args.jobs, args.pairs).text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
