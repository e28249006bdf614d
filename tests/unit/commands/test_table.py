"""The command table (bot/commands/table.py) is consistent with itself: every action has one row, every row a
runner by reference, and the lane, the help and the access rules read from the row agree."""

from __future__ import annotations

import inspect

import pytest

from bot.commands.backups import BackupService
from bot.commands.parse import parse
from bot.commands.table import BY_ACTION, TABLE, Action, Lane, Verb, usage
from bot.words import replies


def test_every_action_has_exactly_one_row() -> None:
    assert sorted(v.action for v in TABLE) == sorted(Action)
    assert len(BY_ACTION) == len(TABLE)


@pytest.mark.parametrize("verb", TABLE, ids=lambda v: str(v.action))
def test_each_runner_is_named_by_reference_and_takes_the_service_and_the_request(verb: Verb) -> None:
    assert callable(verb.runner) and not isinstance(verb.runner, str)
    service, request = inspect.signature(verb.runner).parameters
    assert service in ("self", "_service") and request in ("request", "_request")
    if service == "self":  # a BackupService method, found by find-usages from the row
        assert getattr(BackupService, verb.runner.__name__) is verb.runner


@pytest.mark.parametrize("verb", TABLE, ids=lambda v: str(v.action))
def test_the_row_says_everything_the_pipeline_needs(verb: Verb) -> None:
    assert verb.in_ack or verb.doing, "a row answered in a lane says what it does, for its failure reply"
    assert not verb.in_ack or verb.lane == Lane.BOT, "a row answered in the ack calls no stamp"
    assert verb.lane != Lane.OPERATOR or verb.operator_only, "the operator lane is for operator work"
    if verb.usage:
        assert verb.usage in replies.help_message(usage()).text.replace("*", "")


def test_typed_rows_parse_and_the_click_cannot_be_typed() -> None:
    assert parse("backup start-click").action != Action.START_CLICK
    assert parse("stamps use west").stamp == "west"
    for verb in (v for v in TABLE if v.under_backup):
        assert parse(f"backup {verb.action.value}").action in (verb.action, Action.HELP)
