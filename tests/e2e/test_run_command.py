"""`freeway run` on embedded defaults (SQLite, in-process limits): it prints where the
gateway listens, serves, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port
from tests.e2e.conftest import wait_for_banner

pytestmark = pytest.mark.e2e


def _children(pid: int) -> set[int]:
    """Every descendant of `pid`, read from /proc (children run in their own sessions)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _loopback_providers(tmp_path: Path) -> Path:
    """Tests never reach past loopback: the shipped file polls public hosts (Pollinations
    needs no key), so this run gets a local runtime on a port where nothing listens."""
    path = tmp_path / "providers.toml"
    path.write_text(
        f'[[providers]]\nname = "ollama"\nbase_url = "http://127.0.0.1:{free_port()}"\n'
        'format = "ollama"\nmodels_path = "/api/tags"\nfree_policy = "local"\n'
    )
    return path


def test_run_serves_on_embedded_defaults_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    ports = {
        name: free_port() for name in ("envoy", "admin", "edge", "catalog", "router", "analytics")
    }
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "FREEWAY_ENVOY_ADDR": f"127.0.0.1:{ports['envoy']}",
            "FREEWAY_ENVOY_ADMIN_ADDR": f"127.0.0.1:{ports['admin']}",
            "FREEWAY_EDGE_ADDR": f"127.0.0.1:{ports['edge']}",
            "FREEWAY_CATALOG_ADDR": f"127.0.0.1:{ports['catalog']}",
            "FREEWAY_ROUTER_ADDR": f"127.0.0.1:{ports['router']}",
            "FREEWAY_ANALYTICS_ADDR": f"127.0.0.1:{ports['analytics']}",
            "FREEWAY_DATA_DIR": str(tmp_path / "var"),
            "FREEWAY_ADMIN_KEY": "run-key",
            "FREEWAY_PROVIDERS_FILE": str(_loopback_providers(tmp_path)),
        }
    )
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        banner = wait_for_banner(proc, tmp_path / "run.log")
        assert f"http://127.0.0.1:{ports['envoy']}/v1" in banner
        assert "SQLite" in banner
        children = _children(proc.pid)
        assert len(children) >= 5
        models = httpx.get(
            f"http://127.0.0.1:{ports['envoy']}/v1/models",
            headers={"Authorization": "Bearer run-key"},
            timeout=10,
        )
        assert models.status_code == 200
        assert (tmp_path / "var" / "catalog.sqlite3").exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, (tmp_path / "run.log").read_text()
        alive = {
            pid
            for pid in children
            if Path(f"/proc/{pid}").exists()
            and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
        }
        assert alive == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
