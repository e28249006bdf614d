"""Poller scale: one in-process Poller following one running backup on each of 1..200 simulated stamps.

Jobs are created the way ``BackupService.start`` creates them (reserve, ``createBackup``, mark_running due
now); then every cycle makes every job due and times ``Poller.run_once``. Requests are counted from the
simulators' logs, Redis commands from ``INFO commandstats``, Redis round trips on the client, TCP+TLS
connects by timing urllib3's ``HTTPSConnection.connect``.

The simulator keeps connections alive, as ARM does; 200 stamps are measured once more against a farm patched
to answer HTTP/1.0 (one request per connection, as the simulator did until 8dd66ad), for what a new TLS
connection per poll costs.
"""

from __future__ import annotations

import contextlib
import cProfile
import dataclasses
import json
import pstats
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis
import urllib3.connection

from bench.common import BOT_TOKEN, CHANNEL, OPERATOR, ROOT, Section, rss_mb, simulator_http, verdict
from bench.lab import Lab
from bot.app import assemble_worker
from bot.config.settings import Settings, load_settings
from bot.config.stamps import StampSettings, load_stamp
from bot.slack.client import SlackPoster, make_web_client
from bot.stamp import lro
from bot.stamp.arm import ArmClient
from bot.state.connection import make_redis
from bot.state.health import Health
from bot.state.job import Job
from bot.state.jobs import JobStore

SIZES = (1, 10, 100, 200)
CYCLES = 6
PROFILED_CYCLES = 3
MICRO_POLLS = 240
TARGET_CYCLE_SECONDS = 1.0
TARGET_ROUND_TRIPS = 3.0
FAR_FUTURE = 10**6  # seconds added to "now" so that every job is due in the measured cycle
NOT_ARM = frozenset({"token", "metadata", "openid-configuration"})


class StampFarm:
    """The ``bench.stamps`` child process: N simulators as they are, or patched to close every connection."""

    def __init__(self, count: int, state_dir: str, *, close: bool = False) -> None:
        command = [sys.executable, "-m", "bench.stamps", "--count", str(count), "--state-dir", state_dir]
        self.http = "HTTP/1.0 (patched farm)" if close else f"{simulator_http()} (simulator)"
        self.process = subprocess.Popen(
            command + (["--close"] if close else []), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.envs: list[dict[str, str]] = self._read()["envs"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the stamp farm exited")
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def counts(self) -> Counter[str]:
        return Counter({k: int(v) for k, v in self.ask("counts").items()})

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Timer:
    """Thread-safe count and total seconds of some call."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.calls += 1
            self.seconds += seconds

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.add(time.perf_counter() - started)

        return timed

    def snapshot(self) -> tuple[int, float]:
        with self._lock:
            return self.calls, self.seconds


CONNECTS = Timer()


@contextlib.contextmanager
def timed_connects() -> Iterator[None]:
    """Time every HTTPS connect (TCP + TLS handshake) urllib3 makes in this process."""
    original = urllib3.connection.HTTPSConnection.connect
    urllib3.connection.HTTPSConnection.connect = CONNECTS.wrap(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        urllib3.connection.HTTPSConnection.connect = original  # type: ignore[method-assign]


class ThreadProfiles:
    """cProfile follows one thread; the poller works in a pool, so each pool thread gets its own profiler.

    The clock is the thread's CPU time: with 16 threads on one GIL, wall time would charge each function for
    the time its thread waited for the GIL, which says nothing about where the CPU goes.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.profiles: list[cProfile.Profile] = []

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def profiled(*args: Any, **kwargs: Any) -> Any:
            profile: cProfile.Profile | None = getattr(self._local, "profile", None)
            if profile is None:
                profile = self._local.profile = cProfile.Profile(time.thread_time)
                with self._lock:
                    self.profiles.append(profile)
            profile.enable()
            try:
                return func(*args, **kwargs)
            finally:
                profile.disable()

        return profiled

    def stats(self) -> pstats.Stats:
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            stats.add(profile)
        return stats


def commandstats(client: redis.Redis) -> Counter[str]:
    """Calls per command since the server started (including those run inside Lua scripts)."""
    info: dict[str, Any] = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in info.items()})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_job(store: JobStore, client: ArmClient, stamp: str) -> None:
    """As ``BackupService.start`` does it (reserve, createBackup, mark_running), due at once."""
    job = Job(job_id=Job.new_id(), stamp=stamp, requester=OPERATOR, channel=CHANNEL)
    if store.reserve(job, reconcile_after=300.0) is not None:
        raise RuntimeError(f"{stamp} already has a job")
    started = client.start_backup()
    job.backup_id, job.started_at = started.backup_id, time.time()
    job.poll_url, job.location_url = started.async_url or started.location_url or "", started.location_url or ""
    job.strategy = lro.select(job).name
    job.correlation_id = started.correlation_id or ""
    if not store.mark_running(job, due_at=time.time()):
        raise RuntimeError(f"job for {stamp} was settled before it ran")


@dataclass
class Result:
    stamps: int
    http: str
    warmup_seconds: float = 0.0
    cycles: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    redis_commands: Counter[str] = field(default_factory=Counter)
    round_trips: int = 0
    connects: int = 0
    connect_seconds: float = 0.0
    http_seconds: float = 0.0
    cpu_per_job: float = 0.0  # one thread, no contention
    rss_mb: float = 0.0
    profile: pstats.Stats | None = None

    @property
    def work(self) -> int:
        return self.stamps * len(self.cycles)

    def per_cycle(self, value: float) -> float:
        return value / len(self.cycles)

    @property
    def arm_requests(self) -> int:
        return sum(n for key, n in self.requests.items() if key.split()[1] not in NOT_ARM)

    @property
    def tokens(self) -> int:
        return sum(n for key, n in self.requests.items() if key.split()[1] == "token")


class Rig:
    """The Poller under test with its own stamp clients and Redis client, instrumented."""

    def __init__(self, settings: Settings, stamps: list[StampSettings], result: Result) -> None:
        self.result = result
        self.clients = {s.name: ArmClient(s, max_attempts=1) for s in stamps}  # as the worker
        self.store = JobStore(make_redis(settings))
        self.poller = assemble_worker(
            self.store, self.clients, SlackPoster(make_web_client(settings), Health(self.store.redis)), settings
        )
        self.trips = Timer()
        self.store.redis.execute_command = self.trips.wrap(  # type: ignore[method-assign]
            self.store.redis.execute_command
        )
        self.http = Timer()
        for client in self.clients.values():
            client.http.request = self.http.wrap(client.http.request)  # type: ignore[method-assign]

    def cycle(self) -> float:
        started = time.perf_counter()
        self.poller.run_once(now=time.time() + FAR_FUTURE)
        self.poller.drain()
        return time.perf_counter() - started

    def measured_cycle(self, farm: StampFarm, stats: redis.Redis) -> None:
        r = self.result
        requests_before, commands_before = farm.counts(), commandstats(stats)
        trips, connects, http, cpu = self.trips.calls, CONNECTS.snapshot(), self.http.seconds, cpu_seconds()
        r.cycles.append(self.cycle())
        r.cpu.append(cpu_seconds() - cpu)
        r.requests += farm.counts() - requests_before
        r.redis_commands += commandstats(stats) - commands_before
        r.round_trips += self.trips.calls - trips
        now = CONNECTS.snapshot()
        r.connects += now[0] - connects[0]
        r.connect_seconds += now[1] - connects[1]
        r.http_seconds += self.http.seconds - http

    def single_thread_cpu(self) -> float:
        """CPU seconds per job when one thread processes every job in turn (no GIL contention)."""
        due = self.store.due(time.time() + FAR_FUTURE)
        cpu = cpu_seconds()
        for job_id in due:
            self.poller.process(job_id)
        return (cpu_seconds() - cpu) / max(1, len(due))

    def profile(self) -> pstats.Stats:
        profiles = ThreadProfiles()
        self.poller.process = profiles.wrap(self.poller.process)  # type: ignore[method-assign]
        for _ in range(PROFILED_CYCLES):
            self.cycle()
        return profiles.stats()

    def close(self) -> None:
        self.poller._pool.shutdown(wait=True)
        for client in self.clients.values():
            client.http.close()
        self.store.redis.close()


def measure(lab: Lab, farm: StampFarm, stamps: int, *, profile: bool = False) -> Result:
    """One running job per stamp, then CYCLES measured cycles of one Poller following them all."""
    lab.flush_redis()
    farm.ask("finish")
    stamp_settings = [
        dataclasses.replace(load_stamp(env), name=f"stamp-{i}") for i, env in enumerate(farm.envs[:stamps])
    ]
    settings = load_settings(
        {
            **farm.envs[0],
            "REDIS_URL": lab.redis_server.url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": lab.slack.api_url,
            "AZS_POLL_INTERVAL": "0.05",
        },
        need_slack=False,
    )
    rig = Rig(settings, stamp_settings, Result(stamps, farm.http))
    stats = redis.Redis.from_url(lab.redis_server.url)
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda name: start_job(rig.store, rig.clients[name], name), rig.clients))
        rig.result.warmup_seconds = rig.cycle()  # the first poll
        for _ in range(CYCLES):
            rig.measured_cycle(farm, stats)
        rig.result.rss_mb = rss_mb()
        rig.result.cpu_per_job = rig.single_thread_cpu()
        if profile:
            rig.result.profile = rig.profile()
    finally:
        rig.close()
        stats.close()
    return rig.result


def micro(farm: StampFarm) -> list[str]:
    """CPU and wall time of one ``ArmClient.poll`` in one thread, the same running backup polled again and
    again."""
    farm.ask("finish")
    client = ArmClient(dataclasses.replace(load_stamp(farm.envs[0]), name="micro"), max_attempts=2)
    try:
        url = client.start_backup().async_url or ""
        client.poll(url)  # discovery and token, not measured
        cpu, started = cpu_seconds(), time.perf_counter()
        for _ in range(MICRO_POLLS):
            client.poll(url)
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    finally:
        client.http.close()
    return [farm.http, f"{cpu / MICRO_POLLS * 1000:.2f}", f"{wall / MICRO_POLLS * 1000:.2f}"]


def run(lab: Lab) -> tuple[Section, Section, Section]:
    results: list[Result] = []
    micro_rows: list[list[str]] = []
    with timed_connects():
        for close in (False, True):
            farm = StampFarm(max(SIZES), lab.sim_state_dir, close=close)
            try:
                for stamps in (max(SIZES),) if close else SIZES:
                    results.append(measure(lab, farm, stamps, profile=not close and stamps == max(SIZES)))
                micro_rows.append(micro(farm))
            finally:
                farm.close()
    profiled = next(r for r in results if r.profile is not None)
    return section(results), micro_section(micro_rows), profile_section(profiled)


def section(results: list[Result]) -> Section:
    out = Section(
        "3. Poller scale: one Poller, one running backup per stamp, every job due each cycle",
        [
            "stamps",
            "stamp HTTP",
            "cycle s: median (min-max)",
            f"<= {TARGET_CYCLE_SECONDS:.0f} s",
            "warm-up s",
            "CPU s/cycle",
            "CPU ms/job 1 thread",
            "ARM req/cycle",
            "token req/cycle",
            "TLS connects/cycle",
            "connect % of HTTP time",
            "Redis cmds/job/cycle",
            "round trips/job/cycle",
            f"<= {TARGET_ROUND_TRIPS:.0f}",
            "RSS MiB",
        ],
    )
    judged = results[len(SIZES) - 1]  # the largest size on the simulator as it is
    for r in results:
        median = statistics.median(r.cycles)
        trips = r.round_trips / r.work
        out.rows.append(
            [
                str(r.stamps),
                r.http,
                f"{median:.3f} ({min(r.cycles):.3f}-{max(r.cycles):.3f})",
                verdict(median <= TARGET_CYCLE_SECONDS) if r is judged else "-",
                f"{r.warmup_seconds:.3f}",
                f"{statistics.median(r.cpu):.3f}",
                f"{r.cpu_per_job * 1000:.2f}",
                f"{r.per_cycle(r.arm_requests):.0f}",
                f"{r.per_cycle(r.tokens):.0f}",
                f"{r.per_cycle(r.connects):.0f}",
                f"{r.connect_seconds / r.http_seconds:.0%}" if r.http_seconds else "-",
                f"{sum(r.redis_commands.values()) / r.work:.1f}",
                f"{trips:.2f}",
                verdict(trips <= TARGET_ROUND_TRIPS),
                f"{r.rss_mb:.0f}",
            ]
        )
    server_side = ", ".join(f"{name} {n / judged.work:.2f}" for name, n in judged.redis_commands.most_common())
    out.notes += [
        f"{CYCLES} measured cycles per row after one warm-up cycle. Jobs were started first (metadata, token, "
        "subscription and location discovery, createBackup per stamp), so the warm-up cycle is the first poll. "
        "The Poller and its stamp clients are built as the worker builds them (default concurrency).",
        "Stamps run in a separate process (bench.stamps), so 'CPU s/cycle' and 'RSS MiB' are the poller's "
        "process (RSS includes the benchmark and its fake Slack). 'CPU ms/job 1 thread': Poller.process over "
        "every job in one thread, i.e. the cost of a poll without GIL contention.",
        f"Redis at {max(SIZES)} stamps, server-side calls per job per cycle (commands run inside the Lua "
        f"scripts included): {server_side}. Round trips are counted on the client: one EVALSHA claim and one "
        "EVALSHA fenced update per job, plus one ZRANGEBYSCORE per cycle.",
        "The target is judged on the simulator as it is (it keeps connections alive, as ARM does; the bot's "
        "session pools them). The 'HTTP/1.0 (patched farm)' row closes every connection, so every poll pays a "
        "new TCP connection and TLS handshake ('TLS connects/cycle'), as all polls did in runs before 8dd66ad. "
        "'connect %': time inside urllib3's connect over time inside the stamp client's HTTP calls (wall time).",
    ]
    return out


def micro_section(rows: list[list[str]]) -> Section:
    out = Section(
        f"3b. Cost of one poll (ArmClient.poll), one thread, one stamp, {MICRO_POLLS} polls",
        ["stamp HTTP", "CPU ms/poll", "wall ms/poll"],
    )
    out.rows += rows
    out.notes.append(
        "The bot's stamp client as is. CPU is this process only (the simulators run in another); "
        "the difference between the rows is what a new TCP and TLS connection per poll costs."
    )
    return out


def _where(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if path == "~":
        return name
    short = path.split("site-packages/")[-1].split("lib/python3.11/")[-1].replace(str(ROOT) + "/", "")
    return f"{short}:{line}({name})"


def profile_section(result: Result) -> Section:
    out = Section(
        f"Profile: poller cycle at {result.stamps} stamps, {PROFILED_CYCLES} cycles, CPU time of all "
        "pool threads merged (cProfile)",
        ["rank", "function", "calls", "tottime s", "cumtime s"],
    )
    if result.profile is None:
        return out
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = result.profile.stats  # type: ignore[attr-defined]
    own = {k for k in raw if k[0].startswith(str(ROOT / "bench"))}
    by_cum = sorted((k for k in raw if k not in own), key=lambda k: raw[k][3], reverse=True)[:10]
    by_tot = sorted(raw, key=lambda k: raw[k][2], reverse=True)[:10]
    for label, keys in (("cum", by_cum), ("tot", by_tot)):
        for rank, key in enumerate(keys, 1):
            _, calls, tot, cum, _ = raw[key]
            out.rows.append([f"{label} {rank}", _where(key), str(calls), f"{tot:.2f}", f"{cum:.2f}"])
    out.notes += [
        "'cum' rows: top 10 by cumulative CPU time; 'tot' rows: top 10 by own CPU time. Deterministic "
        "profiling inflates pure-Python calls (isinstance, dict work) relative to C calls; table 3b measures "
        "a poll without a profiler.",
        "Selected subtrees (cumulative CPU): " + ", ".join(f"{name} {cum:.2f} s" for name, cum in subtrees(raw)),
    ]
    return out


def subtrees(raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]) -> list[tuple[str, float]]:
    """Cumulative CPU of a few functions that answer 'where does a poll go'."""
    wanted = {
        "_validate_conn": "new connection incl. TLS (urllib3 _validate_conn)",
        "do_handshake": "TLS handshake (do_handshake)",
        "claim": "Redis claim (JobStore.claim)",
        "update": "Redis fenced update (JobStore.update)",
        "token": "token from MSAL cache (TokenProvider.token)",
    }
    found: dict[str, float] = {}
    for (path, _, name), (_, _, _, cum, _) in raw.items():
        if name in wanted and (name not in ("claim", "update", "token") or path.endswith(("jobs.py", "auth.py"))):
            found[wanted[name]] = found.get(wanted[name], 0.0) + cum
    return sorted(found.items(), key=lambda item: -item[1])
