"""The update location as recorded, release arithmetic, and the state classes the settings define."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config.env import SettingsError
from bot.config.settings import Settings, load_settings
from bot.model.update import (
    KNOWN_RELEASES,
    Release,
    UpdateClass,
    UpdateLocation,
    UpdateStates,
    Verdict,
    compare_versions,
)
from tests.harness import FIXTURES

RECORDINGS = FIXTURES / "recordings" / "update-admin"
BASE = {
    "SLACK_BOT_TOKEN": "xoxb-test-token",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "AZS_ARM_ENDPOINT": "https://adminmanagement.local.azurestack.external",
    "AZS_CLIENT_ID": "client",
    "AZS_CLIENT_SECRET": "secret-value",
}


def recorded_2018(entry: int) -> Any:
    return json.loads(
        json.loads((RECORDINGS / "2018_TestGetUpdateLocation.json").read_text())["Entries"][entry]["ResponseBody"]
    )


def recorded_2022() -> Any:
    document = json.loads((RECORDINGS / "2022_Get-AzsUpdateLocation.Recording.json").read_text())
    return json.loads(next(iter(document.values()))["Response"]["Content"])


def defaults() -> UpdateStates:
    return UpdateStates(Settings.update_clean_states, Settings.update_running_states, Settings.update_failed_states)


def test_the_2018_location_as_recorded() -> None:
    location = UpdateLocation.from_json(recorded_2018(1))
    assert location == UpdateLocation(
        name="Redmond",
        state="AppliedSuccessfully",
        current_version="1.0.180302.1",
        current_oem_version="1.0.1709.3",
        last_updated=datetime(2018, 3, 3, 8, 9, 12, 882455, tzinfo=UTC),
        last_checked=None,
    )
    listed = UpdateLocation.from_json(recorded_2018(0)["value"][0])
    assert listed == location
    assert location.release == Release(1803)


def test_the_2022_location_has_no_last_updated_and_a_last_checked_without_offset() -> None:
    location = UpdateLocation.from_json(recorded_2022())
    assert (location.name, location.state, location.current_version, location.current_oem_version) == (
        "redmond",
        "UpdateFailed",
        "9.2222.0.222",
        "2.2.1907.2",
    )
    assert location.last_updated is None
    assert location.last_checked == datetime(2022, 4, 5, 15, 17, 41, tzinfo=UTC)
    assert location.release is None  # 9.2222 is synthetic: month 22


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-03-03T08:09:12.8824552Z", datetime(2018, 3, 3, 8, 9, 12, 882455, tzinfo=UTC)),
        ("2022-04-05T15:17:41", datetime(2022, 4, 5, 15, 17, 41, tzinfo=UTC)),
        ("2022-04-05T15:55:54.5960205+00:00", datetime(2022, 4, 5, 15, 55, 54, 596020, tzinfo=UTC)),
        ("2018-03-02T09:25:37.4173123-08:00", datetime(2018, 3, 2, 17, 25, 37, 417312, tzinfo=UTC)),
        ("9999-12-31T11:59:59.99999999Z", datetime(9999, 12, 31, 11, 59, 59, 999999, tzinfo=UTC)),
        ("not a time", None),
        (None, None),
        (12, None),
    ],
)
def test_recorded_time_formats(text: Any, expected: datetime | None) -> None:
    body = {"name": "x", "properties": {"lastUpdated": text, "lastChecked": text}}
    location = UpdateLocation.from_json(body)
    assert (location.last_updated, location.last_checked) == (expected, expected)


@pytest.mark.parametrize("body", [None, [], "text", {}, {"properties": None}, {"properties": {"state": {"x": 1}}}])
def test_anything_parses_to_a_location_with_what_is_there(body: Any) -> None:
    location = UpdateLocation.from_json(body)
    assert location.state is None and location.current_version is None and location.name == "?"


def test_a_location_survives_its_stored_form() -> None:
    for location in (UpdateLocation.from_json(recorded_2018(1)), UpdateLocation.from_json(recorded_2022())):
        assert UpdateLocation.from_dict(json.loads(json.dumps(location.to_dict()))) == location


@pytest.mark.parametrize(
    ("version", "release"),
    [
        ("1.2108.0.32", 2108),
        ("1.2108.2.65", 2108),  # a hotfix is the same release
        ("1.1809.12.114", 1809),
        ("1.2002.0.35", 2002),
        ("1.0.180302.1", 1803),  # the early-2018 scheme
        ("9.2222.0.222", None),
        ("1.2113.0.1", None),
        ("1.21.0.1", None),
        ("", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_a_release_is_the_yymm_of_a_version(version: str | None, release: int | None) -> None:
    found = Release.of(version)
    assert (found.yymm if found else None) == release


@pytest.mark.parametrize(
    ("backup", "stamp", "seen", "verdict", "supported"),
    [
        ("1.2108.0.32", "1.2108.0.32", (), Verdict.SAME, True),
        ("1.2108.0.32", "1.2108.2.65", (), Verdict.SAME, True),  # a hotfix since: still the same release
        ("1.2102.0.30", "1.2108.0.32", (), Verdict.PREVIOUS, True),
        ("1.2102.0.30", "1.2108.0.32", ("1.2102.0.30", "1.2108.0.32"), Verdict.PREVIOUS, True),
        ("1.2102.0.30", "1.2206.0.12", ("1.2108.0.32",), Verdict.TOO_OLD, False),  # 2108 was between
        ("1.2206.0.12", "1.2108.0.32", (), Verdict.NEWER, None),
        ("1.2108.0.32", None, (), Verdict.UNKNOWN, None),
        (None, "1.2108.0.32", (), Verdict.UNKNOWN, None),
        ("9.2222.0.222", "9.8888.0.888", (), Verdict.UNKNOWN, None),
        # published releases count as between even when the stamp was never seen running them
        ("1.1809.0.45", "1.2108.0.32", (), Verdict.TOO_OLD, False),
        ("1.2306.0.16", "1.2406.1.23", (), Verdict.TOO_OLD, False),  # 2311 came between
        ("1.2408.1.50", "1.2501.0.21", (), Verdict.PREVIOUS, True),
        # past the newest known release (2506): a gap of up to a year is the next release, more is unknown
        ("1.2506.0.15", "1.2601.0.9", (), Verdict.PREVIOUS, True),
        ("1.2506.0.15", "1.2606.0.9", (), Verdict.PREVIOUS, True),  # exactly twelve months
        ("1.2506.0.15", "1.2607.0.9", (), Verdict.UNKNOWN, None),
        ("1.2506.0.15", "1.2607.0.9", ("1.2601.0.9",), Verdict.TOO_OLD, False),  # the stamp ran 2601 between
        ("1.2501.0.21", "1.2601.0.9", (), Verdict.TOO_OLD, False),  # 2506 came between
    ],
)
def test_the_one_release_rule(
    backup: str | None, stamp: str | None, seen: tuple[str, ...], verdict: Verdict, supported: bool | None
) -> None:
    check = compare_versions(backup, stamp, seen)
    assert (check.verdict, check.supported) == (verdict, supported)


def test_the_releases_seen_between_are_named() -> None:
    seen = ["1.2102.0.3", "1.2104.0.1", "1.2301.0.1", "1.2005.0.1"]
    check = compare_versions("1.2008.0.1", "1.2206.0.12", seen, known=(Release(2102), Release(2108)))
    assert [str(r) for r in check.between] == ["2102", "2104", "2108"]  # known and seen together
    assert [str(r) for r in compare_versions("1.2008.0.1", "1.2206.0.12").between] == ["2102", "2108"]


def test_only_a_gap_past_the_known_releases_is_unsure() -> None:
    """A year or more between two adjacent published releases is still the previous one: the list is complete up
    to its newest; past it, nothing is known, so more than a year apart cannot be confirmed."""
    known = (Release(2001), Release(2106))
    assert compare_versions("1.2001.0.1", "1.2106.0.1", known=known).verdict is Verdict.PREVIOUS
    unsure = compare_versions("1.2106.0.1", "1.2209.0.1", known=known)
    assert (unsure.verdict, unsure.unsure_between, unsure.supported) == (Verdict.UNKNOWN, True, None)
    assert not compare_versions(None, "1.2209.0.1", known=known).unsure_between


def test_the_known_releases_are_in_order_and_well_formed() -> None:
    assert list(KNOWN_RELEASES) == sorted(set(KNOWN_RELEASES))
    assert all(Release.of(f"1.{r}.0.1") == r for r in KNOWN_RELEASES)
    assert str(KNOWN_RELEASES[0]) == "1802" and Release(2506) in KNOWN_RELEASES
    assert Release(2108).months_to(Release(2206)) == 10


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        ("AppliedSuccessfully", UpdateClass.CLEAN),
        ("appliedsuccessfully", UpdateClass.CLEAN),
        ("AppliedUpdateAvailableSuccessfully", UpdateClass.CLEAN),
        ("UpdateAvailable", UpdateClass.CLEAN),
        ("PreparationInProgress", UpdateClass.RUNNING),
        ("UpdateInProgress", UpdateClass.RUNNING),
        ("PreparationFailed", UpdateClass.FAILED),
        ("UpdateFailed", UpdateClass.FAILED),
        ("NeedsAttention", UpdateClass.FAILED),
        ("Unknown", UpdateClass.UNKNOWN),
        ("SomethingNew", UpdateClass.UNKNOWN),
        (None, UpdateClass.UNKNOWN),
        ("", UpdateClass.UNKNOWN),
    ],
)
def test_the_default_state_classes(state: str | None, kind: UpdateClass) -> None:
    assert defaults().classify(state) is kind


def test_only_running_and_failed_updates_pause_backups() -> None:
    """An unknown state keeps the overdue alarm: a state nobody listed must not hide missing backups."""
    paused = {kind for kind in UpdateClass if kind.pauses_backups}
    assert paused == {UpdateClass.RUNNING, UpdateClass.FAILED}


def test_the_settings_move_a_state_between_classes() -> None:
    """An operator who finds the stamp backs up after a failed health check makes UpdateFailed clean."""
    settings = load_settings(
        {
            **BASE,
            "AZS_UPDATE_CLEAN_STATES": "AppliedSuccessfully, UpdateFailed",
            "AZS_UPDATE_FAILED_STATES": "PreparationFailed,NeedsAttention",
            "AZS_UPDATE_RUNNING_STATES": "PreparationInProgress,UpdateInProgress,Preparing",
        }
    )
    states = UpdateStates(settings.update_clean_states, settings.update_running_states, settings.update_failed_states)
    assert states.classify("UpdateFailed") is UpdateClass.CLEAN
    assert states.classify("Preparing") is UpdateClass.RUNNING
    assert states.classify("UpdateAvailable") is UpdateClass.UNKNOWN  # no longer listed as clean
    assert load_settings(BASE).update_running_states == ("PreparationInProgress", "UpdateInProgress")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AZS_UPDATE_CLEAN_STATES": "AppliedSuccessfully,UpdateInProgress"}, "AZS_UPDATE_RUNNING_STATES"),
        ({"AZS_UPDATE_FAILED_STATES": "updatefailed,AppliedSuccessfully"}, "AZS_UPDATE_CLEAN_STATES"),
        ({"AZS_UPDATE_RUNNING_STATES": "Update In Progress"}, "AZS_UPDATE_RUNNING_STATES"),
        ({"AZS_UPDATE_RUNNING_STATES": "<!channel>"}, "AZS_UPDATE_RUNNING_STATES"),
        ({"AZS_UPDATE_CLEAN_STATES": ",,"}, "AZS_UPDATE_CLEAN_STATES"),
        ({"AZS_UPDATE_FAILED_STATES": ",".join(f"S{i}" for i in range(33))}, "AZS_UPDATE_FAILED_STATES"),
    ],
)
def test_bad_state_lists_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **env})
    assert named in str(caught.value) and str(caught.value).startswith("AZS_UPDATE_")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
FIELDS = ["currentVersion", "currentOemVersion", "state", "lastUpdated", "lastChecked", "packageVersions"]


@settings(max_examples=300, deadline=None)
@given(body=JSON | st.fixed_dictionaries({"name": JSON, "properties": st.dictionaries(st.sampled_from(FIELDS), JSON)}))
def test_any_json_parses_without_raising(body: Any) -> None:
    location = UpdateLocation.from_json(body)
    assert UpdateLocation.from_dict(json.loads(json.dumps(location.to_dict()))) == location
    defaults().classify(location.state)
    compare_versions(location.current_version, "1.2108.0.32")
