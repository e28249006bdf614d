"""The documents stay true to the tree: the README is short and opens with its commands, every link and path
resolves, every guarantee names its test, and every setting the code reads is documented once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTS = sorted([README, *(ROOT / "docs").glob("*.md")])
SETTINGS_TABLES = (README, ROOT / "docs" / "settings.md")

README_MAX_LINES = 350

# Folders of this repository that documents name in backticks, e.g. `bot/stamp/arm.py` or `tests/e2e/`.
TOP_FOLDERS = ("bot", "handlers", "tests", "docs", "deploy", "scripts", "bench", "devkit", "slack", ".ci")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\s]+)`")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
TABLE_VARIABLE = re.compile(r"`((?:AZS|SLACK|REDIS)_[A-Z0-9_]+|PORT|HOST)`")
CODE_VARIABLE = re.compile(r"\"((?:AZS|SLACK|REDIS)_[A-Z0-9_]+|PORT|HOST)\"")


def prose(path: Path) -> str:
    """The document without its fenced code blocks (shell and PowerShell are not links)."""
    return FENCE.sub("", path.read_text())


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for line in prose(path).splitlines():
        heading = re.match(r"#{1,6}\s+(.+)", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def test_the_readme_is_for_the_person_installing_it_and_short() -> None:
    assert len(README.read_text().splitlines()) <= README_MAX_LINES, "move evidence and detail to docs/"


def test_the_readme_opens_with_the_demo_and_the_test_commands() -> None:
    opening = "\n".join(README.read_text().splitlines()[:8])
    for command in ("bash scripts/demo", "bash scripts/test", "bash scripts/test --quick"):
        found = re.search(rf"^{re.escape(command)}(\s|$)", opening, re.MULTILINE)
        assert found, f"{command} in the README's first lines"


def test_ci_runs_the_readmes_test_command() -> None:
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    runs = [line for line in commands if line and not line.startswith("#")]
    assert runs[-1] == "bash scripts/test", "CI ends by running exactly the README's test command"
    assert re.search(r"^bash scripts/test\s", README.read_text(), re.MULTILINE)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target in LINK.findall(prose(document)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        name, _, anchor = target.partition("#")
        path = (document.parent / name).resolve() if name else document
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(target)
    assert not broken, f"{document.name}: links to nothing: {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_path_a_document_names_exists(document: Path) -> None:
    missing = []
    for code in CODE.findall(prose(document)):
        path = code.split("::")[0].rstrip(".,;:)")
        if not path.startswith(tuple(f"{folder}/" for folder in TOP_FOLDERS)) or re.search(r"[{*<>…]", path):
            continue
        if not (ROOT / path).exists():
            missing.append(path)
    assert not missing, f"{document.name} names paths that do not exist: {missing}"


def test_every_guarantee_names_a_test_that_exists() -> None:
    text = prose(ROOT / "docs" / "guarantees.md")
    bullets = re.split(r"^(?=- \*\*|#)", text, flags=re.MULTILINE)
    guarantees = [bullet for bullet in bullets if bullet.startswith("- **")]
    assert len(guarantees) >= 20, "the guarantees are bullets that start with their claim in bold"
    for guarantee in guarantees:
        claim = guarantee.splitlines()[0][:60]
        tests = [path for path in CODE.findall(guarantee) if re.match(r"tests/.+\.py$", path.split("::")[0])]
        assert tests, f"no test named for: {claim}"
        for path in tests:
            assert (ROOT / path.split("::")[0]).is_file(), f"{claim}: {path} does not exist"


def settings_rows() -> dict[str, list[str]]:
    """Each variable named in the first cell of a settings table row, with every row that names it."""
    rows: dict[str, list[str]] = {}
    for document in SETTINGS_TABLES:
        header = ""
        for line in document.read_text().splitlines():
            if not line.startswith("|"):
                header = ""
            elif not header:
                header = line
            elif header.startswith("| variable |") and line.startswith("| `"):
                for name in TABLE_VARIABLE.findall(line.split("|")[1]):
                    rows.setdefault(name, []).append(f"{document.name}: {line}")
    return rows


def test_every_setting_the_code_reads_has_exactly_one_row() -> None:
    read = {name for path in (ROOT / "bot").rglob("*.py") for name in CODE_VARIABLE.findall(path.read_text())}
    assert {"AZS_ARM_ENDPOINT", "SLACK_BOT_TOKEN", "REDIS_URL", "AZS_POLL_INTERVAL"} <= read
    rows = settings_rows()
    assert not sorted(read - set(rows)), "settings without a row in README.md or docs/settings.md"
    assert not {name: found for name, found in rows.items() if len(found) > 1}, "one row per setting"
