"""What-if builds of the bot's web process, for evidence behind proposed fixes; nothing here changes ``bot/``.

``python -m bench.web_variant <variant>`` applies one monkeypatch in this process, then runs ``bot.web.serve``
exactly as ``azs-bot web`` does:

- ``offload``: the ``/azs`` listener acks, then hands the rest of its work to a small pool of its own
  (``OFFLOAD_THREADS``), so Bolt's listener threads only ever ack and the ack never queues behind slow work.
- ``offload-process``: the ``/azs`` listener acks and queues the command to a helper process, which runs the
  unchanged bot app on it (the original listener does the work there, in another interpreter and GIL), as if
  the web process handed its post-ack work to the worker.
- ``big-executor``: Bolt's listener pool has 512 threads instead of 32 (no other change).
- ``as-is``: no patch (with ``BENCH_SWITCH_INTERVAL`` alone).

``BENCH_SWITCH_INTERVAL`` (seconds), if set, is passed to ``sys.setswitchinterval`` first (default 0.005).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from slack_bolt.request import BoltRequest

import bot.app
import handlers.commands
from bot.app import build_app
from bot.localrun import sign
from bot.logs import configure_logging
from bot.settings import load_settings
from bot.web import serve

OFFLOAD_THREADS = int(os.environ.get("BENCH_OFFLOAD_THREADS", "4"))


def _no_ack(**_: Any) -> None:
    """The real ack was sent already."""


def patch_offload() -> None:
    pool = ThreadPoolExecutor(max_workers=OFFLOAD_THREADS, thread_name_prefix="after-ack")
    listener = handlers.commands.azs_command  # type: ignore[attr-defined]

    @functools.wraps(listener)  # Bolt reads the wrapped listener's argument names (inspect.unwrap)
    def azs_command(**kwargs: Any) -> None:
        kwargs["ack"]()  # the benchmark sends no `/azs help`; a real change would ack help with its text here
        pool.submit(listener, **{**kwargs, "ack": _no_ack})

    handlers.commands.azs_command = azs_command  # type: ignore[attr-defined,assignment]  # read by register()


def replier(commands: multiprocessing.Queue[dict[str, Any]]) -> None:
    """Helper process: the bot's own Bolt app, fed each queued command as a freshly signed request."""
    os.nice(int(os.environ.get("BENCH_REPLIER_NICE", "0")))
    settings = load_settings()
    configure_logging(settings.secrets())
    app = build_app(settings)
    while True:
        body = urlencode(commands.get())
        app.dispatch(BoltRequest(body=body, headers=dict(sign(settings.slack_signing_secret, body))))


def patch_offload_process() -> None:
    spawn = multiprocessing.get_context("spawn")
    commands: multiprocessing.Queue[dict[str, Any]] = spawn.Queue()
    spawn.Process(target=replier, args=(commands,), daemon=True, name="replier").start()
    listener = handlers.commands.azs_command  # type: ignore[attr-defined]

    @functools.wraps(listener)
    def azs_command(**kwargs: Any) -> None:
        kwargs["ack"]()
        commands.put(dict(kwargs["command"]))

    handlers.commands.azs_command = azs_command  # type: ignore[attr-defined,assignment]


def patch_big_executor() -> None:
    def executor(max_workers: int | None = None, thread_name_prefix: str = "") -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=512, thread_name_prefix=thread_name_prefix)

    bot.app.ThreadPoolExecutor = executor  # type: ignore[attr-defined,assignment]


def patch_nothing() -> None:
    """The bot as it is."""


VARIANTS = {"offload": patch_offload, "offload-process": patch_offload_process, "big-executor": patch_big_executor,
            "as-is": patch_nothing}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in VARIANTS:
        print(f"usage: python -m bench.web_variant {{{','.join(VARIANTS)}}}", file=sys.stderr)
        return 2
    if os.environ.get("BENCH_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    VARIANTS[argv[0]]()
    settings = load_settings()
    configure_logging(settings.secrets())  # as `azs-bot web` does
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
