"""One look at a stamp for the snapshot: the backup location, the backup list and the update location.

The worker's refresher is the only reader of each stamp (:mod:`bot.worker.refresh`); commands and App Home read
the :class:`bot.model.snapshot.StampSnapshot` this returns. One request per part, and a part whose read fails
keeps what was read before (the failure is kept with its part and time, so the snapshot reads as stale). A
stamp that does not answer at all is not asked for the remaining parts: each would wait out the same timeout.
A service principal without permission to read update locations is a standing condition, not an outage: the
snapshot says so (``update_denied``) and carries no error for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.model.snapshot import StampSnapshot
from bot.stamp.arm import ArmClient
from bot.stamp.errors import MissingPermission, StampError

log = logging.getLogger(__name__)


def survey(client: ArmClient, previous: StampSnapshot | None, now: float) -> StampSnapshot:
    """Read the three parts of ``client``'s stamp (``now``: when they are read) over ``previous``."""
    snapshot = previous or StampSnapshot()
    reads: tuple[tuple[str, Callable[[StampSnapshot], StampSnapshot]], ...] = (
        ("location", lambda s: s.with_location(client.backup_location(), now)),
        ("backups", lambda s: s.with_backups(client.list_backups(), now)),
        ("update", lambda s: _read_update(client, s, now)),
    )
    for part, read in reads:
        try:
            snapshot = read(snapshot)
        except StampError as exc:
            log.warning("reading the %s of stamp %s failed: %s", part, client.stamp.name, exc)
            snapshot = snapshot.with_error(part, str(exc), now, exc.code)
            if exc.status is None:
                break  # no answer at all (unreachable, or no token): the other parts would wait out the same
    return snapshot


def _read_update(client: ArmClient, snapshot: StampSnapshot, now: float) -> StampSnapshot:
    try:
        return snapshot.with_update(client.update_location(), now)
    except MissingPermission as exc:
        if snapshot.update_denied is None:
            log.warning("stamp %s: %s", client.stamp.name, exc)  # said once, not on every refresh
        return snapshot.with_update_denied(str(exc))
