"""The poll strategies (:mod:`bot.stamp.lro`) as tables: pure, status/headers/body in, result out.

One table per question a strategy answers: which one follows a job (:func:`select`), what it GETs
next, how it reads an answer, where the final state is read, and on which failures it falls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bot.model.backup import Backup
from bot.stamp import lro
from bot.stamp.lro import BackupById, Operation, PollResult

BACKUP = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
OPS = "https://stamp/subscriptions/x/operationStatus/1"
LOC = "https://stamp/subscriptions/x/operationResults/1"
FOREIGN = "https://other/subscriptions/x/operationResults/1"
ASYNC, LOCATION, BY_ID = (lro.STRATEGIES[name] for name in ("async", "location", "backup"))


@dataclass
class Followed:
    """What a strategy reads of a job."""

    poll_url: str = ""
    location_url: str = ""
    backup_id: str = BACKUP


def on_endpoint(url: str) -> bool:
    return not url.startswith("https://other/")


def resource(status: str, roles: bool = True) -> dict[str, Any]:
    """A Backup resource as the stamp returns it (by id, or at ``Location`` once finished)."""
    role_status = [{"roleName": "ACS", "status": status}] if roles else []
    info = {"backupDataVersion": "1.0.1", "status": status, "roleStatus": role_status}
    return {"name": f"local/{BACKUP}", "properties": {"backupInfo": info}}


SUCCEEDED = Backup.from_json(resource("Succeeded"))
BARE = Backup.from_json(resource("Succeeded", roles=False))

SELECT = [
    ("createBackup named both: the async operation", Followed(OPS, LOC), "async"),
    ("only Location: the Location operation", Followed(LOC, LOC), "location"),
    ("no operation URL: the backup by id", Followed("", LOC), "backup"),
    ("an operation URL on another host: still its strategy (the client refuses it)", Followed(FOREIGN, LOC), "async"),
    ("adopted from the stamp's list: by id", Followed("", ""), "backup"),
]


@pytest.mark.parametrize(("why", "job", "expected"), SELECT, ids=[r[0] for r in SELECT])
def test_select(why: str, job: Followed, expected: str) -> None:
    assert lro.select(job).name == expected, why


NEXT_GET = [
    (ASYNC, Followed(OPS, LOC), Operation(OPS)),
    (LOCATION, Followed(LOC, LOC), Operation(LOC)),
    (BY_ID, Followed(OPS, LOC), BackupById(BACKUP)),
]


@pytest.mark.parametrize(("strategy", "job", "expected"), NEXT_GET, ids=[r[0].name for r in NEXT_GET])
def test_next_get(strategy: lro.PollingStrategy, job: Followed, expected: lro.Target) -> None:
    assert strategy.next_get(job) == expected


INTERPRET = [
    ("async: accepted", ASYNC, 202, None, lro.RUNNING),
    ("async: running", ASYNC, 200, {"status": "InProgress"}, lro.RUNNING),
    ("async: no status yet", ASYNC, 200, {}, lro.RUNNING),
    ("async: a body that is not an object", ASYNC, 200, [1, 2], lro.RUNNING),
    ("async: succeeded, bare", ASYNC, 200, {"status": "Succeeded"}, PollResult(True)),
    ("async: succeeded with the backup", ASYNC, 200, {"status": "Succeeded", **resource("Succeeded")}, None),
    (
        "async: failed with ARM's error",
        ASYNC,
        200,
        {"status": "Failed", "error": {"code": "Boom", "message": "it broke"}},
        PollResult(True, error="Boom: it broke"),
    ),
    ("async: canceled, no error", ASYNC, 200, {"status": "Canceled"}, PollResult(True, error="canceled")),
    ("location: running", LOCATION, 202, None, lro.RUNNING),
    ("location: the finished backup", LOCATION, 200, resource("Succeeded"), PollResult(True, SUCCEEDED)),
    ("location: 200 with an empty body (2002)", LOCATION, 200, None, PollResult(True)),
    ("location: 200 with a running backup", LOCATION, 200, resource("Running"), lro.RUNNING),
    ("by id: not known yet", BY_ID, 404, None, lro.RUNNING),
    ("by id: running", BY_ID, 200, resource("Running"), lro.RUNNING),
    ("by id: finished", BY_ID, 200, resource("Succeeded"), PollResult(True, SUCCEEDED)),
]


@pytest.mark.parametrize(("why", "strategy", "status", "body", "expected"), INTERPRET, ids=[r[0] for r in INTERPRET])
def test_interpret(
    why: str, strategy: lro.PollingStrategy, status: int, body: Any, expected: PollResult | None
) -> None:
    result = strategy.interpret(status, {}, body)
    if expected is None:  # the operation body carried the backup: read as the resource it is
        assert result.done and result.backup is not None and result.backup.roles, why
    else:
        assert result == expected, why


BY, DONE, DONE_WITH_ROLES = BackupById(BACKUP), PollResult(True), PollResult(True, SUCCEEDED)
FINAL_READS = [
    ("async, bare: Location, then by id", ASYNC, Followed(OPS, LOC), DONE, (Operation(LOC), BY)),
    ("async with roles: Location, else its own answer", ASYNC, Followed(OPS, LOC), DONE_WITH_ROLES, (Operation(LOC),)),
    ("async, Location elsewhere: by id", ASYNC, Followed(OPS, FOREIGN), DONE, (BY,)),
    ("async without Location, with roles: its answer", ASYNC, Followed(OPS, ""), DONE_WITH_ROLES, ()),
    ("location, finished backup: its answer", LOCATION, Followed(LOC, LOC), DONE_WITH_ROLES, ()),
    ("location, empty 200: by id", LOCATION, Followed(LOC, LOC), DONE, (BY,)),
    ("location, a backup without roles: by id", LOCATION, Followed(LOC, LOC), PollResult(True, BARE), (BY,)),
    ("by id: its answer is the backup", BY_ID, Followed("", LOC), DONE_WITH_ROLES, ()),
]


@pytest.mark.parametrize(("why", "strategy", "job", "result", "reads"), FINAL_READS, ids=[r[0] for r in FINAL_READS])
def test_final_reads(
    why: str, strategy: lro.PollingStrategy, job: Followed, result: PollResult, reads: tuple[lro.Target, ...]
) -> None:
    assert strategy.final_reads(job, result, on_endpoint) == reads, why


FINAL_BACKUP = [
    ("Location: the finished backup", Operation(LOC), 200, resource("Succeeded"), SUCCEEDED),
    ("Location: still accepted", Operation(LOC), 202, None, None),
    ("Location: null (2108)", Operation(LOC), 200, None, None),
    ("Location: a running backup is nothing yet", Operation(LOC), 200, resource("Running"), None),
    ("by id: the backup", BackupById(BACKUP), 200, resource("Succeeded"), SUCCEEDED),
    ("by id: a running backup is followed on", BackupById(BACKUP), 200, resource("Running"), "Running"),
    ("by id: not known", BackupById(BACKUP), 404, None, None),
]


@pytest.mark.parametrize(
    ("why", "target", "status", "body", "expected"), FINAL_BACKUP, ids=[r[0] for r in FINAL_BACKUP]
)
def test_final_backup(why: str, target: lro.Target, status: int, body: Any, expected: Backup | str | None) -> None:
    found = lro.final_backup(target, status, body)
    if isinstance(expected, str):
        assert found is not None and found.status == expected, why
    else:
        assert found == expected, why


FALLS_BACK = [
    ("operation URL gone", ASYNC, 404, None, True),
    ("Location gone", LOCATION, 404, None, True),
    ("refused: another host or shape", ASYNC, None, lro.FOREIGN_HOST, True),
    ("redirected", LOCATION, 302, lro.REDIRECTED, True),
    ("throttled: wait, do not fall back", ASYNC, 429, None, False),
    ("forbidden: a refusal to count", ASYNC, 403, "AuthorizationFailed", False),
    ("by id has no fallback", BY_ID, 404, None, False),
]


@pytest.mark.parametrize(("why", "strategy", "status", "code", "expected"), FALLS_BACK, ids=[r[0] for r in FALLS_BACK])
def test_falls_back_on(
    why: str, strategy: lro.PollingStrategy, status: int | None, code: str | None, expected: bool
) -> None:
    assert strategy.falls_back_on(status, code) is expected, why
    assert (strategy.fallback == "backup") is (strategy is not BY_ID)


def test_only_an_operations_retry_after_paces_the_next_poll() -> None:
    assert (ASYNC.obeys_retry_after, LOCATION.obeys_retry_after, BY_ID.obeys_retry_after) == (True, True, False)
