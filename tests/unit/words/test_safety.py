"""Hostile stamp and user text through every renderer: nothing live reaches Slack, every message is valid Block Kit.

Finding 3 of issue 11: a role name ``<!channel> <http://evil.example/login|Re-authenticate here>`` was
posted as a live @channel and a disguised link. Each renderer in ``bot/words`` is listed in
``RENDERERS`` below with every outside field filled from hypothesis; a renderer added without an entry
fails ``test_every_renderer_is_covered``. Finding 3 of issue 17: the reply to a Start click taken over from a
dead process, when the stamp had refused the start, was built outside the renderers and quoted the stamp's
error raw; it is tested here through the real router and a real web process (``test_message_boundary.py``
keeps any message from being built outside the renderers again).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import Parts, build_parts
from bot.commands import table
from bot.commands.backups import preflight_problems
from bot.commands.parse import parse
from bot.commands.request import Command, Request
from bot.commands.table import Action
from bot.config.settings import load_settings
from bot.model.backup import Backup, RoleStatus
from bot.model.digest import Colour, Counts, Fit, Forecast, SlowBackup, StampDigest
from bot.model.facts import Problem, Trouble
from bot.model.history import HistoryEntry
from bot.model.location import BackupLocation, Preflight
from bot.model.recovery import Gap, KeepKey, Readiness, VersionSource
from bot.model.report import Failure, ReportFile, SettingChange, StampCompliance, VersionChange, Window
from bot.model.report import Gap as ReportGap
from bot.model.schedule import Cadence, ChannelSchedule
from bot.model.snapshot import SnapshotView, StampSnapshot
from bot.model.update import Release, UpdateClass, UpdateLocation, Verdict, VersionCheck
from bot.state.audit import AuditEntry
from bot.state.job import Job, JobState
from bot.state.jobs import JobStore
from bot.words import backups, digest, home, mrkdwn, notices, posts, recovery, replies, report, steward
from bot.words.mrkdwn import Message
from tests.conftest import OPERATOR
from tests.harness import ROOT

FRAGMENTS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0BADBAD>",
    "<#C0BADBAD>",
    "<!subteam^S0BAD>",
    "<!date^1392734382^{date}|x>",
    "<http://evil.example/login|Re-authenticate here>",
    "<https://e.x>",
    "*HB*",
    "_HI_",
    "~HS~",
    "`HC`",
    "```HCB```",
    "\n> HQ",
    ">HQ",
    "&lt;!channel&gt;",
    "&amp;",
    "&",
    "<",
    ">",
    "@channel",
    "@here",
    "\n",
    " ",
    "a_b",
    "a*b",
    ":x:",
    "\u2028",
    "é",
]
LIVE_FORMATTING = ("*HB*", "~HS~", "`HC`", "```")
LIVE_ITALIC = re.compile(r"(?<![A-Za-z0-9])_HI_|_HI_(?![A-Za-z0-9])")
BOT_TOKEN = re.compile(r"<[@#][A-Z0-9]{2,30}>")
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")
SAS = "?sv=2024-01-01&sig=SECRETSIGNATURE"

hostile = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), min_size=1, max_size=8).map("".join),
    st.tuples(st.sampled_from(FRAGMENTS), st.integers(200, 900)).map(lambda t: t[0] * t[1]),
)


class Inputs:
    """One hostile value per outside field, drawn by hypothesis."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.text: Callable[[], str] = lambda: str(draw(hostile))
        self.status: Callable[[], str] = lambda: str(
            draw(st.sampled_from(["Succeeded", "PartialSucceeded", "Failed", "Running"]) | hostile)
        )

    def backup(self) -> Backup:
        roles = tuple(RoleStatus(self.text(), status) for status in ("Failed", "Succeeded", "Failed"))
        return Backup(
            backup_id=self.text(),
            status=self.status(),
            created=datetime(2026, 1, 2, tzinfo=UTC),
            time_taken_seconds=1275.0,
            stamp_version=self.text(),
            is_automatic=True,
            encryption_cert_thumbprint=self.text(),
            roles=roles,
            size_kb=10,
        )

    def location(self) -> BackupLocation:
        return BackupLocation(
            name=self.text(),
            path=None,
            blob_url=f"https://acct.blob.example/{self.text()}{SAS}",
            user_name=self.text(),
            scheduler_enabled=True,
            frequency_hours=12,
            retention_days=7,
            available_capacity=self.text(),
            next_backup=None,
            last_backup=None,
            encryption_cert_thumbprint=self.text(),
        )

    def job(self) -> Job:
        return Job(
            job_id="j1",
            stamp=self.text(),
            requester=self.text(),
            channel=self.text(),
            state=JobState.RUNNING,
            backup_id=self.text(),
            started_at=1.0,
        )

    def preflight(self) -> list[Preflight]:
        return [
            Preflight("unconfigured"),
            Preflight("running", backup_id=self.text(), status=self.status()),
            Preflight("capacity", free=self.text(), needed_kb=20 * 1024**2),
            Preflight("capacity", free=self.text()),
            Preflight("update", status=self.text()),
        ]

    def history(self) -> HistoryEntry:
        entry = HistoryEntry.from_backup(self.backup(), 1.0)
        return replace(entry, status=self.status(), kind=self.text(), oem_version=self.text())

    def view(self, stale: bool) -> SnapshotView:
        snapshot = StampSnapshot(location_read_at=1.0, error=self.text(), error_part=self.text(), error_at=2.0)
        return SnapshotView(snapshot, 90.0, stale)

    def update(self) -> UpdateLocation:
        return UpdateLocation(self.text(), self.text(), self.text(), self.text())

    def readiness(self, ready: bool) -> Readiness:
        backup = self.backup()
        key = KeepKey(self.text(), self.text(), datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC))
        check = VersionCheck(self.text(), self.text(), Verdict.TOO_OLD, (Release(2102),))
        return Readiness(
            ready=ready,
            backup=backup if ready else None,
            version=check,
            stamp_version=self.text(),
            version_source=VersionSource.NEWEST_BACKUP,
            share_path=self.text() + SAS,
            current_thumbprint=self.text(),
            keep_keys=(key,),
            gaps=tuple(Gap),
            retention_days=7,
            checked_at=datetime(2026, 1, 2, tzinfo=UTC),
        )

    def entry(self, count: int = 1) -> AuditEntry:
        return AuditEntry(
            at=61.0,
            user=self.text(),
            channel=self.text(),
            stamp=self.text(),
            action=self.text(),
            outcome=self.text(),
            count=count,
            first_at=18.0,
        )


Rendered = Message | dict[str, Any]


def _compliance(i: Inputs) -> StampCompliance:
    """A stamp's month where every text a stamp or an operator wrote is hostile."""
    return StampCompliance(
        i.text(),
        12.0,
        False,
        10,
        9,
        1,
        succeeded=9,
        failed=1,
        largest_gap=ReportGap(1.0e9, 1.0e9 + 86_400, True, True),
        failures=(Failure(i.text(), 1.0e9, i.text(), None),),
        setting_changes=(SettingChange(1.0e9, i.text(), i.text(), i.text()),),
        version_changes=(VersionChange(1.0e9, i.text(), i.text()),),
        windows=(Window(1.0e9, None),),
    )


RENDERERS: dict[str, Callable[[Inputs], list[Rendered]]] = {
    "help_message": lambda i: [
        replies.help_message(table.usage(), parse(i.text()).problem),
        replies.help_message(table.usage(), parse("backup " + i.text()).problem),
        *(replies.help_message(table.usage(), Problem(t, i.text(), i.text(), (i.text(), i.text()))) for t in Trouble),
    ],
    "error_message": lambda i: [replies.error_message("I could not read the backup:", i.text())],
    "not_an_operator": lambda i: [replies.not_an_operator(i.text(), True), replies.not_an_operator(i.text(), False)],
    "channel_not_allowed": lambda i: [replies.channel_not_allowed(i.text())],
    "audit": lambda i: [replies.audit([i.entry(), i.entry(count=17)]), replies.audit([])],
    "confirmation": lambda i: [
        replies.confirmation(i.text(), i.text(), i.location(), i.backup(), []),
        replies.confirmation(i.text(), i.text(), i.location(), None, i.preflight()),
    ],
    "starting": lambda i: [replies.starting(i.text())],
    "started": lambda i: [posts.started(i.job())],
    "completion_unannounced": lambda i: [posts.completion_unannounced(i.job(), i.backup(), i.text(), 5)],
    "start_abandoned_notice": lambda i: [posts.start_abandoned_notice(i.job(), i.text())],
    "start_uncertain": lambda i: [replies.start_uncertain(i.text(), 502)],
    "start_refused": lambda i: [replies.start_refused(i.text(), i.text()), replies.start_refused(i.text(), "")],
    "no_such_backup": lambda i: [replies.no_such_backup(i.text(), i.text())],
    "stamp_call_failed": lambda i: [replies.stamp_call_failed("read the backups", i.text(), i.text())],
    "unexpected_failure": lambda i: [replies.unexpected_failure("read the backups")],
    "redis_down": lambda i: [replies.redis_down()],
    "not_a_backup_id": lambda i: [replies.not_a_backup_id()],
    "busy": lambda i: [replies.busy(i.text())],
    "rate_limited": lambda i: [replies.rate_limited(20), replies.rate_limited(1)],
    "restarted_nothing_started": lambda i: [replies.restarted_nothing_started(i.text())],
    "start_unrecorded": lambda i: [replies.start_unrecorded(i.text(), i.text())],
    "already_running": lambda i: [replies.already_running(i.job())],
    "start_unknown": lambda i: [replies.start_unknown(i.text())],
    "start_abandoned": lambda i: [posts.start_abandoned(i.job(), i.text())],
    "overdue": lambda i: [posts.overdue(i.job(), 7200.0)],
    "completion": lambda i: [
        posts.completion(i.job(), i.backup(), i.text()),
        posts.completion(i.job(), None, i.text()),
    ],
    "status": lambda i: [replies.status([i.job(), i.job()])],
    "backup_list": lambda i: [backups.backup_list(i.text(), [i.backup(), i.backup()])],
    "backup_detail": lambda i: [backups.backup_detail(i.text(), i.backup())],
    "backup_config": lambda i: [backups.backup_config(i.text(), i.location())],
    "unknown_stamp": lambda i: [replies.unknown_stamp(i.text(), [i.text(), i.text()])],
    "stamps": lambda i: [replies.stamps([i.text(), i.text()], i.text())],
    "stamp_chosen": lambda i: [replies.stamp_chosen(i.text(), i.text())],
    "threads_set": lambda i: [replies.threads_set(i.text(), True)],
    "watch_set": lambda i: [replies.watch_set(i.text(), i.text(), mode) for mode in ("all", "failures", "off")],
    "finished_backup": lambda i: [
        backups.finished_backup(i.text(), i.text(), i.backup(), i.text(), requester=i.text()),
        backups.finished_backup(i.text(), i.text(), None, i.text()),
        backups.finished_backup(i.text(), i.text(), i.backup(), i.text(), requester=i.text(), one_line=True),
    ],
    "watched_backup": lambda i: [posts.watched_backup(i.text(), i.backup())],
    "stale_backups": lambda i: [posts.stale_backups(i.text(), i.backup(), 48.0, i.text())],
    "cancel_impossible": lambda i: [
        replies.cancel_impossible(i.text(), i.job(), None),
        replies.cancel_impossible(i.text(), None, i.backup()),
    ],
    "preflight_refused": lambda i: [replies.preflight_refused(i.text(), i.preflight())],
    "progress": lambda i: [posts.progress(i.job())],
    "announcement_final": lambda i: [
        posts.announcement_final(i.job(), i.backup(), i.text()),
        posts.announcement_final(i.job(), None, i.text()),
    ],
    "home": lambda i: [
        home.home(
            [
                (i.text(), home.home_stamp(i.text(), i.location(), i.backup(), i.job())),
                (i.text(), home.home_stamp(i.text(), None, None, None, i.text())),
            ]
        )
    ],
    "home_restricted": lambda i: [home.home_restricted()],
    "update_running": lambda i: [
        notices.update_running(i.text(), i.text(), 1.7e9),
        notices.update_running(i.text(), None, 0),
    ],
    "update_ended": lambda i: [notices.update_ended(i.text(), i.text(), i.text(), 5400.0)],
    "no_backup_on_version": lambda i: [
        notices.no_backup_on_version(i.text(), i.text(), i.backup(), i.text()),
        notices.no_backup_on_version(i.text(), i.text(), None, i.text()),
    ],
    "update_permission_missing": lambda i: [notices.update_permission_missing(i.text(), i.text())],
    "skipped_backup": lambda i: [notices.skipped_backup(i.text(), i.backup())],
    "home_stamp": lambda i: [
        home.home_stamp(i.text(), i.location(), None, None),
        home.home_stamp(i.text(), i.location(), None, None, lines=(steward.freshness(i.view(True)),)),
    ],
    "start_blocked_by_update": lambda i: [replies.start_blocked_by_update(i.text(), i.text())],
    "dr_card": lambda i: [
        *(
            recovery.dr_card(i.text(), i.readiness(True), steward.update_line(i.update(), kind, i.text()))
            for kind in UpdateClass
        ),
        recovery.dr_card(i.text(), i.readiness(False), steward.update_line(None, UpdateClass.CLEAN, i.text())),
    ],
    "with_freshness": lambda i: [
        steward.with_freshness(replies.status([i.job()]), i.view(stale)) for stale in (True, False)
    ],
    "from_history": lambda i: [steward.from_history(backups.backup_detail(i.text(), i.backup()), 5.0)],
    "stamp_status": lambda i: [
        steward.stamp_status(
            replies.status([i.job()]),
            i.text(),
            i.backup(),
            i.backup(),
            steward.update_line(i.update(), UpdateClass.RUNNING),
        ),
        steward.stamp_status(replies.status([]), i.text(), None, None, recovery.readiness_line(i.readiness(True))),
        steward.stamp_status(replies.status([]), i.text(), None, None, recovery.readiness_line(i.readiness(False))),
    ],
    "history_page": lambda i: [
        steward.history_page(
            i.text(),
            [i.history() for _ in range(25)],
            days=30,
            page=2,
            total=60,
            more=True,
            kept_days=14,
            asked_days=99,
        ),
        steward.history_page(i.text(), [], days=30, page=1, total=0, more=False, kept_days=400, asked_days=30),
    ],
    "summary": lambda i: [
        report.summary("2026-03", [_compliance(i)], [ReportFile(i.text(), b"x", i.text())], i.text()),
        report.summary("2026-03", [StampCompliance(i.text(), 12.0, True, 0, 0, 0)], [], None),
    ],
    "uploaded": lambda i: [report.uploaded("2026-03", [i.text()], [ReportFile(i.text(), b"x", i.text())])],
    "upload_failed": lambda i: [report.upload_failed("2026-03", i.text())],
    "no_stamps": lambda i: [report.no_stamps()],
    "not_set_up": lambda i: [report.not_set_up()],
    "month_out_of_range": lambda i: [
        report.month_out_of_range("2026-05", not_started=True),
        report.month_out_of_range("1969-12", not_started=False),
    ],
}


def hostile_digest(i: Inputs) -> StampDigest:
    """A stamp's digest figures whose every text came from the stamp (or the configuration)."""
    slow = SlowBackup(i.text(), 1.0, 3000.0, 1200.0)
    return StampDigest(
        i.text(),
        30.0,
        True,
        i.text(),
        i.text(),
        1.0,
        Colour.RED,
        12.0,
        True,
        Counts(1, 2, 3, 4),
        True,
        12,
        None,
        False,
        i.text(),
        (i.text(), "no_target"),
        True,
        i.text(),
        i.text(),
        Forecast(Fit.FITTED, i.text(), 3.0),
        (slow,),
    )


def hostile_schedule(i: Inputs, cadence: Cadence) -> ChannelSchedule:
    return ChannelSchedule(cadence=cadence, weekday=3, problems_only=True, zone=i.text())


DIGEST_RENDERERS: dict[str, Callable[[Inputs], list[Rendered]]] = {
    "digest": lambda i: [
        digest.digest([hostile_digest(i)] * 45, period=i.text(), since=1.0, now=2.0, marker={"event_type": "x"}),
        digest.digest([], period=i.text(), since=None, now=2.0, marker={}),
    ],
    "digest_set": lambda i: [digest.digest_set(i.text(), hostile_schedule(i, c), i.text()) for c in Cadence],
    "digest_usage": lambda i: [digest.digest_usage()],
    "timezone_set": lambda i: [digest.timezone_set(i.text(), i.text(), hostile_schedule(i, Cadence.WEEKLY))],
    "timezone_unknown": lambda i: [digest.timezone_unknown(i.text())],
    "monthly_report_set": lambda i: [digest.monthly_report_set(i.text(), on, i.text()) for on in (True, False)],
}
RENDERERS.update(DIGEST_RENDERERS)
RENDERER_MODULES = (backups, replies, posts, home, notices, digest, recovery, steward, report)
"""Every module of ``bot/words`` but ``mrkdwn``, whose block helpers take mrkdwn the renderers already escaped."""


def public_renderers() -> set[str]:
    """Every public function of the renderer modules that returns a message or a view."""
    return {
        name
        for module in RENDERER_MODULES
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__
        and not name.startswith("_")
        and str(inspect.signature(fn).return_annotation) in ("Message", "dict[str, Any]")
    }


def test_every_words_module_is_listed() -> None:
    listed = {module.__name__.rsplit(".", 1)[1] for module in (mrkdwn, *RENDERER_MODULES)}
    assert listed == {path.stem for path in (ROOT / "bot/words").glob("*.py")} - {"__init__"}


def test_every_renderer_is_covered() -> None:
    assert public_renderers() == set(RENDERERS), "add the new renderer to RENDERERS with hostile inputs"


def mrkdwn_texts(rendered: Rendered) -> list[str]:
    """The top-level text and every mrkdwn text object: what Slack parses for tokens and formatting."""
    texts = [rendered.text] if isinstance(rendered, Message) else []
    blocks = rendered.blocks if isinstance(rendered, Message) else rendered["blocks"]
    for block in blocks:
        objects = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        texts += [o["text"] for o in objects if isinstance(o, dict) and o.get("type") == "mrkdwn"]
    return texts


def live_problems(text: str) -> list[str]:
    problems = []
    without_own = BOT_TOKEN.sub("", text)
    if "<" in without_own or ">" in without_own:
        problems.append("a raw < or > (a token or quote could form)")
    if ENTITY.search(text):
        problems.append("an & that is not an entity the bot wrote")
    problems += [f"live formatting {f!r}" for f in LIVE_FORMATTING if f in text]
    problems += ["live italics"] if LIVE_ITALIC.search(text) else []
    if any(line.lstrip().startswith("&gt;") for line in text.split("\n")):
        problems.append("a line starting a quote")
    if "sig=" in text:
        problems.append("a SAS token")
    if re.search(r"(?<![\w\u2060])@(channel|here|everyone)\b", text.replace("@\u2060", "")):
        problems.append("a bare broadcast name")
    return problems


def _text_object(obj: Any, limit: int, kinds: tuple[str, ...]) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"bad text object {obj!r:.80}"]
    text = obj.get("text")
    allowed = {"type", "text", "verbatim"} if obj["type"] == "mrkdwn" else {"type", "text", "emoji"}
    problems = [] if set(obj) <= allowed else [f"unknown keys {set(obj) - allowed}"]
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        problems.append(f"{obj['type']} text of length {len(text) if isinstance(text, str) else text!r} (max {limit})")
    return problems


def block_problems(block: dict[str, Any]) -> list[str]:
    """Block Kit shape and limits, from Slack's Block Kit reference, for the block types the bot uses."""
    kind = block.get("type")
    if kind == "divider":
        return [] if set(block) <= {"type", "block_id"} else ["divider with content"]
    if kind == "header":
        return _text_object(block.get("text"), mrkdwn.HEADER_TEXT_LIMIT, ("plain_text",))
    if kind == "context":
        elements = block.get("elements") or []
        problems = [] if 1 <= len(elements) <= 10 else ["context needs 1-10 elements"]
        return problems + [p for e in elements for p in _text_object(e, 3000, ("mrkdwn", "plain_text"))]
    if kind == "section":
        problems = [] if "text" in block or "fields" in block else ["section without text or fields"]
        if "text" in block:
            problems += _text_object(block["text"], mrkdwn.SECTION_TEXT_LIMIT, ("mrkdwn", "plain_text"))
        fields = block.get("fields", [None])
        if "fields" in block:
            problems += [] if 1 <= len(fields) <= mrkdwn.MAX_FIELDS else ["section needs 1-10 fields"]
            kinds = ("mrkdwn", "plain_text")
            problems += [p for f in fields for p in _text_object(f, mrkdwn.FIELD_TEXT_LIMIT, kinds)]
        return problems
    if kind == "actions":
        elements = block.get("elements") or []
        problems = [] if 1 <= len(elements) <= 25 else ["actions needs 1-25 elements"]
        for button in elements:
            problems += _text_object(button.get("text"), 75, ("plain_text",))
            if (
                button.get("type") != "button"
                or not 1 <= len(button.get("action_id", "")) <= 255
                or not 1 <= len(button.get("value", "-")) <= 2000
            ):
                problems.append(f"bad button {button!r:.80}")
        return problems
    return [f"unexpected block type {kind!r}"]


def shape_problems(rendered: Rendered) -> list[str]:
    if isinstance(rendered, Message):
        blocks, limit = rendered.blocks, mrkdwn.MAX_BLOCKS_MESSAGE
        problems = [] if 1 <= len(rendered.text) <= mrkdwn.MAX_TEXT else [f"text of {len(rendered.text)} chars"]
    else:
        blocks, limit = rendered.get("blocks", []), mrkdwn.MAX_BLOCKS_HOME
        problems = [] if rendered.get("type") == "home" else ["a view that is not a home view"]
    problems += [] if 1 <= len(blocks) <= limit else [f"{len(blocks)} blocks (max {limit})"]
    return problems + [p for block in blocks for p in block_problems(block)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), name=st.sampled_from(sorted(RENDERERS)))
def test_hostile_text_stays_inert_in_every_renderer(data: st.DataObject, name: str) -> None:
    for rendered in RENDERERS[name](Inputs(data.draw)):
        for text in mrkdwn_texts(rendered):
            assert not live_problems(text), f"{name}: {live_problems(text)} in {text[:300]!r}"
        assert not shape_problems(rendered), f"{name}: {shape_problems(rendered)}"


def test_each_renderer_survives_the_reported_role_name() -> None:
    """The exact text of finding 3, through every renderer (hypothesis may not draw it for each one)."""
    reported = "<!channel> <http://evil.example/login|Re-authenticate here>"
    for name, build in RENDERERS.items():
        for rendered in build(Inputs(lambda _strategy: reported)):
            for text in mrkdwn_texts(rendered):
                assert "<!channel>" not in text and "<http" not in text, f"{name}: {text[:200]!r}"
            assert not shape_problems(rendered), f"{name}: {shape_problems(rendered)}"


@given(st.text())
def test_escape_leaves_nothing_slack_would_parse(value: str) -> None:
    escaped = mrkdwn.escape(value)
    assert "<" not in escaped and ">" not in escaped and "`" not in escaped and "\n" not in escaped
    assert not ENTITY.search(escaped)
    for i, char in enumerate(escaped):
        assert char not in "*~"
        if char == "_":
            assert 0 < i < len(escaped) - 1 and re.match(r"[A-Za-z0-9]_[A-Za-z0-9]", escaped[i - 1 : i + 2])


def test_paths_and_role_names_read_as_they_are() -> None:
    assert (
        mrkdwn.escape(r"\\su1fileserver\SU1_Infrastructure_1\BackupStore")
        == r"\\su1fileserver\SU1_Infrastructure_1\BackupStore"
    )
    assert mrkdwn.escape("KeyVault_Internal") == "KeyVault_Internal"


def test_blob_url_shown_without_its_sas_token() -> None:
    location = BackupLocation(
        name="local",
        path=None,
        blob_url="https://user:pw@acct.blob.example/c" + SAS,
        user_name=None,
        scheduler_enabled=True,
        frequency_hours=12,
        retention_days=7,
        available_capacity="1 TB",
        next_backup=None,
        last_backup=None,
        encryption_cert_thumbprint="AB",
    )
    shown = str(backups.backup_config("east", location).blocks)
    assert "https://acct.blob.example/c" in shown
    assert "sig=" not in shown and "SECRET" not in shown and "pw@" not in shown


REPORTED_ARM_ERROR = "<!channel> <http://evil.example/login|Re-authenticate here>"


@pytest.fixture(scope="module")
def parts(bot_env: dict[str, str]) -> Parts:
    """The web process's parts, built from its settings against the test Redis (no stamp is called here)."""
    return build_parts(load_settings(bot_env))


def refused_start(store: JobStore, error: str) -> Job:
    """A click's job as the stamp's refusal leaves it: reserved, then failed with the stamp's words."""
    job = Job(job_id=Job.new_id(), stamp="sim-stamp", requester=OPERATOR, channel="CBACKUPS")
    assert store.reserve(job, reconcile_after=300) is None
    store.mark_start_failed(job, error)
    return job


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(error=hostile)
def test_the_recovered_click_of_a_refused_start_stays_inert(
    parts: Parts, redis_client: redis.Redis, error: str
) -> None:
    """A recovered Start click through the pipeline, for a start the stamp refused, on a job read back from Redis:
    the stamp's error is outside text."""
    job = refused_start(parts.store, f"start a backup: HTTP 409 (Conflict): {error}")
    click = Command(Action.START_CLICK, stamp="sim-stamp")
    request = Request(click, OPERATOR, "CBACKUPS", item_id=job.job_id, recovered=True)
    reply = parts.pipeline.answer(parts.pipeline.route(click, "CBACKUPS"), request)
    assert not reply.ok and "did not start" in reply.text
    for text in mrkdwn_texts(reply):
        assert not live_problems(text), f"{live_problems(text)} in {text[:300]!r}"
    assert not shape_problems(reply)


def arm_error(message: str) -> str:
    return json.dumps({"error": {"code": "Conflict", "message": message}})


def test_preflight_reasons_keep_the_bots_formatting_and_escape_only_the_stamps_values() -> None:
    """The reasons were sentences built with the stamp's values and then escaped whole, so the bot's own inline
    code came out as look-alike backticks; now the renderer words them and escapes only the stamp's parts."""
    location = BackupLocation(
        name="local",
        path=r"\\su1fileserver\SU1_Infrastructure_1\BackupStore",
        blob_url=None,
        user_name=None,
        scheduler_enabled=True,
        frequency_hours=12,
        retention_days=7,
        available_capacity="1.00 TB",
        next_backup=None,
        last_backup=None,
        encryption_cert_thumbprint="AB",
    )
    backup_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    running = Backup(backup_id=backup_id, status="Running")
    hostile = Backup(backup_id="`x` <!channel>", status="*Running*")
    card = replies.confirmation("east", "local", location, None, preflight_problems(location, [running]))
    assert f"The stamp reports backup `{backup_id}` as Running" in card.blocks[-1]["text"]["text"]
    refused = replies.preflight_refused("east", preflight_problems(location, [hostile]))
    for text in mrkdwn_texts(refused):
        assert not live_problems(text), text
