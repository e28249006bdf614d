"""The hash-pinned lock file: it covers pyproject.toml, and installing from it alone gives a working bot.

The install test does what the Dockerfile's builder stage does, in a fresh virtualenv, because
this machine has no container engine to build the image itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def locked() -> dict[str, str]:
    """Package name -> pinned version, as written in requirements.lock."""
    return {canonicalize_name(name): version for name, version in PINNED.findall(LOCK.read_text())}


def test_lock_pins_every_runtime_dependency_within_its_range() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = locked()
    missing, outside = [], []
    for line in dependencies:
        requirement = Requirement(line)
        version = pins.get(canonicalize_name(requirement.name))
        if version is None:
            missing.append(requirement.name)
        elif not requirement.specifier.contains(version, prereleases=True):
            outside.append(f"{requirement.name}=={version} (wants {requirement.specifier})")
    assert not missing and not outside, (
        f"requirements.lock is stale: missing {missing}, out of range {outside}; run scripts/lock"
    )


def test_every_pin_carries_hashes() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().strip())
    unhashed = [block.split()[0] for block in blocks if "--hash=sha256:" not in block]
    assert blocks and not unhashed


@pytest.mark.pypi
@pytest.mark.timeout(900)
def test_fresh_venv_from_the_lock_runs_the_bot(tmp_path: Path) -> None:
    """As the Dockerfile does: ``--require-hashes`` wheels from the lock, then the project without dependencies."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    install = subprocess.run(
        [*pip, "install", "--quiet", "--require-hashes", "--only-binary=:all:", "-r", str(LOCK)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    project = subprocess.run([*pip, "install", "--quiet", "--no-deps", str(ROOT)], capture_output=True, text=True)
    assert project.returncode == 0, project.stderr[-3000:]

    usage = subprocess.run([str(venv / "bin" / "azs-bot"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert all(command in usage.stdout for command in ("web", "worker", "socket"))
    # --help imports little; every process's modules must import from what the lock installed.
    imports = "import bot.web, bot.worker, bot.redis_client, bot.socket_mode, slack_bolt.adapter.socket_mode"
    loaded = subprocess.run([str(venv / "bin" / "python"), "-c", imports], capture_output=True, text=True, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]

    # A production install has no devkit: its commands say, in one line, how to get them.
    for command in ("demo", "simulator"):
        refused = subprocess.run([str(venv / "bin" / "azs-bot"), command], capture_output=True, text=True, cwd=tmp_path)
        assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr[-3000:]
        assert len(refused.stderr.splitlines()) == 1 and "pip install -e ./devkit" in refused.stderr
    absent = subprocess.run([str(venv / "bin" / "python"), "-c", "import trustme"], capture_output=True, cwd=tmp_path)
    assert absent.returncode != 0  # the simulator's only reason to have it
