"""The App Home tab: each stamp's backup state for whoever may see it, at most one refresh per user at a time."""

from __future__ import annotations

from typing import Any

from bot.commands.access import AccessPolicy, PerUserLimit
from bot.commands.backups import BackupService
from bot.commands.pipeline import REFUSED
from bot.state import audit
from bot.state.audit import AuditLog
from bot.words import home


class AppHome:
    """Builds the tab from every stamp's cached section (:meth:`BackupService.home_section`)."""

    def __init__(
        self, services: dict[str, BackupService], *, access: AccessPolicy, audit_log: AuditLog, open_seconds: float
    ) -> None:
        self.services = services
        self.access = access
        self.audit_log = audit_log
        self.opens = PerUserLimit(open_seconds)
        """One refresh per user per ``open_seconds`` in this process; Slack keeps showing the last one."""

    def view(self, user: str) -> dict[str, Any] | None:
        """The App Home view for ``user``; ``None`` when they opened it too often (publish nothing)."""
        if not self.opens.allow(user):
            return None
        if not self.access.may_read_home(user):
            self.audit_log.record(audit.entry(user, "(App Home)", "*", "home", REFUSED))
            return home.home_restricted()
        return home.home([(name, service.home_section()) for name, service in self.services.items()])
