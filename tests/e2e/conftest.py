"""One session-scoped suite for every e2e test: the provider simulator, then catalog,
analytics, router, edge and a real Envoy, as separate processes on free loopback ports,
with the catalogue and usage in a throwaway PostgreSQL schema."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from native._common import DEFAULT_WEIGHTS_PATH
from services.local.supervisor import (
    ProcessSpec,
    Suite,
    SuiteError,
    child_env,
    loopback_settings,
)
from services.shared.settings import SuiteSettings
from services.simulator.providers import demo_providers_toml
from tests.conftest import free_port, pg_execute

ADMIN_KEY = "e2e-admin-key"


@dataclass
class RunningSuite:
    settings: SuiteSettings
    suite: Suite
    simulator_url: str
    database_url: str
    log_dir: Path
    weights_file: Path  # the router's scoring weights, taken up live when they change

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.envoy_addr}/v1"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    @property
    def token(self) -> str:
        """The service token every internal gRPC call carries."""
        return self.suite.token


def _providers_file(tmp: Path, simulator: str) -> Path:
    path = tmp / "providers.toml"
    path.write_text(demo_providers_toml(simulator), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSuite]:
    from tests.conftest import require_postgres

    postgres = require_postgres()
    schema = f"e2e_{int(time.time() * 1000)}"
    asyncio.run(pg_execute(postgres, f'CREATE SCHEMA "{schema}"'))
    database_url = f"{postgres}?options=-csearch_path%3D{schema}"
    tmp = tmp_path_factory.mktemp("suite")
    simulator_addr = f"127.0.0.1:{free_port()}"
    settings = loopback_settings(
        tmp / "var",
        _providers_file(tmp, f"http://{simulator_addr}"),
        database_url=database_url,
    )
    weights_file = tmp / "weights.json"
    shutil.copyfile(DEFAULT_WEIGHTS_PATH, weights_file)
    env = child_env(
        settings,
        {
            "DATABASE_URL": database_url,
            "FREEWAY_ADMIN_KEY": ADMIN_KEY,
            "FREEWAY_CONFIG": "",
            "FREEWAY_LOG_LEVEL": "INFO",
            # learning from traffic: vectors kept, a refit taken up within a second
            "FREEWAY_ROUTER_KEEP_FEATURES": "true",
            "FREEWAY_ROUTER_WEIGHTS_FILE": str(weights_file),
            "FREEWAY_ROUTER_WEIGHTS_CHECK_S": "0.5",
        },
    )
    env.pop("REDIS_URL", None)
    simulator = ProcessSpec(
        "simulator",
        [sys.executable, "-m", "services.simulator", "--addr", simulator_addr],
        ("http", f"http://{simulator_addr}/_simulator/health"),
    )
    running = Suite(settings, env, log_dir=tmp / "logs", before=[simulator])
    try:
        asyncio.run(running.start(timeout=60))
        _wait_for_models(settings)
    except SuiteError as exc:
        asyncio.run(running.stop())
        pytest.fail(f"the suite did not start: {exc}", pytrace=False)
    yield RunningSuite(
        settings, running, f"http://{simulator_addr}", database_url, tmp / "logs", weights_file
    )
    codes = asyncio.run(running.stop())
    asyncio.run(pg_execute(postgres, f'DROP SCHEMA "{schema}" CASCADE'))
    assert all(code == 0 for name, code in codes.items() if name != "simulator"), codes


def _wait_for_models(settings: SuiteSettings) -> None:
    """The catalog's first poll runs at start; wait until the gateway lists models."""
    url = f"http://{settings.envoy_addr}/v1/models"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = httpx.get(url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=5)
        if reply.status_code == 200 and len(reply.json()["data"]) > 1:
            return
        time.sleep(0.2)
    raise SuiteError(f"no models listed at {url} after 30s")


def wait_for_banner(proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 90) -> str:
    """Wait until a `freeway run`/`demo` process says it is up; its output so far.
    Fails with that output if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while "Freeway is up" not in (out := log_path.read_text()):
        assert proc.poll() is None, out
        assert time.monotonic() < deadline, out
        time.sleep(0.2)
    return out
