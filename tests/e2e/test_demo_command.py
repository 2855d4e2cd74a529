"""`freeway demo`: with no API key and no servers, a newcomer sees a routed completion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from tests.e2e.conftest import wait_for_banner

pytestmark = pytest.mark.e2e


def test_demo_prints_a_routed_completion_then_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    for name in ("ENVOY", "ENVOY_ADMIN", "EDGE", "CATALOG", "ROUTER", "ANALYTICS", "SIMULATOR"):
        env[f"FREEWAY_{name}_ADDR"] = f"127.0.0.1:{free_port()}"
    env["FREEWAY_DATA_DIR"] = str(tmp_path / "var")
    env.pop("FREEWAY_ADMIN_KEY", None)
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "demo"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            out = wait_for_banner(proc, log_path)
            assert 'Routed completion (model "auto" → openrouter/' in out or (
                'Routed completion (model "auto" → groq/' in out
            ), out
            assert "freeway-demo-key (demo)" in out
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
