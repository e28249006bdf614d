"""Pure parsers and renderers: real recorded bodies, and any input at all (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import table
from bot.commands.backups import preflight_problems
from bot.commands.parse import parse
from bot.commands.table import Action
from bot.model.backup import Backup, backups_from_list
from bot.model.fields import parse_duration, parse_time
from bot.model.location import BackupLocation
from bot.stamp.lro import STRATEGIES
from bot.state.job import Job
from bot.words import posts, replies
from bot.words.backups import backup_detail
from bot.words.mrkdwn import human_duration
from tests.harness import FIXTURES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
backupish = st.fixed_dictionaries(
    {
        "name": json_values,
        "properties": st.fixed_dictionaries(
            {
                "backupInfo": st.dictionaries(
                    st.sampled_from(
                        [
                            "backupId",
                            "status",
                            "createdDateTime",
                            "timeTakenToCreate",
                            "roleStatus",
                            "stampVersion",
                            "isAutomaticBackup",
                            "isCloudRecoveryReady",
                        ]
                    ),
                    json_values,
                )
            }
        ),
    }
)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("raw", "seconds", "human"),
    [
        ("PT21M15.0081024S", 1275.0081024, "21m 15s"),
        ("PT6M35.345912S", 395.345912, "6m 35s"),
        ("PT0S", 0.0, "0s"),
        ("P1DT2H", 93600.0, "1d 2h"),
        ("PT1H0M5S", 3605.0, "1h 5s"),
        ("garbage", None, "unknown"),
        ("PT", None, "unknown"),
        (None, None, "unknown"),
        (12, None, "unknown"),
    ],
)
def test_durations(raw: Any, seconds: float | None, human: str) -> None:
    assert parse_duration(raw) == pytest.approx(seconds) if seconds is not None else parse_duration(raw) is None
    assert human_duration(parse_duration(raw)) == human


def test_seven_fractional_digits_and_nonsense_times() -> None:
    parsed = parse_time("2018-09-13T10:34:00.7672796Z")
    assert parsed is not None and parsed.microsecond == 767279
    assert parse_time("yesterday") is None and parse_time(17) is None


def test_recorded_partial_backup_lists_its_failed_roles() -> None:
    backups = backups_from_list(load("backups_list_2108_partial.json"))
    assert len(backups) == 8
    created = [b.created for b in backups if b.created is not None]
    assert len(created) == 8 and created == sorted(created, reverse=True)
    partial = next(b for b in backups if b.status == "PartialSucceeded")
    assert partial.is_terminal and partial.failed_roles and partial.time_taken_seconds == 0
    job = Job(job_id="j", stamp="redmond", requester="U1", channel="C1", backup_id=partial.backup_id)
    message = posts.completion(job, partial)
    assert "only partially succeeded" in message.text + json.dumps(message.blocks)
    assert all(role in json.dumps(message.blocks) for role in partial.failed_roles[:5])


def test_recorded_final_body_renders_the_evidence() -> None:
    backup = Backup.from_json(load("create_backup_final_2002.json"))
    assert backup is not None and backup.backup_id == "08b92613-837a-43cd-86b5-1212ef954384"
    job = Job(job_id="j", stamp="redmond", requester="U1", channel="C1", backup_id=backup.backup_id)
    rendered = json.dumps(posts.completion(job, backup).as_kwargs())
    for expected in ("Succeeded", "6m 35s", "1.2002.0.35", "2020-03-04 12:22:18 UTC", "<@U1>"):
        assert expected in rendered
    assert "encryptedBackupEncryptionKey" not in rendered and "pQDlmgkW" not in rendered
    assert Backup.from_dict(json.loads(json.dumps(backup.to_dict()))) == backup


def test_location_with_string_integers_and_the_unconfigured_signature() -> None:
    location = BackupLocation.from_json(load("backup_location_2002.json"))
    assert location.frequency_hours == 10 and location.is_configured and location.available_capacity == "1.00 TB"
    store = {"backupFrequencyInHours": "", "path": "", "encryptionCertThumbprint": None}
    odd = BackupLocation.from_json({"properties": {"externalStoreDefault": store}})
    assert odd.frequency_hours is None and not odd.is_configured


@given(st.text(max_size=200))
def test_any_command_text_parses_to_something_answerable(text: str) -> None:
    command = parse(text)
    reply = replies.help_message(table.usage(), command.problem) if command.action == Action.HELP else None
    assert reply is None or "/azs backup" in reply.text


@settings(max_examples=300)
@given(json_values | backupish)
def test_any_json_body_is_parsed_without_raising(body: Any) -> None:
    Backup.from_json(body)
    BackupLocation.from_json(body)
    backups_from_list({"value": [body, body]})
    for strategy in STRATEGIES.values():
        for status in (200, 202):
            strategy.interpret(status, {}, body)


@settings(max_examples=200)
@given(backupish)
def test_any_backup_renders(body: Any) -> None:
    backup = Backup.from_json(body)
    if backup is not None:
        job = Job(job_id="j", stamp="s", requester="U1", channel="C1", backup_id=backup.backup_id)
        assert posts.completion(job, backup).text
        assert backup_detail("s", backup).blocks


def test_progress_edits_stay_within_their_share_of_slacks_limit() -> None:
    from slack_sdk import WebClient

    from bot.slack.client import SlackPoster

    poster = SlackPoster(WebClient(base_url="http://127.0.0.1:9/api/"), progress_per_minute=3)
    assert [poster.progress_allowed() for _ in range(5)] == [True, True, True, False, False]


def test_capacity_preflight_works_on_what_stamps_report() -> None:
    """Recorded bodies carry no backup size (absent, or 0), so the check is free space under 1 GB."""
    location_body = load("backup_location_2002.json")
    backups = backups_from_list(load("backups_list_2002.json")) + backups_from_list(
        load("backups_list_2108_partial.json")
    )
    assert backups and not any(b.size_kb for b in backups)
    assert preflight_problems(BackupLocation.from_json(location_body), backups) == []  # "1.00 TB" free
    location_body["properties"]["externalStoreDefault"]["availableCapacity"] = "979 MB"
    [problem] = preflight_problems(BackupLocation.from_json(location_body), backups)
    assert "979 MB" in replies.preflight_text(problem) and "1 GB" in replies.preflight_text(problem)
    blob = BackupLocation.from_json(load("backup_location_2108_blob.json"))
    assert blob.available_capacity is None and preflight_problems(blob, backups) == []  # blob: not reported


def test_schedule_verbs_keep_their_words_and_report_monthly_is_two_words() -> None:
    from bot.commands.table import Action

    digest = parse("backup digest weekly fri 17:30 problems-only")
    assert (digest.action, digest.option) == (Action.DIGEST, "weekly fri 17:30 problems-only")
    assert parse("backup east timezone Europe/Berlin").stamp == "east"
    assert parse("backup timezone Europe/Berlin").option == "Europe/Berlin"
    monthly = parse("backup report monthly off")
    assert (monthly.action, monthly.option, monthly.stamp) == (Action.REPORT_MONTHLY, "off", None)
    assert parse("backup report monthly").problem is not None
    assert parse("backup digest").problem is not None
    assert parse("backup digest a b c d e").problem is not None
