"""ARM calls for one complete backup: the bot (``/azs backup``, a click on "Start backup", the worker following it
to the end) against what the ``Azs.Backup.Admin`` PowerShell module sent for ``Start-AzsBackup`` in the real
2020 recording (build 1.2002.0.35, Location-style LRO, ``Retry-After: 60``).

The simulator plays the recorded cadence scaled down 60x: Location-style operation, ``Retry-After: 1``,
``AZS_POLL_INTERVAL=1``, a backup of 7 s (the recorded one polled 7 times with 202 before its 200).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from email.utils import parsedate_to_datetime
from pathlib import Path

from bench.common import (
    CHANNEL,
    OPERATOR,
    SIGNING_SECRET,
    STAMP,
    Section,
)
from bench.lab import Lab
from bot.words.replies import START_ACTION_ID
from devkit.localrun import BotProcess, SlackRequests, launch_web, wait_until
from devkit.simulator import RequestRecord

RECORDING = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "azs-recordings"
    / "recordings-2020-build2002"
    / "Start-AzsBackup.Recording.json"
)  # ../shared beside the project
BACKUP_SECONDS = 7.0
# Row order and labels: what each simulator request kind is.
KINDS = (
    ("metadata", "GET /metadata/endpoints"),
    ("openid-configuration", "GET openid-configuration (MSAL)"),
    ("token", "POST token (client credentials)"),
    ("subscriptions", "GET /subscriptions (discovery)"),
    ("locations", "GET .../locations (discovery)"),
    ("backupLocation", "GET backupLocation"),
    ("backups", "GET backups (list)"),
    ("createBackup", "POST createBackup"),
    ("operationResults 202", "GET operationResults -> 202 (running)"),
    ("operationResults 200", "GET operationResults -> 200 (final)"),
    ("asyncOperation", "GET async operation"),
    ("backup", "GET backups/{id}"),
)


def key(record: RequestRecord) -> str:
    return f"{record.kind} {record.status}" if record.kind == "operationResults" else record.kind


def recorded() -> tuple[Counter[str], list[float]]:
    """Request kinds of the recorded Start-AzsBackup, and the gaps between its polls (from Date headers)."""
    entries = json.loads(RECORDING.read_text())
    counts: Counter[str] = Counter()
    polls: list[float] = []
    for name, entry in entries.items():
        if "Start-AzsBackup" not in name:
            continue
        method, uri = entry["Request"]["Method"], entry["Request"]["RequestUri"].lower()
        status = int(entry["Response"]["StatusCode"])
        if method == "POST" and "/createbackup" in uri:
            counts["createBackup"] += 1
        elif method == "GET" and "/operationresults/" in uri:
            counts[f"operationResults {status}"] += 1
            date = entry["Response"]["Headers"].get("Date", [None])[0]
            if date:
                polls.append(parsedate_to_datetime(date).timestamp())
        else:
            counts[f"{method} {uri}"] += 1
    return counts, [b - a for a, b in itertools.pairwise(polls)]


def run(lab: Lab) -> Section:
    lab.flush_redis()
    sim = lab.simulator(retry_after=1, backup_seconds=BACKUP_SECONDS, lro_style="location")
    env = lab.bot_env(sim, poll_interval=1)
    processes: list[BotProcess] = []
    try:
        web, base = launch_web(env, lab.log_dir, healthy=True)
        processes.append(web)
        processes.append(BotProcess("worker", env, lab.log_dir))
        client = SlackRequests(base, SIGNING_SECRET, lab.slack.response_url)
        _, hook = client.command("backup", user=OPERATOR, channel=CHANNEL)
        if not wait_until(
            lambda: any(START_ACTION_ID in json.dumps(p.payload) for p in lab.slack.hook_posts(hook)), timeout=20
        ):
            raise RuntimeError("no confirmation card")
        card_end = len(sim.requests_log)
        _, hook = client.click(START_ACTION_ID, user=OPERATOR, channel=CHANNEL, value=STAMP)
        if not wait_until(
            lambda: any(c.payload.get("thread_ts") for c in lab.slack.calls("chat.postMessage")),
            timeout=BACKUP_SECONDS + 30,
        ):
            raise RuntimeError("the backup was never reported")
        wait_until(lambda: False, timeout=1.5)  # anything the worker still sends after posting
        log = sim.requests_log
    finally:
        for process in processes:
            process.stop()
        sim.stop()
        lab.slack.clear()
    created = next(i for i, r in enumerate(log) if r.kind == "createBackup")
    phases = {"card": log[:card_end], "start": log[card_end : created + 1], "worker": log[created + 1 :]}
    return section(phases)


def section(phases: dict[str, list[RequestRecord]]) -> Section:
    ps, gaps = recorded()
    counts = {name: Counter(key(r) for r in records) for name, records in phases.items()}
    total: Counter[str] = sum(counts.values(), Counter())
    out = Section(
        "4. Requests to the stamp for one complete backup: bot vs PowerShell Start-AzsBackup",
        [
            "request",
            "PowerShell (recording)",
            "bot web: /azs backup card",
            "bot web: Start click",
            "bot worker",
            "bot total",
        ],
    )
    known = {k for k, _ in KINDS}
    for kind, label in (*KINDS, *((k, k) for k in sorted(set(total) - known))):
        if total[kind] or ps[kind]:
            out.rows.append(
                [
                    label,
                    str(ps[kind]),
                    str(counts["card"][kind]),
                    str(counts["start"][kind]),
                    str(counts["worker"][kind]),
                    str(total[kind]),
                ]
            )
    arm_total = sum(n for k, n in total.items() if k not in ("metadata", "openid-configuration", "token"))
    out.rows.append(
        [
            "all requests",
            str(sum(ps.values())),
            str(sum(counts["card"].values())),
            str(sum(counts["start"].values())),
            str(sum(counts["worker"].values())),
            str(sum(total.values())),
        ]
    )
    out.rows.append(["ARM requests only (no login)", str(sum(ps.values())), "", "", "", str(arm_total)])
    worker_polls = [r.time for r in phases["worker"] if r.kind in ("operationResults", "asyncOperation")]
    bot_gaps = [b - a for a, b in itertools.pairwise(worker_polls)]
    mean_gap = sum(bot_gaps) / len(bot_gaps) if bot_gaps else float("nan")
    out.notes += [
        f"PowerShell: {sum(ps.values())} requests in the recording: createBackup, then polls "
        f"{sum(gaps) / len(gaps):.1f} s apart on average with Retry-After 60 ({sum(gaps) / len(gaps) / 60:.2f}x "
        "Retry-After). Its login (Connect-AzAccount, token cache) is outside the recording; the module asks "
        "nothing else and reads no backup location before starting.",
        f"Bot at the scaled cadence: worker polls {mean_gap:.2f} s apart on average with Retry-After 1 and "
        f"AZS_POLL_INTERVAL 1 ({mean_gap:.2f}x Retry-After), so polling matches the module's one for one; the "
        f"{BACKUP_SECONDS:.0f} s backup is a little shorter than the recorded one scaled 60x (8 min 4 s -> 8.1 s), "
        "hence one poll fewer.",
        "The web process and the worker each discover on first use: /metadata/endpoints, the OpenID "
        "configuration, a token, the subscription (no AZS_SUBSCRIPTION_ID) and the region (no AZS_LOCATION); "
        "these happen once per process, not per backup. Later backups cost the card, the start and the polls.",
    ]
    return out
