"""``azs-bot check``: runs the checks in the order things depend on each other and reports them (the package
docstring says what is checked)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection, Iterator, Mapping
from typing import TextIO

from bot.config.settings import Settings
from bot.preflight.local import MODES, check_redis, check_settings, check_slack, guess_mode
from bot.preflight.results import Result, report
from bot.preflight.stamps import check_stamp

CHECKS = ("settings", "redis", "slack", "stamps")
"""What ``--only`` may name; the settings are always read (nothing else can run without them)."""


# --- settings ------------------------------------------------------------------------------------------------------


# --- Redis ---------------------------------------------------------------------------------------------------------


# --- Slack ---------------------------------------------------------------------------------------------------------


# --- stamps --------------------------------------------------------------------------------------------------------


# --- the report ----------------------------------------------------------------------------------------------------


def _checks(settings: Settings, mode: str, only: Collection[str], env: Mapping[str, str]) -> Iterator[Result]:
    if "redis" in only:
        yield from check_redis(settings)
    if "slack" in only:
        yield from check_slack(settings, mode, env)
    if "stamps" in only:
        for stamp in settings.stamps:
            yield from check_stamp(stamp, env)


def run_check(
    env: Mapping[str, str] | None = None,
    *,
    mode: str | None = None,
    only: Collection[str] = CHECKS,
    out: TextIO | None = None,
    as_json: bool = False,
) -> int:
    """Run the checks against ``env`` (this process's environment by default); 0, 1 or 2 as the module says."""
    env = os.environ if env is None else env
    out = out or sys.stdout
    mode = mode or guess_mode(env)
    settings, first = check_settings(env, mode)
    if settings is None:
        report([first], out, as_json=as_json)
        return 2
    results = [first, *_checks(settings, mode, only, env)]
    return report(results, out, settings.secrets(), as_json)


def _only(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    """``azs-bot check [--for web|socket|worker] [--only redis,slack,stamps] [--json]``."""
    from bot.ops.logs import configure_logging, secrets_in_environment

    parser = argparse.ArgumentParser(
        prog="azs-bot check",
        description="Preflight: the settings, Redis, Slack and each stamp, one line per check with the fix for "
        "each failure. Exit 0 when nothing failed, 1 when something did, 2 when the settings are invalid.",
    )
    parser.add_argument("--for", dest="mode", choices=MODES, help="the process to check for (default: from the env)")
    parser.add_argument("--only", type=_only, default=list(CHECKS), help=f"comma list of: {', '.join(CHECKS)}")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    args = parser.parse_args(argv)
    configure_logging(secrets_in_environment(), level="WARNING")
    return run_check(mode=args.mode, only=args.only, as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
