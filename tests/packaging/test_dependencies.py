"""Every package the product imports is declared, and no declared floor or locked pin has a known CVE."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest

from tests.harness import ROOT

# Lowest release without the advisories named; raise these when a new one is published.
SAFE_FLOORS = {
    "requests": ((2, 33, 0), "CVE-2024-47081, CVE-2026-25645"),
    "urllib3": ((2, 7, 0), "CVE-2026-21441, CVE-2026-44431, CVE-2026-44432"),
    "cryptography": ((50, 0, 0), "CVE-2026-26007, CVE-2026-39892, CVE-2026-69247"),
    "waitress": ((3, 0, 1), "CVE-2024-49768, CVE-2024-49769"),
    "redis": ((4, 5, 4), "CVE-2023-28858, CVE-2023-28859"),
}
# The build backend the image builds the wheel with (requirements-build.lock); not a runtime dependency.
BUILD_SAFE_FLOORS = {
    "setuptools": ((78, 1, 1), "CVE-2024-6345, CVE-2025-47273"),
}


def declared() -> dict[str, str]:
    """``name -> requirement`` from pyproject's runtime dependencies and the product's extras (``report``; not the
    development extra), names normalised."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    out = {}
    for requirement in [*project["dependencies"], *(r for name, rs in extras.items() if name != "dev" for r in rs)]:
        name = re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0]
        out[re.sub(r"[-_.]+", "-", name).lower()] = requirement
    return out


def imported_modules() -> set[str]:
    """Top-level modules imported anywhere in the product (bot/, handlers/), third-party only."""
    names: set[str] = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("bot", "handlers", "__future__")}


def test_every_imported_package_is_declared() -> None:
    owners = packages_distributions()
    wanted = declared()
    missing = sorted(
        f"{module} (from {', '.join(owners.get(module, ['?']))})"
        for module in imported_modules()
        if not any(re.sub(r"[-_.]+", "-", d).lower() in wanted for d in owners.get(module, [module]))
    )
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


@pytest.mark.parametrize("name", sorted(SAFE_FLOORS))
def test_floors_exclude_releases_with_known_advisories(name: str) -> None:
    requirement = declared().get(name)
    assert requirement, f"{name} must be declared (with a floor past {SAFE_FLOORS[name][1]})"
    match = re.search(r">=\s*([0-9][0-9.]*)", requirement)
    assert match, f"{requirement!r} has no >= floor"
    floor = tuple(int(part) for part in match.group(1).split("."))
    safe, advisories = SAFE_FLOORS[name]
    assert floor + (0,) * (3 - len(floor)) >= safe, f"{requirement!r} admits releases affected by {advisories}"


def version_tuple(text: str) -> tuple[int, ...]:
    parts = tuple(int(part) for part in re.findall(r"\d+", text)[:3])
    return parts + (0,) * (3 - len(parts))


@pytest.mark.parametrize(
    ("lock", "floors"),
    [("requirements.lock", SAFE_FLOORS), ("requirements-build.lock", BUILD_SAFE_FLOORS)],
)
def test_locked_pins_are_past_known_advisories(lock: str, floors: dict[str, tuple[tuple[int, int, int], str]]) -> None:
    """What the image installs, not only what pyproject admits: a stale lock can lag a raised floor."""
    pins = dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", (ROOT / lock).read_text(), re.MULTILINE))
    pins = {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins.items()}
    for name, (safe, advisories) in floors.items():
        assert name in pins, f"{lock} does not pin {name}"
        assert version_tuple(pins[name]) >= safe, f"{lock} pins {name}=={pins[name]}, affected by {advisories}"
