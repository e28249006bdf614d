"""The README's first command: the demo runs the whole product and reports a backup."""

from __future__ import annotations

import os
import subprocess
import sys

from bot.localrun import PROJECT_ROOT


def test_demo_reports_an_on_demand_and_a_failed_scheduled_backup() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZS_", "SLACK_", "REDIS_URL"))}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--backup-seconds", "2"], env=env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for expected in ("/azs backup", "[ Start backup ]", "started infrastructure backup", "succeeded.",
                     "21m 15s", "Reported", "Scheduled backup", "failed.", "Failed roles"):
        assert expected in out
