"""The product is only the product: ``bot/`` and ``handlers/`` never reach the development package, the
tests or the benchmark, and the wheel a production host installs holds nothing else and needs no
test-only package. The stand-ins live in ``devkit/`` (see its README).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.harness import ROOT

PRODUCT = ("bot", "handlers")
OUTSIDE = ("devkit", "tests", "bench")
"""Top-level packages the product must never import, even lazily inside a function."""
MOVED = ("simulator", "slack_fake", "localrun", "demo", "socket_server")
"""The stand-ins that used to live in ``bot/`` and ``tests/``; no module of the wheel may carry these names."""


def product_imports() -> list[tuple[str, int, str]]:
    """Every absolute import in ``bot/`` and ``handlers/``, as ``(file, line, module)``."""
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                found += [(str(path.relative_to(ROOT)), node.lineno, name) for name in names]
    return found


def test_the_product_imports_nothing_of_the_devkit_the_tests_or_the_bench() -> None:
    imports = product_imports()
    assert any(module == "bot.config.settings" for _, _, module in imports)  # the walk sees the real tree
    test_only = {canonicalize_name(name) for name in devkit_only_dependencies()}
    reaching = [
        f"{file}:{line} imports {module}"
        for file, line, module in imports
        if module.split(".")[0] in OUTSIDE or canonicalize_name(module.split(".")[0]) in test_only
    ]
    assert not reaching, reaching


def test_the_devkit_declares_what_it_imports() -> None:
    """trustme and the rest of what only the stand-ins use are the devkit's dependencies, not the product's."""
    imported = set()
    for path in (ROOT / "devkit" / "src" / "devkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__", "devkit", *PRODUCT}
    owners = packages_distributions()
    declared = names(ROOT / "devkit" / "pyproject.toml")
    undeclared = sorted(m for m in third_party if not {canonicalize_name(d) for d in owners.get(m, [m])} & declared)
    assert "trustme" in third_party and not undeclared, undeclared


def names(pyproject: Path) -> set[str]:
    """The normalised names of a ``pyproject.toml``'s runtime dependencies."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {canonicalize_name(Requirement(line).name) for line in deps}


def devkit_only_dependencies() -> set[str]:
    """What the devkit needs that the product does not declare (trustme, for one)."""
    return names(ROOT / "devkit" / "pyproject.toml") - names(ROOT / "pyproject.toml") - {"azs-backup-bot"}


@pytest.mark.pypi  # pip builds in an isolated environment, with setuptools from the package index
def test_the_product_wheel_holds_only_bot_and_handlers_and_needs_no_test_only_package(tmp_path: Path) -> None:
    source = tmp_path / "source"  # only what a clean clone has: a build/ left in the checkout would leak in
    for part in ("bot", "handlers"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = tmp_path.glob("azs_backup_bot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        files = archive.namelist()
        [metadata] = [name for name in files if name.endswith(".dist-info/METADATA")]
        requires = [
            Requirement(line.split(":", 1)[1])
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]

    modules = [name for name in files if not name.split("/")[0].endswith(".dist-info")]
    assert modules and all(name.split("/")[0] in PRODUCT for name in modules), sorted(
        {name.split("/")[0] for name in modules}
    )
    assert not [name for name in modules if Path(name).stem in MOVED]
    assert {"bot/cli.py", "bot/serve/web.py", "handlers/__init__.py"} <= set(modules)

    dev_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    test_only = devkit_only_dependencies() | {canonicalize_name(Requirement(line).name) for line in dev_extra}
    installed = [r for r in requires if r.marker is None or r.marker.evaluate({"extra": ""})]
    assert installed and not [str(r) for r in installed if canonicalize_name(r.name) in test_only]
    assert "trustme" in test_only and not [str(r) for r in requires if canonicalize_name(r.name) == "trustme"]
