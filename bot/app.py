"""Wiring: build the Bolt app, the job store and the stamp client from settings.

The web process, the Socket Mode process, the worker, the demo and the tests all build their
parts here, so each runs the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

import handlers
from bot.commands.access import AccessPolicy
from bot.commands.backups import BackupService
from bot.commands.router import Router
from bot.config.settings import Settings, StampSettings
from bot.serve.dispatch import run as run_work
from bot.serve.lanes import AfterAckPool
from bot.slack.client import SlackPoster, make_web_client
from bot.stamp.arm import ArmClient
from bot.state.audit import AuditLog
from bot.state.connection import make_redis as make_redis  # re-exported: callers import it from here
from bot.state.health import Health
from bot.state.inbox import Inbox
from bot.state.jobs import JobStore
from bot.state.prefs import ChannelPrefs
from bot.state.watches import WatchStore


@dataclass(frozen=True)
class Wiring:
    """What the composition root built: the router, and the shared parts an entry point needs beside it."""

    router: Router
    store: JobStore
    health: Health
    client: WebClient


def wire(settings: Settings, client: WebClient | None = None) -> Wiring:
    """One :class:`BackupService` per stamp, sharing Redis, Slack, access rules and the audit trail.

    The router gets the shared parts itself, not through a stamp's service.
    """
    client = client or make_web_client(settings)
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

    def service(stamp: StampSettings) -> BackupService:
        # Interactive reads retry briefly: the work pool is small, and the operator can ask again.
        arm = ArmClient(stamp, max_attempts=2, max_backoff=5.0)
        return BackupService(
            stamp=stamp.name,
            arm=arm,
            store=store,
            poster=poster,
            access=access,
            audit_log=audit_log,
            prefs=prefs,
            watches=watches,
            poll_interval=settings.poll_interval,
            start_grace=settings.start_grace,
        )

    router = Router(
        {stamp.name: service(stamp) for stamp in settings.stamps},
        store=store,
        access=access,
        audit_log=audit_log,
        prefs=prefs,
    )
    return Wiring(router, store, health, client)


def make_router(settings: Settings, client: WebClient | None = None) -> Router:
    return wire(settings, client).router


def build_app(settings: Settings, router: Router | None = None, after_ack: AfterAckPool | None = None) -> App:
    """A Bolt app whose listeners find the :class:`Router` and the :class:`AfterAckPool` in their context."""
    client = make_web_client(settings)
    router = router or make_router(settings, client)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret,
        token_verification_enabled=False,  # checked once by the entry point, which reports a bad token
        listener_executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="listener"),
        request_verification_enabled=True,
    )

    work = after_ack or AfterAckPool(settings.work_threads, per_user_per_minute=settings.user_commands_per_minute)
    # Clicks and commands are in Redis before their ack; this process finishes those of dead ones.
    work.make_durable(
        Inbox(router.store.redis),
        lambda item: run_work(router, work, item, logging.getLogger("bot.serve.dispatch"), recovered=True),
    )

    @app.middleware
    def provide_router(context: BoltContext, next: Callable[[], None]) -> None:
        context["router"] = router
        context["work"] = work
        next()

    handlers.register(app)
    return app
