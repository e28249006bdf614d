"""The recorded update-location reads (2018 and 2022 stamps) replayed through the bot's real stamp client.

:class:`tests.replay.ReplayStamp` answers each recorded request with the recorded status and body, in order,
and refuses anything else: the path (without case: the recordings spell ``resourcegroups`` and ``Redmond``,
the client ``resourceGroups`` and the configured region) and the api-version must be the recorded ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config.settings import Settings
from bot.config.stamps import load_stamp
from bot.model.update import UpdateClass, UpdateLocation, UpdateStates
from bot.stamp.arm import ArmClient
from bot.stamp.errors import StampError
from tests.replay import ReplayStamp, UpdateSession, update_location_sessions

SESSIONS = update_location_sessions()
EXPECTED = {
    "2018 TestGetUpdateLocation": UpdateLocation(
        "Redmond",
        "AppliedSuccessfully",
        "1.0.180302.1",
        "1.0.1709.3",
        datetime(2018, 3, 3, 8, 9, 12, 882455, tzinfo=UTC),
        None,
    ),
    "2022 Get-AzsUpdateLocation": UpdateLocation(
        "redmond", "UpdateFailed", "9.2222.0.222", "2.2.1907.2", None, datetime(2022, 4, 5, 15, 17, 41, tzinfo=UTC)
    ),
}
CLASSES = {"2018 TestGetUpdateLocation": UpdateClass.CLEAN, "2022 Get-AzsUpdateLocation": UpdateClass.FAILED}


def replay_client(session: UpdateSession, tmp_path: Path, api_version: str) -> tuple[ReplayStamp, ArmClient]:
    ca = tmp_path / "ca.pem"
    replay = ReplayStamp(session.as_session(), updates=session.exchanges).start(ca)
    env = {**replay.env(ca), "AZS_UPDATE_API_VERSION": api_version}
    return replay, ArmClient(load_stamp(env), max_attempts=1)


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: s.name)
def test_the_recorded_update_location_through_the_real_client(session: UpdateSession, tmp_path: Path) -> None:
    replay, client = replay_client(session, tmp_path, session.api_version)
    try:
        read = [client.update_location() for _ in session.exchanges]
    finally:
        replay.stop()
    assert read == [EXPECTED[session.name]] * len(session.exchanges)
    states = UpdateStates(Settings.update_clean_states, Settings.update_running_states, Settings.update_failed_states)
    assert states.classify(read[0].state) is CLASSES[session.name]
    assert replay.kinds() == {"metadata": 1, "openid-configuration": 1, "token": 1, "update": len(session.exchanges)}
    assert replay.update_position == len(session.exchanges)


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: s.name)
def test_another_api_version_is_not_the_recorded_request(session: UpdateSession, tmp_path: Path) -> None:
    """The replay is strict: the client sends the configured update api-version, and nothing else is recorded."""
    other = "2021-07-01" if session.api_version == "2016-05-01" else "2016-05-01"
    replay, client = replay_client(session, tmp_path, other)
    try:
        with pytest.raises(StampError) as caught:
            client.update_location()
    finally:
        replay.stop()
    assert caught.value.status == 400 and caught.value.code == "NotInRecording"
    assert replay.update_position == 0
