"""The composition root: every process's parts are built here, from settings, and nowhere else.

::

    azs-bot web     build_web(settings)     run by bot.serve.web.serve
    azs-bot socket  build_socket(settings)  run by bot.serve.process.run_until_stopped
    azs-bot worker  build_worker(settings)  run by bot.serve.process.run_until_stopped

Web and Socket Mode share :func:`build_parts` (one Redis client through the factory, the job store, the Slack
client, the pipeline and App Home) and :func:`build_bolt_app` (the listeners, the dispatcher and its after-ack
pool). The modules that load Bolt are imported inside the builders that need them: the worker is built here too
and never loads Bolt or the listeners.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from slack_sdk import WebClient

from bot.commands.access import AccessPolicy
from bot.commands.app_home import AppHome
from bot.commands.backups import BackupService
from bot.commands.pipeline import Pipeline
from bot.commands.reads import StampReads
from bot.commands.report import Reporter
from bot.config import limits
from bot.config.settings import Settings
from bot.config.stamps import StampSettings
from bot.model.update import UpdateStates
from bot.ops.metrics import StampCollector, register_stamp_metrics
from bot.ops.probes import Heartbeat, Probes
from bot.serve.lanes import AfterAckPool
from bot.serve.process import Process
from bot.slack.client import SlackPoster, make_web_client
from bot.slack.delivery import Delivery
from bot.stamp.arm import ArmClient
from bot.state.audit import AuditLog
from bot.state.connection import make_redis
from bot.state.health import Health
from bot.state.history import HistoryStore
from bot.state.jobs import JobStore
from bot.state.prefs import ChannelPrefs
from bot.state.schedules import ScheduleStore
from bot.state.snapshots import SnapshotStore
from bot.state.update_windows import UpdateWindowStore
from bot.state.watches import WatchStore
from bot.worker.follow import Follower
from bot.worker.loop import Loop
from bot.worker.reconcile import Reconciler
from bot.worker.refresh import Refresher
from bot.worker.schedules import Scheduler
from bot.worker.update_watch import UpdateWatch
from bot.worker.watch import Watcher

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.serve.web import SlackWeb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parts:
    """What the web and Socket Mode processes share, built once per process."""

    pipeline: Pipeline
    app_home: AppHome
    store: JobStore
    health: Health
    client: WebClient


def build_parts(settings: Settings) -> Parts:
    """One :class:`BackupService` per stamp, sharing Redis, Slack, access rules and the audit trail; the pipeline
    and App Home get the shared parts themselves, not through a stamp's service."""
    client = make_web_client(settings)
    store = JobStore(make_redis(settings), retention_seconds=settings.job_retention_days * 86_400)
    health = Health(store.redis)
    poster = SlackPoster(client, health, retry_seconds=settings.slack_retry_seconds)
    access = AccessPolicy(
        settings.operators,
        group=settings.operator_group,
        channels=settings.channels,
        client=client,
        max_age=settings.operator_group_max_age,
    )
    audit_log, prefs, watches = AuditLog(store.redis), ChannelPrefs(store.redis), WatchStore(store.redis)
    snapshots = snapshot_store(store.redis, settings)
    history = HistoryStore(store.redis, keep_days=settings.history_days)
    states = update_states(settings)
    reporter = Reporter(
        history=history,
        snapshots=snapshots,
        windows=UpdateWindowStore(store.redis, keep_days=settings.history_days),
        poster=poster,
    )

    def service(stamp: StampSettings) -> BackupService:
        # Interactive reads retry briefly: the work pool is small, and the operator can ask again.
        arm = ArmClient(
            stamp, max_attempts=limits.INTERACTIVE_ARM_ATTEMPTS, max_backoff=limits.INTERACTIVE_ARM_MAX_BACKOFF
        )
        return BackupService(
            stamp=stamp.name,
            arm=arm,
            store=store,
            poster=poster,
            audit_log=audit_log,
            prefs=prefs,
            watches=watches,
            poll_interval=settings.poll_interval,
            start_grace=settings.start_grace,
            home_cache_seconds=settings.home_cache_seconds,
            default_timezone=settings.timezone,
            reads=StampReads(stamp.name, arm, snapshots, history, states, settings.history_days),
            reporter=reporter,
        )

    services = {stamp.name: service(stamp) for stamp in settings.stamps}
    return Parts(
        pipeline=Pipeline(
            services,
            access=access,
            audit_log=audit_log,
            prefs=prefs,
            # Reads answered in the ack: short timeouts, so a slow Redis leaves most of Slack's 3 s to the ack.
            ack_redis=make_redis(settings, timeout=limits.REDIS_ACK_PATH_TIMEOUT),
        ),
        app_home=AppHome(services, access=access, audit_log=audit_log, open_seconds=limits.HOME_OPEN_SECONDS),
        store=store,
        health=health,
        client=client,
    )


def build_bolt_app(settings: Settings, parts: Parts, pool: AfterAckPool) -> App:
    """A Bolt app whose listeners find the dispatcher and App Home in their context; its after-ack ``pool`` keeps
    the clicks and commands in Redis and finishes those of processes that died."""
    from slack_bolt import App, BoltContext

    import handlers
    from bot.serve.dispatch import Dispatcher
    from bot.state.inbox import Inbox

    app = App(
        client=parts.client,
        signing_secret=settings.slack_signing_secret,
        token_verification_enabled=False,  # checked once by the entry point, which reports a bad token
        listener_executor=ThreadPoolExecutor(max_workers=limits.LISTENER_THREADS, thread_name_prefix="listener"),
        request_verification_enabled=True,
    )
    dispatcher = Dispatcher(parts.pipeline, pool, response_url_lifetime=limits.RESPONSE_URL_LIFETIME)
    pool.make_durable(Inbox(parts.store.redis, lease=limits.INBOX_LEASE_SECONDS), dispatcher.recover)

    @app.middleware
    def provide(context: BoltContext, next: Callable[[], None]) -> None:
        context["dispatcher"] = dispatcher
        context["app_home"] = parts.app_home
        next()

    handlers.register(app)
    return app


def after_ack_pool(settings: Settings) -> AfterAckPool:
    return AfterAckPool(
        settings.work_threads,
        queue_limit=settings.lane_queue,
        per_user_per_minute=settings.user_commands_per_minute,
    )


def build_web(settings: Settings) -> SlackWeb:
    """The web process's WSGI app: the front door, then Bolt; Slack's token is checked once here."""
    from bot.serve.front_door import ReplayGuard
    from bot.serve.web import SlackWeb, check_slack_token

    parts = build_parts(settings)
    check_slack_token(parts.client, parts.health)
    pool = after_ack_pool(settings)
    return SlackWeb(
        build_bolt_app(settings, parts, pool),
        after_ack=pool,
        health=parts.health,
        store=parts.store,
        replays=ReplayGuard(parts.store.redis),
        signing_secret=settings.slack_signing_secret,
    )


def build_socket(settings: Settings) -> Process:
    """The Socket Mode process: its connections, fed to the same Bolt app as the web's."""
    from bot.serve.socket_mode import EnvelopeLedger, SocketModeRunner

    # Short timeouts: the dedupe check sits on the ack path, inside Slack's 3 s.
    ledger_redis = make_redis(settings, timeout=limits.REDIS_ACK_PATH_TIMEOUT)
    runner = SocketModeRunner(
        build_bolt_app(settings, build_parts(settings), after_ack_pool(settings)),
        settings.slack_app_token,
        connections=settings.socket_connections,
        ping_interval=settings.socket_ping_interval,
        ledger=EnvelopeLedger(ledger_redis),
        heartbeat=Heartbeat(max_age=limits.LOOP_MAX_AGE),
    )
    # Ready while Slack is connected: with Redis down it still answers "Redis is not answering".
    probes = Probes(runner.heartbeat, runner.problems, lambda: {**runner.problems(), **redis_problems(ledger_redis)})
    return Process(
        runner.run,
        probes,
        started=f"Socket Mode: {runner.slots} connections, pings every {runner.ping_interval:.1f}s",
    )


def build_worker(settings: Settings) -> Process:
    """The worker process: the loop over due jobs, with its probes and its per-stamp metrics."""
    loop = worker_loop(settings)
    # Live while the poll loop turns (it keeps turning while Redis is down): a cycle is bounded by the lease, so
    # twice the lease is a stall. Ready while Redis answers too; health adds the problems every process reports.
    heartbeat = loop.heartbeat = Heartbeat(max_age=max(limits.WORKER_LOOP_MAX_AGE, 2 * settings.lease_seconds))
    redis_client = loop.store.redis
    register_stamp_metrics(stamp_collector(settings, redis_client))
    probes = Probes(heartbeat, lambda: redis_problems(redis_client), lambda: health_problems(Health(redis_client)))
    return Process(
        loop.run,
        probes,
        started=f"worker polling every {settings.poll_interval:.1f}s",
    )


def stamp_collector(settings: Settings, client: redis.Redis) -> StampCollector:
    """The worker's per-stamp series, read from the history and the snapshots at each scrape."""
    states = UpdateStates(settings.update_clean_states, settings.update_running_states, settings.update_failed_states)
    return StampCollector(
        [stamp.name for stamp in settings.stamps],
        HistoryStore(client, keep_days=settings.history_days),
        SnapshotStore(client, stale_after=limits.LOOP_MAX_AGE),  # only read: staleness is not used
        states,
    )


def worker_loop(settings: Settings, *, clock: Callable[[], float] = time.time) -> Loop:
    """The worker from settings: its Redis client, stamp clients, Slack poster and watcher, on one ``clock``."""
    # One attempt per poll (and no sleep): the decision after a poll reschedules a failure instead.
    clients = {stamp.name: ArmClient(stamp, max_attempts=1) for stamp in settings.stamps}
    store = JobStore(make_redis(settings), retention_seconds=settings.job_retention_days * 86_400)
    poster = SlackPoster(make_web_client(settings), Health(store.redis), retry_seconds=settings.slack_retry_seconds)
    snapshots = snapshot_store(store.redis, settings)
    watches, windows, states = (
        WatchStore(store.redis),
        UpdateWindowStore(store.redis, keep_days=settings.history_days),
        update_states(settings),
    )
    watcher = Watcher(
        watches,
        store,
        snapshots,
        list(clients),
        poster,
        interval=settings.watch_interval,
        max_age_hours=settings.max_backup_age_hours,
        updates=lambda post: UpdateWatch(watches, windows, states, post, max_age_hours=settings.max_backup_age_hours),
        clock=clock,
    )
    loop = assemble_worker(
        store,
        clients,
        poster,
        settings,
        watcher=watcher,
        refresher=refresher(store.redis, clients, settings, clock),
        clock=clock,
    )
    loop.scheduler = scheduler(settings, store.redis, poster, clock=clock)
    return loop


def refresher(
    client: redis.Redis, clients: Mapping[str, ArmClient], settings: Settings, clock: Callable[[], float] = time.time
) -> Refresher:
    """The one reader of each stamp: the snapshot, the backup history and the update windows it keeps."""
    return Refresher(
        clients,
        snapshot_store(client, settings),
        HistoryStore(client, keep_days=settings.history_days),
        UpdateWindowStore(client, keep_days=settings.history_days),
        update_states(settings),
        interval=settings.snapshot_interval,
        clock=clock,
    )


def snapshot_store(client: redis.Redis, settings: Settings) -> SnapshotStore:
    return SnapshotStore(
        client,
        stale_after=settings.snapshot_stale_after,
        capacity_samples=settings.capacity_samples,
        capacity_spacing=settings.capacity_spacing,
        config_changes_kept=settings.config_changes_kept,
    )


def update_states(settings: Settings) -> UpdateStates:
    return UpdateStates(settings.update_clean_states, settings.update_running_states, settings.update_failed_states)


def scheduler(settings: Settings, client: redis.Redis, poster: SlackPoster, *, clock: Callable[[], float]) -> Scheduler:
    """The worker's scheduled deliveries: every channel's digest and monthly report (the report command's
    builder, on every configured stamp), from the snapshot and the history."""
    snapshots, history = snapshot_store(client, settings), HistoryStore(client, keep_days=settings.history_days)
    stamps = tuple(stamp.name for stamp in settings.stamps)
    windows = UpdateWindowStore(client, keep_days=settings.history_days)
    reporter = Reporter(history, snapshots, windows, poster, clock=clock, stamps=stamps)
    return Scheduler(
        ScheduleStore(client),
        snapshots,
        history,
        poster,
        stamps,
        default_zone=settings.timezone,
        lease_seconds=settings.lease_seconds,
        states=update_states(settings),
        max_age_hours=settings.max_backup_age_hours,
        monthly=reporter.scheduled,
        clock=clock,
    )


def assemble_worker(
    store: JobStore,
    clients: Mapping[str, ArmClient],
    poster: SlackPoster,
    settings: Settings,
    *,
    watcher: Watcher | None = None,
    refresher: Refresher | None = None,
    clock: Callable[[], float] = time.time,
) -> Loop:
    """The worker's parts around given clients (tests and benchmarks instrument them): one delivery protocol,
    the follower, the reconciler and the loop, all on the same ``clock``."""
    delivery = Delivery(
        store,
        poster,
        lease_seconds=settings.lease_seconds,
        clock=clock,
        max_retry_delay=settings.max_retry_delay,
        give_up_after=settings.max_announce_attempts,
    )
    follower = Follower(store, clients, poster, delivery, settings, refresher=refresher, clock=clock)
    reconciler = Reconciler(store, clients, delivery, follower, clock=clock)
    return Loop(
        store, follower, reconciler, settings, health=poster.health, watcher=watcher, refresher=refresher, clock=clock
    )


def health_problems(health: Health) -> dict[str, str]:
    """The detail for ``/healthz``: Redis, lost data, Slack's token."""
    try:
        return health.problems()
    except redis.RedisError as exc:
        return {"redis": f"Redis does not answer ({type(exc).__name__})"}


def redis_problems(client: redis.Redis) -> dict[str, str]:
    """Readiness: a process that cannot reach Redis can neither take nor record work."""
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"redis": f"Redis does not answer ({type(exc).__name__})"}
    return {}
