"""Run the whole suite on one machine: catalog, analytics, router, edge and Envoy, each its
own process, started in dependency order, checked healthy, and stopped cleanly.

Used by `freeway run` / `freeway demo` and by the e2e tests (one session-scoped suite).
Children run in their own session so that Ctrl-C reaches only the supervisor, which then
stops them in reverse order: SIGTERM, a grace period, then SIGKILL for stragglers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from services.local.envoy import envoy_command, gateway_config, write_config
from services.shared.healthcheck import grpc_status, http_status
from services.shared.settings import SuiteSettings

log = logging.getLogger("freeway.supervisor")


class SuiteError(RuntimeError):
    """A process of the suite failed to start or become healthy."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    check: tuple[str, str]  # ("grpc", "host:port") or ("http", "http://…/path")


@dataclass
class Running:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None


@dataclass
class Suite:
    """The suite's processes. `start()` returns once every one reports healthy."""

    settings: SuiteSettings
    env: Mapping[str, str]
    log_dir: Path | None = None  # None: children share this process's stdout/stderr
    before: Sequence[ProcessSpec] = ()  # e.g. the provider simulator for the demo
    running: list[Running] = field(default_factory=list)

    def specs(self) -> list[ProcessSpec]:
        s = self.settings
        py = sys.executable
        envoy_json = write_config(
            gateway_config(s.envoy_addr, s.envoy_admin_addr, s.edge_addr),
            s.data_dir / "envoy.json",
        )
        return [
            *self.before,
            ProcessSpec("catalog", [py, "-m", "services.catalog"], ("grpc", s.catalog_addr)),
            ProcessSpec("analytics", [py, "-m", "services.analytics"], ("grpc", s.analytics_addr)),
            ProcessSpec("router", [py, "-m", "services.router"], ("grpc", s.router_addr)),
            ProcessSpec(
                "edge", [py, "-m", "services.edge"], ("http", f"http://{s.edge_addr}/healthz")
            ),
            ProcessSpec(
                "envoy", envoy_command(envoy_json), ("http", f"http://{s.envoy_admin_addr}/ready")
            ),
        ]

    async def start(self, timeout: float = 60.0) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs():
            self.running.append(self._spawn(spec))
            await self._wait_ready(self.running[-1], timeout)

    def _spawn(self, spec: ProcessSpec) -> Running:
        out: IO[bytes] | None = None
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{spec.name}.log"
            out = log_path.open("ab")
        popen = subprocess.Popen(
            list(spec.argv),
            env=dict(self.env),
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if out is not None:
            out.close()
        return Running(spec, popen, log_path)

    async def _wait_ready(self, proc: Running, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        kind, target = proc.spec.check
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise SuiteError(
                    f"{proc.spec.name} exited with code {proc.popen.returncode}" + self._tail(proc)
                )
            if await _healthy(kind, target):
                return
            await asyncio.sleep(0.1)
        raise SuiteError(f"{proc.spec.name} not healthy after {timeout:.0f}s" + self._tail(proc))

    @staticmethod
    def _tail(proc: Running) -> str:
        if proc.log_path is None or not proc.log_path.exists():
            return ""
        lines = proc.log_path.read_text(errors="replace").splitlines()[-30:]
        return "\n" + "\n".join(f"  {proc.spec.name}| {line}" for line in lines)

    def pids(self) -> dict[str, int]:
        return {r.spec.name: r.popen.pid for r in self.running}

    def exited(self) -> list[str]:
        return [r.spec.name for r in self.running if r.popen.poll() is not None]

    async def stop(self, grace: float = 10.0) -> dict[str, int]:
        """SIGTERM in reverse start order, SIGKILL after `grace`; returns exit codes."""
        for proc in reversed(self.running):
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        codes: dict[str, int] = {}
        for proc in reversed(self.running):
            while proc.popen.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.popen.poll() is None:
                log.warning("%s did not stop within %.0fs; killing it", proc.spec.name, grace)
                proc.popen.kill()
                proc.popen.wait()
            codes[proc.spec.name] = proc.popen.returncode
        self.running.clear()
        return codes


async def _healthy(kind: str, target: str) -> bool:
    """One probe, the same the containers use (services/shared/healthcheck.py)."""
    if kind == "grpc":
        return await asyncio.to_thread(grpc_status, target, "", 1.0) == "SERVING"
    return await asyncio.to_thread(http_status, target, 1.0) == 200


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def loopback_settings(data_dir: Path, providers_file: Path, **overrides: Any) -> SuiteSettings:
    """The suite with every address on a free loopback port: for tests and benchmarks that
    run beside whatever else is listening."""
    addresses = {
        name: f"127.0.0.1:{free_port()}"
        for name in ("catalog_addr", "router_addr", "analytics_addr", "edge_addr",
                     "envoy_addr", "envoy_admin_addr")
    }  # fmt: skip
    return SuiteSettings(**addresses, data_dir=data_dir, providers_file=providers_file, **overrides)


def child_env(
    settings: SuiteSettings, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment plus the suite's resolved settings, so every child agrees."""
    env = dict(os.environ)
    env.update(
        {
            "FREEWAY_CATALOG_ADDR": settings.catalog_addr,
            "FREEWAY_ROUTER_ADDR": settings.router_addr,
            "FREEWAY_ANALYTICS_ADDR": settings.analytics_addr,
            "FREEWAY_EDGE_ADDR": settings.edge_addr,
            "FREEWAY_ENVOY_ADDR": settings.envoy_addr,
            "FREEWAY_ENVOY_ADMIN_ADDR": settings.envoy_admin_addr,
            "FREEWAY_DATA_DIR": str(settings.data_dir),
            "FREEWAY_PROVIDERS_FILE": str(settings.providers_file),
        }
    )
    env.update(overrides or {})
    return env


async def run_until_interrupted(
    suite: Suite, banner: str, after_start: Callable[[], Awaitable[str]] | None = None
) -> int:
    """Start the suite, run `after_start` and print what it returns, print `banner`, then
    wait for Ctrl-C / SIGTERM or a crashed child, and stop every process."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        await suite.start()
        if after_start is not None:
            print(await after_start(), flush=True)
        print(banner, flush=True)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            if dead := suite.exited():
                print(f"freeway: {', '.join(dead)} exited; stopping the suite", file=sys.stderr)
                code = 1
                break
    except (SuiteError, httpx.HTTPError) as exc:
        print(f"freeway: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("freeway: stopping…", file=sys.stderr, flush=True)
        codes = await suite.stop()
        print(
            "freeway: stopped " + ", ".join(f"{k}={v}" for k, v in codes.items()), file=sys.stderr
        )
    return code
