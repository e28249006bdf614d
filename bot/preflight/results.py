"""One line per check: its status, what was found, and the fix under a failure; the exit code for scripts."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from typing import TextIO

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
FIX_WIDTH = 120
"""Columns the fix text under a failure is wrapped to (the check lines themselves are never wrapped)."""


NETWORK_FIX = (
    "check the host name and DNS, and that this host may reach it on its port (firewall, Kubernetes "
    "NetworkPolicy); behind a proxy, HTTPS_PROXY must be set, or the host listed in NO_PROXY when it is reached "
    'directly (README, "Network access")'
)


@dataclass(frozen=True)
class Result:
    """One line of the report: ``status`` is ok, warn, FAIL or skip; ``fix`` says what to do about a failure."""

    check: str
    status: str
    detail: str
    fix: str = ""


def masked(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def report(results: list[Result], out: TextIO, secrets: Collection[str] = (), as_json: bool = False) -> int:
    """Print the results (lines or JSON) and return the exit code: 1 if anything failed, else 0."""
    code = 1 if any(r.status == FAIL for r in results) else 0
    shown = [Result(r.check, r.status, masked(r.detail, secrets), masked(r.fix, secrets)) for r in results]
    if as_json:
        out.write(json.dumps({"exit_code": code, "checks": [asdict(r) for r in shown]}, indent=2) + "\n")
    else:
        out.writelines(lines(shown))
    return code


def lines(results: list[Result]) -> Iterator[str]:
    """One line per check, its fix under a failure or a warning, then the counts."""
    width = max(len(r.check) for r in results)
    for r in results:
        yield f"{r.status:<4}  {r.check:<{width}}  {r.detail}\n"
        if r.fix and r.status in (FAIL, WARN):
            indent = " " * (width + 8)
            yield textwrap.fill(f"fix: {r.fix}", FIX_WIDTH, initial_indent=indent, subsequent_indent=indent) + "\n"
    counts = [(word, sum(r.status == word for r in results)) for word in (OK, WARN, FAIL, SKIP)]
    summary = ", ".join(f"{n} {word}" for word, n in counts if n)
    advice = ": fix the FAIL lines and run azs-bot check again" if dict(counts)[FAIL] else ""
    yield f"azs-bot check: {summary}{advice}\n"
