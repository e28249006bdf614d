"""Probes by purpose: liveness is the heartbeat alone, readiness and the detail are each process's own."""

from __future__ import annotations

from bot.ops.probes import Heartbeat, Probes


def test_liveness_ignores_what_readiness_and_health_report() -> None:
    heartbeat = Heartbeat(max_age=60)
    probes = Probes(heartbeat, ready=lambda: {"socket": "no connection"}, health=lambda: {"redis": "down"})
    assert probes.answer("/livez") == (200, {"status": "ok"})
    status, body = probes.answer("/readyz") or (0, {})
    assert status == 503 and body["problems"] == {"socket": "no connection"}
    status, body = probes.answer("/healthz") or (0, {})
    assert status == 503 and body["problems"] == {"redis": "down"}
    assert probes.answer("/metrics") is None


def test_a_stalled_loop_fails_every_probe_and_a_failing_check_fails_only_its_own() -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("boom")

    heartbeat = Heartbeat(max_age=60)
    probes = Probes(heartbeat, health=broken)
    assert probes.answer("/readyz") == (200, {"status": "ok"})
    assert (probes.answer("/healthz") or (0, {}))[0] == 503
    heartbeat.max_age = -1.0
    for path in ("/livez", "/readyz", "/healthz"):
        status, body = probes.answer(path) or (0, {})
        assert status == 503 and "loop" in body["problems"], path  # type: ignore[operator]
