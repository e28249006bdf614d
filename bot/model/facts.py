"""Plain facts the layers hand each other: what renderers read of a job, an audit entry, input not understood.

Data only, so the renderers (:mod:`bot.words`) take these without importing the job store, the audit trail
or the parser that produce them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class JobFacts(Protocol):
    """What renderers read of a job the bot follows (:class:`bot.state.job.Job` has these and more).

    A protocol, so the renderers (``bot/words``) take plain data and never import the Redis job store.
    """

    @property
    def job_id(self) -> str: ...
    @property
    def stamp(self) -> str: ...
    @property
    def requester(self) -> str: ...
    @property
    def backup_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def requested_at(self) -> float: ...
    @property
    def started_at(self) -> float: ...


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail (:mod:`bot.state.audit` keeps them; :func:`bot.words.replies.audit` shows them)."""

    at: float
    user: str
    channel: str
    stamp: str
    action: str
    outcome: str
    count: int = 1
    """How many times this refusal came within a minute of the last one (see :mod:`bot.state.audit`)."""
    first_at: float = 0.0
    """When the first of those came (0: only once)."""


class Trouble(StrEnum):
    """What was wrong with the input; :func:`bot.words.replies.help_message` words each one."""

    UNKNOWN_WORD = "unknown_word"
    NOT_A_STAMP = "not_a_stamp"
    STAMPS_USAGE = "stamps_usage"
    NOT_UNDERSTOOD = "not_understood"
    NEEDS_ONE_ID = "needs_one_id"
    NOT_AN_ID = "not_an_id"
    CHOICES = "choices"


@dataclass(frozen=True)
class Problem:
    """Input that was not understood, as data: the user's words stay raw here and are escaped by the renderer."""

    trouble: Trouble
    said: str = ""
    """What the user typed that is the problem (outside text)."""
    verb: str = ""
    """The verb concerned, from the command table."""
    choices: tuple[str, ...] = ()
