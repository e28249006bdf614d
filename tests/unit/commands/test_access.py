"""Who may run what (bot/commands/access.py), read from each row of the command table."""

from __future__ import annotations

import pytest

from bot.commands.access import AccessPolicy, PerUserLimit, UserCommandLimit
from bot.commands.table import TABLE, Verb

OPERATOR, READER = "UOPER", "UREADER"


@pytest.mark.parametrize("verb", TABLE, ids=lambda v: str(v.action))
def test_operators_may_run_every_row_and_others_only_the_open_ones(verb: Verb) -> None:
    policy = AccessPolicy(frozenset({OPERATOR}))
    assert policy.refusal(verb, OPERATOR, "C1") is None
    refusal = policy.refusal(verb, READER, "C1")
    if verb.operator_only:
        assert refusal is not None and not refusal.ok and f"only backup operators may {verb.refusal}" in refusal.text
    else:
        assert refusal is None


def test_with_no_operator_configured_the_refusal_says_how_to_configure_one() -> None:
    start = next(v for v in TABLE if v.operator_only)
    refusal = AccessPolicy(frozenset()).refusal(start, READER, "C1")
    assert refusal is not None and "AZS_OPERATORS" in refusal.text and "restart the bot" in refusal.text


@pytest.mark.parametrize("verb", TABLE, ids=lambda v: str(v.action))
def test_outside_the_allowed_channels_every_row_is_refused_even_to_operators(verb: Verb) -> None:
    policy = AccessPolicy(frozenset({OPERATOR}), channels=frozenset({"CBACKUPS"}))
    refusal = policy.refusal(verb, OPERATOR, "CRANDOM")
    assert refusal is not None and "not enabled" in refusal.text
    assert policy.refusal(verb, OPERATOR, "CBACKUPS") is None


def test_app_home_details_are_for_operators_only_when_channels_are_restricted() -> None:
    assert AccessPolicy(frozenset({OPERATOR})).may_read_home(READER)
    restricted = AccessPolicy(frozenset({OPERATOR}), channels=frozenset({"CBACKUPS"}))
    assert restricted.may_read_home(OPERATOR) and not restricted.may_read_home(READER)


def test_a_user_opening_app_home_again_at_once_is_not_served_twice() -> None:
    opens = PerUserLimit(60.0)
    assert opens.allow("U1") and not opens.allow("U1") and opens.allow("U2")


def test_the_per_user_limit_counts_in_process_while_redis_cannot() -> None:
    limit = UserCommandLimit(per_minute=2)
    assert [limit.allow_here("U1") for _ in range(3)] == [True, True, False]
    assert limit.allow_here("U1", operator=True)  # the Start card and click have their own count
