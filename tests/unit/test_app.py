"""The composition root (bot/app.py): it alone builds the processes' parts, and what runs them imports none of it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.harness import ROOT


def imported_modules(path: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "bot/serve").glob("*.py")))
def test_serve_runs_what_it_is_given_and_imports_no_builder(path: str) -> None:
    wrong = {m for m in imported_modules(path) if m.split(".")[:2] in (["bot", "app"], ["bot", "worker"])}
    wrong |= {m for m in imported_modules(path) if m == "handlers" or m.startswith("handlers.")}
    assert not wrong, f"{path} imports {sorted(wrong)}"


def test_every_redis_client_comes_from_the_factory() -> None:
    """Only bot/state/connection.py makes a client, so each follows Sentinel and trusts REDIS_CA_BUNDLE."""
    makers = ("Redis", "StrictRedis", "from_url", "Sentinel")
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if path.relative_to(ROOT).as_posix() == "bot/state/connection.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in makers:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


def test_the_worker_is_built_here_and_never_loads_bolt(bot_env: dict[str, str]) -> None:
    probe = (
        "import json, sys; from bot.app import build_worker; from bot.config.settings import load_settings; "
        "process = build_worker(load_settings(json.loads(sys.argv[1]), need_slack=False)); "
        "print(process.started, sorted({'slack_bolt', 'handlers', 'bot.serve.web'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(bot_env)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "worker polling every 0.2s []", done.stderr[-2000:]
