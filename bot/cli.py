"""``azs-bot``: one command for every process (web, socket, worker, simulator, demo)."""

from __future__ import annotations

import argparse
import sys

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings


def _settings(need_signing_secret: bool = True) -> Settings:
    """Validate the environment, or stop with one line naming the bad setting."""
    try:
        settings = load_settings(need_slack=need_signing_secret)
    except SettingsError as exc:
        print(f"azs-bot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.secrets())
    return settings


def cmd_web(_: argparse.Namespace) -> int:
    from bot.web import serve

    serve(_settings())
    return 0


def cmd_socket(_: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import build_app

    settings = _settings(need_signing_secret=False)
    if not settings.slack_app_token.startswith("xapp-"):
        print("azs-bot: configuration error: SLACK_APP_TOKEN must be the app-level xapp- token "
              "(with connections:write) for Socket Mode", file=sys.stderr)
        return 2
    SocketModeHandler(build_app(settings), settings.slack_app_token).start()  # type: ignore[no-untyped-call]
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    from bot.worker import run_worker

    run_worker(_settings(need_signing_secret=False))
    return 0


def cmd_simulator(args: argparse.Namespace) -> int:
    from bot.simulator import main as simulator_main

    return simulator_main(args.rest)


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import main as demo_main

    return demo_main(args.rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azs-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (("web", cmd_web, "serve Slack over HTTP on $PORT (gunicorn)"),
                             ("socket", cmd_socket, "serve Slack over Socket Mode ($SLACK_APP_TOKEN)"),
                             ("worker", cmd_worker, "follow running backups and post their outcome"),
                             ("simulator", cmd_simulator, "run an Azure Stack Hub stamp simulator"),
                             ("demo", cmd_demo, "run the whole product locally against the simulator")):
        command = sub.add_parser(name, help=text, add_help=name not in ("simulator", "demo"))
        command.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        command.set_defaults(func=func)
    args = parser.parse_args(argv)
    exit_code: int = args.func(args)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
