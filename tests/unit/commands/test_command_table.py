"""The command table is the one place a command is declared, and the modules' imports point one way."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from bot.commands import table as verbs
from bot.commands.parse import parse
from bot.commands.table import BACKUP_VERBS, TABLE, Action, Args
from bot.words import replies
from tests.harness import ROOT


def manifest_hints(root: Path) -> list[str]:
    return [
        command["usage_hint"]
        for name in verbs.MANIFESTS
        for command in json.loads((root / name).read_text())["features"]["slash_commands"]
        if command["command"] == "/azs"
    ]


def test_both_manifests_show_the_tables_usage_hint() -> None:
    assert manifest_hints(ROOT) == [verbs.usage_hint()] * len(verbs.MANIFESTS), (
        "run `python -m bot.commands.table` to regenerate the manifests' usage_hint from bot/commands/table.py"
    )


def test_the_hint_is_regenerated_from_the_table_and_nothing_else_changes(tmp_path: Path) -> None:
    for name in verbs.MANIFESTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / name).read_text().replace(verbs.usage_hint(), "backup [old|hint]")
        (tmp_path / name).write_text(text)
    assert len(verbs.write_usage_hints(tmp_path)) == len(verbs.MANIFESTS)
    for name in verbs.MANIFESTS:
        assert (tmp_path / name).read_text() == (ROOT / name).read_text()
    assert verbs.write_usage_hints(tmp_path) == []


def sample_text(verb: verbs.Verb) -> str:
    """A well-formed ``/azs backup ...`` for the verb, from its row alone."""
    words = {
        Args.NONE: "",
        Args.BACKUP_ID: " 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        Args.CHOICE: f" {verb.choices[-1]}" if verb.choices else "",
        Args.WORDS: f" {verb.choices[-1]}" if verb.choices else "",
        Args.DAYS_PAGE: " 7 page 1",
        Args.REPORT: " 2026-03 all",
    }[verb.args]
    return f"backup {verb.action}{words}"


@pytest.mark.parametrize(
    "verb", [v for v in TABLE if v.under_backup and v.action != Action.HELP], ids=lambda v: str(v.action)
)
def test_each_row_parses_runs_and_is_in_the_help(verb: verbs.Verb) -> None:
    command = parse(sample_text(verb))
    assert command.action == verb.action and command.problem is None
    assert callable(verb.runner)
    assert verb.doing and verb.usage and verb.usage in replies.help_message(verbs.usage()).text


def test_the_parser_knows_exactly_the_tables_words() -> None:
    assert set(BACKUP_VERBS) == {v.action.value for v in TABLE if v.under_backup} | {"help"}
    assert parse("backup frobnicate") == parse("backup frobnicate start")  # not a verb: a stamp's name
    assert parse("backup frobnicate").stamp == "frobnicate"
    assert parse("backup list extra").problem


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        *(
            (
                f"bot/words/{name}.py",
                {"bot.state", "bot.worker", "bot.commands", "bot.serve", "redis", "bot.stamp", "slack_sdk"},
            )
            for name in ("mrkdwn", "backups", "replies", "posts", "home")
        ),
        ("bot/commands/table.py", {"bot.serve", "bot.worker", "bot.state", "handlers", "redis"}),
        (
            "bot/commands/request.py",
            {"bot.commands.backups", "bot.commands.pipeline", "bot.commands.parse", "bot.serve"},
        ),
        ("bot/commands/backups.py", {"bot.commands.table", "bot.commands.pipeline", "bot.worker", "handlers"}),
        ("bot/commands/pipeline.py", {"bot.worker", "bot.serve", "handlers", "slack_bolt"}),
        ("bot/commands/parse.py", {"bot.state.jobs", "bot.commands.backups", "redis"}),
    ],
)
def test_arrows_point_one_way(module: str, forbidden: set[str]) -> None:
    """handlers -> services -> (job store, stamp client, renderers) -> models; renderers take plain data."""
    found = imports(ROOT / module)
    wrong = {name for name in found for bad in forbidden if name == bad or name.startswith(bad + ".")}
    assert not wrong, f"{module} imports {sorted(wrong)}"


def test_shared_concerns_are_not_reached_through_the_first_stamp() -> None:
    router, web = (ROOT / "bot/commands/pipeline.py").read_text(), (ROOT / "bot/serve/web.py").read_text()
    for concern in ("prefs", "access", "audit_log", "authorise", "guarded", "record", "store"):
        assert f"first.{concern}" not in router, concern
    assert ".first" not in web and "poster.health" not in web
    assert "first.store" not in (ROOT / "bot/serve/dispatch.py").read_text()


def test_the_parser_names_no_verb_itself() -> None:
    """Every word the parser knows after ``/azs backup`` comes from the table."""
    source = (ROOT / "bot/commands/parse.py").read_text()
    for verb in TABLE:
        if verb.under_backup:
            assert f'"{verb.action.value}"' not in source, f"bot/commands/parse.py names {verb.action.value!r} itself"
