"""``azs-bot``: one command for every process (web, socket, worker; simulator and demo with the devkit).

Each command reads the settings, has :mod:`bot.app` build the process's parts, and runs them (:mod:`bot.serve`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points

from bot.config.env import SettingsError
from bot.config.settings import Settings, load_settings
from bot.ops.logs import configure_logging, secrets_in_environment


def _settings(need_signing_secret: bool = True) -> Settings:
    """Validate the environment, or stop with one JSON log line naming the bad setting.

    Logging is set up first, with the secrets found in the environment, so even this line goes through
    the secret filter (a value echoed in the message cannot leak a token or a URL's password).
    """
    configure_logging(secrets_in_environment())
    try:
        settings = load_settings(need_slack=need_signing_secret)
    except SettingsError as exc:
        logging.getLogger("azs.config").error("azs-bot: configuration error: %s", exc)
        raise SystemExit(2) from None
    configure_logging(settings.secrets())
    return settings


def cmd_web(_: argparse.Namespace) -> int:
    from bot.app import build_web
    from bot.serve.web import serve

    settings = _settings()
    serve(settings, build_web(settings))
    return 0


def cmd_socket(_: argparse.Namespace) -> int:
    from bot.app import build_socket
    from bot.serve.process import run_until_stopped

    settings = _settings(need_signing_secret=False)
    if not settings.slack_app_token.startswith("xapp-"):
        print(
            "azs-bot: configuration error: SLACK_APP_TOKEN must be the app-level xapp- token "
            "(with connections:write) for Socket Mode",
            file=sys.stderr,
        )
        return 2
    run_until_stopped(settings, build_socket(settings))
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    from bot.app import build_worker
    from bot.serve.process import run_until_stopped

    settings = _settings(need_signing_secret=False)
    run_until_stopped(settings, build_worker(settings))
    return 0


DEV_COMMANDS = "azs_bot.dev_commands"
"""Entry-point group the development package (``devkit/``) fills with ``demo`` and ``simulator``."""


def cmd_dev(name: str, argv: list[str]) -> int:
    """Run a command the devkit provides; a production install (no devkit) says how to get it.

    Looked up by entry point, so the product imports nothing of the devkit and its wheel ships none of it.
    """
    found = entry_points(group=DEV_COMMANDS, name=name)
    try:
        command = next(iter(found)).load() if found else None
    except ModuleNotFoundError as exc:  # the devkit's metadata is there but its code is not
        if not (exc.name or "").startswith("devkit"):
            raise
        command = None
    if command is None:
        print(
            f"azs-bot {name}: a development command, not in a production install; from a source checkout, "
            "`pip install -e ./devkit` adds it (bash scripts/demo and bash scripts/test do)",
            file=sys.stderr,
        )
        return 2
    exit_code: int = command(argv)
    return exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The simulator and the demo parse their own options.
    if argv and argv[0] in ("simulator", "demo"):
        return cmd_dev(argv[0], argv[1:])
    if argv and argv[0] == "check":  # the preflight parses its own options
        from bot.preflight.run import main as check_main

        return check_main(argv[1:])
    parser = argparse.ArgumentParser(prog="azs-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("web", cmd_web, "serve Slack over HTTP on $PORT (waitress)"),
        ("socket", cmd_socket, "serve Slack over Socket Mode ($SLACK_APP_TOKEN)"),
        ("worker", cmd_worker, "follow running backups and post their outcome"),
    ):
        sub.add_parser(name, help=text).set_defaults(func=func)
    for name, text in (
        ("simulator", "development (devkit): a stamp simulator (see: azs-bot simulator -h)"),
        ("demo", "development (devkit): the whole product, locally (see: azs-bot demo -h)"),
        ("check", "preflight: settings, Redis, Slack and each stamp, one line each (see: azs-bot check -h)"),
    ):
        sub.add_parser(name, help=text)
    args = parser.parse_args(argv)
    exit_code: int = args.func(args)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
