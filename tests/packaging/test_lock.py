"""The hash-pinned locks: they cover pyproject.toml, and the image's builder stage works from them alone.

This machine has no container engine, so the image is never built here. The builder-stage test does
the next best thing: it runs the Dockerfile's own builder instructions (its ARG, ENV, COPY and RUN
lines, with /opt and /tmp moved into a temporary folder) on this machine's Python, against a local
package mirror given through the Dockerfile's mirror arguments, then checks the bot it produced.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.harness import ROOT
from tests.packaging.test_deploy import dockerfile_stages

LOCK = ROOT / "requirements.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def locked(lock: Path) -> dict[str, str]:
    """Package name -> pinned version, as written in a lock file."""
    return {canonicalize_name(name): version for name, version in PINNED.findall(lock.read_text())}


def wanted(lock: Path) -> list[str]:
    """What a lock must pin: the runtime dependencies with the ``report`` extra the image ships, or the build
    backend."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    if lock == BUILD_LOCK:
        return list(pyproject["build-system"]["requires"])
    return [*pyproject["project"]["dependencies"], *pyproject["project"]["optional-dependencies"]["report"]]


@pytest.mark.parametrize("lock", [LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_lock_pins_every_requirement_within_its_range(lock: Path) -> None:
    pins = locked(lock)
    missing, outside = [], []
    for line in wanted(lock):
        requirement = Requirement(line)
        version = pins.get(canonicalize_name(requirement.name))
        if version is None:
            missing.append(requirement.name)
        elif not requirement.specifier.contains(version, prereleases=True):
            outside.append(f"{requirement.name}=={version} (wants {requirement.specifier})")
    assert not missing and not outside, (
        f"{lock.name} is stale: missing {missing}, out of range {outside}; run scripts/lock"
    )


@pytest.mark.parametrize("lock", [LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_every_pin_carries_hashes(lock: Path) -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text().strip())
    unhashed = [block.split()[0] for block in blocks if "--hash=sha256:" not in block]
    assert blocks and not unhashed


# --- the builder stage, run here -------------------------------------------------------------------


class Mirror:
    """A package mirror on loopback: a PEP 503 "simple" tree of the wheels the locks name."""

    def __init__(self, wheels: Path, root: Path) -> None:
        self.projects: set[str] = set()
        for wheel in wheels.glob("*.whl"):
            name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
            (root / "simple" / name).mkdir(parents=True, exist_ok=True)
            shutil.copy(wheel, root / "simple" / name)
            self.projects.add(name)
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                mirror.requests.append(self.path)

        handler = functools.partial(Handler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    """Every wheel of both locks this platform installs, fetched once with their hashes checked."""
    wheels = tmp_path / "wheels"
    for lock in (LOCK, BUILD_LOCK):
        download = ["download", "--quiet", "--disable-pip-version-check", "--require-hashes", "--only-binary=:all:"]
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", *download, "--no-deps", "-d", str(wheels), "-r", str(lock)],
            capture_output=True,
            text=True,
        )
        assert fetched.returncode == 0, fetched.stderr[-3000:]
    served = Mirror(wheels, tmp_path / "mirror")
    yield served
    served.server.shutdown()
    served.server.server_close()


def replay_builder(root: Path, build_args: dict[str, str]) -> None:
    """Run the Dockerfile's builder stage under ``root``, as `docker build --build-arg ...` would.

    ``python`` is this machine's interpreter (the image's is the same minor version; another test
    checks). ARG without a default stays unset unless given, as in BuildKit.
    """
    bin_dir, src = root / "bin", root / "src"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(os.path.realpath(sys.executable))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    moved = re.compile(r"(?<![\w./-])/(opt|tmp)/")
    for line in dockerfile_stages()[0][1:]:
        instruction, _, rest = line.partition(" ")
        if instruction == "ARG":
            name, _, default = rest.partition("=")
            if name in build_args or default:
                env[name] = build_args.get(name, default)
        elif instruction == "ENV":
            env.update({name: value for name, _, value in (pair.partition("=") for pair in shlex.split(rest))})
        elif instruction == "WORKDIR":
            assert rest == "/src"
            src.mkdir()
        elif instruction == "COPY":
            *sources, destination = rest.split()
            for source in sources:
                target = src / destination / Path(source).name if destination.endswith("/") else src / destination
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy(ROOT / source, target)
        elif instruction == "RUN":
            command = moved.sub(lambda m: f"{root}/{m.group(1)}/", rest)
            done = subprocess.run(["sh", "-c", command], cwd=src, env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        else:
            pytest.fail(f"the replay does not know {instruction}: teach it before using it in the Dockerfile")


@pytest.mark.pypi
@pytest.mark.timeout(900)
def test_the_image_builder_stage_runs_from_the_locks_through_a_mirror(mirror: Mirror, tmp_path: Path) -> None:
    root = tmp_path / "build"
    replay_builder(root, {"PIP_INDEX_URL": f"http://{mirror.host}/simple/", "PIP_TRUSTED_HOST": mirror.host})
    # Everything came from the mirror: pip had no other index, and it was asked for each project.
    asked = {path.split("/")[2] for path in mirror.requests if path.startswith("/simple/")}
    assert "setuptools" in mirror.projects and asked == mirror.projects

    venv, build = root / "opt" / "azs-bot", root / "opt" / "build"
    python = str(venv / "bin" / "python")
    # The wheel was made by the locked backend, which stayed in the builder's own virtualenv.
    setuptools = locked(BUILD_LOCK)["setuptools"]
    backend = subprocess.run(
        [str(build / "bin" / "python"), "-c", "import setuptools; print(setuptools.__version__)"],
        capture_output=True,
        text=True,
    )
    assert backend.stdout.strip() == setuptools, backend.stderr
    (wheel_info,) = venv.glob("lib/python*/site-packages/azs_backup_bot-*.dist-info/WHEEL")
    assert f"Generator: setuptools ({setuptools})" in wheel_info.read_text()
    assert list(wheel_info.parent.rglob("LICENSE")), "the MIT notice travels with the installed bot"
    leftovers = subprocess.run([python, "-c", "import setuptools"], capture_output=True, cwd=tmp_path)
    assert leftovers.returncode != 0, "the runtime virtualenv keeps no build backend"

    usage = subprocess.run([str(venv / "bin" / "azs-bot"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert all(command in usage.stdout for command in ("web", "worker", "socket"))
    # --help imports little; every process's modules must import from what the lock installed.
    imports = (
        "import bot.serve.web, bot.worker.loop, bot.state.connection, bot.serve.socket_mode, "
        "slack_bolt.adapter.socket_mode"
    )
    loaded = subprocess.run([python, "-c", imports], capture_output=True, text=True, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]

    # A production install has no devkit: its commands say, in one line, how to get them.
    for command in ("demo", "simulator"):
        refused = subprocess.run([str(venv / "bin" / "azs-bot"), command], capture_output=True, text=True, cwd=tmp_path)
        assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr[-3000:]
        assert len(refused.stderr.splitlines()) == 1 and "pip install -e ./devkit" in refused.stderr
    absent = subprocess.run([python, "-c", "import trustme"], capture_output=True, cwd=tmp_path)
    assert absent.returncode != 0  # the simulator's only reason to have it
