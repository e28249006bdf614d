"""Exponential backoff with jitter: one formula for every retry the bot schedules (polls, posts, Redis)."""

from __future__ import annotations


def backoff(failures: int, base: float, ceiling: float, jitter: float) -> float:
    """Exponential delay for the ``failures``-th consecutive failure; ``jitter`` in [0, 1) spreads it by a quarter
    either way (a pure function: the caller draws the jitter, so tests can fix it)."""
    return min(ceiling, base * 2.0 ** min(failures, 10)) * (0.75 + jitter / 2)
