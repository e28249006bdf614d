"""The shape of the house, kept: folders that are layers (imports only point down), no module over about 400
lines, no function above radon grade B. A new module or import that breaks one fails here, not in a review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from radon.complexity import cc_rank, cc_visit

from tests.harness import ROOT

LAYERS = {
    "config": 1,
    "model": 1,
    "state": 2,
    "words": 2,
    "ops": 3,
    "report": 3,
    "stamp": 4,
    "slack": 5,
    "commands": 6,
    "worker": 6,
    "serve": 7,
    "preflight": 7,
    "handlers": 8,
    "app": 9,
    "cli": 10,
}
"""Each package (or top-level module) of the product and its floor: a module imports only from lower floors and
its own folder. docs/architecture.md draws the same floors."""
MAX_LINES = 400
SOURCES = sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")])


def part_of(module: str) -> str | None:
    """``bot.state.jobs`` -> ``state``; ``bot.app`` -> ``app``; ``handlers.commands.azs`` -> ``handlers``."""
    parts = module.split(".")
    if parts[0] == "handlers":
        return "handlers"
    return parts[1] if parts[0] == "bot" and len(parts) > 1 else None


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if node.module == "bot"}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_every_product_module_is_on_a_floor() -> None:
    assert {part_of(module_name(p)) for p in SOURCES} - {None, "__init__"} <= set(LAYERS)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    mine = part_of(module_name(path))
    if mine is None:
        return
    upward = sorted(
        target
        for target in imports(path)
        if (theirs := part_of(target)) in LAYERS and theirs != mine and LAYERS[theirs] >= LAYERS[mine]
    )
    assert not upward, f"{mine} (floor {LAYERS[mine]}) imports up or across: {upward}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small_and_functions_simple(path: Path) -> None:
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_LINES, "split it by concept (docs/architecture.md)"
    complex_ = [f"{block.name} ({cc_rank(block.complexity)})" for block in cc_visit(source) if block.complexity > 10]
    assert not complex_, f"above radon grade B: {complex_}"
