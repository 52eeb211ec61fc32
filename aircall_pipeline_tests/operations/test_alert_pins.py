"""The alert sinks' libraries are pinned in setup.py at the versions the tests run with: slack_sdk and
urllib3 are imported directly (alerts.py), so neither may ride in unpinned behind another package."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_alert_libraries_are_pinned_and_dagster_slack_is_not_needed():
    out = subprocess.run([sys.executable, "-I", "-S", str(REPO / "deploy" / "pins.py"), str(REPO / "setup.py")],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    pins = dict(line.split("==") for line in out.split())
    for dist in ("slack-sdk", "urllib3", "requests"):
        assert pins[dist] == version(dist), f"{dist}: setup.py pins {pins[dist]}, tests run {version(dist)}"
    assert "dagster-slack" not in pins  # never imported: slack_sdk is used directly
