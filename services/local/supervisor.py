"""Run the whole suite on one machine: catalog, analytics, router, edge and Envoy, each its
own process, started in dependency order, checked healthy, kept running, stopped cleanly.

Used by `freeway run` / `freeway demo` and by the e2e tests (one session-scoped suite).
Before anything starts, every address the suite will listen on is checked: a taken one
stops the start with one line naming the port and the process holding it, so a second
`make demo` never talks to the first. Children run in their own session so that Ctrl-C
reaches only the supervisor. While the suite runs, `supervise()` restarts a child that dies,
with exponential backoff, and the others keep serving. `stop()` stops them in reverse
order: SIGTERM, a grace period, then SIGKILL for stragglers.
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
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from services.local.envoy import envoy_command, gateway_config, write_config
from services.local.ports import holder, taken
from services.shared.config import ConfigError, parse_address
from services.shared.healthcheck import grpc_status, http_status
from services.shared.metrics import metrics_address
from services.shared.settings import SuiteSettings, check_token, new_token

log = logging.getLogger("freeway.supervisor")

TOKEN_ENV = "FREEWAY_SERVICE_TOKEN"
TOKEN_FILE = "service-token"

Report = Callable[[str], None]


class SuiteError(RuntimeError):
    """A process of the suite failed to start or become healthy."""


class PortTaken(SuiteError):
    """An address the suite must listen on is already in use."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    check: tuple[str, str]  # ("grpc", "host:port") or ("http", "http://…/path")
    binds: tuple[tuple[str, str], ...] = ()  # (setting, "host:port") it listens on
    env: tuple[tuple[str, str], ...] = ()  # on top of the suite's (a replica's own address)


@dataclass
class Running:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None
    started: float = field(default_factory=time.monotonic)
    restarts: int = 0
    crashes: int = 0  # consecutive short-lived runs (for the backoff)


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff between restarts of a child that keeps dying: initial_s, doubling to max_s;
    a child that stayed up for stable_s starts again from initial_s."""

    initial_s: float = 0.5
    max_s: float = 30.0
    stable_s: float = 60.0
    ready_timeout_s: float = 60.0

    def delay(self, crashes: int) -> float:
        return float(min(self.initial_s * 2 ** max(crashes - 1, 0), self.max_s))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Suite:
    """The suite's processes. `start()` returns once every one reports healthy."""

    settings: SuiteSettings
    env: Mapping[str, str]
    log_dir: Path | None = None  # None: children share this process's stdout/stderr
    before: Sequence[ProcessSpec] = ()  # e.g. the provider simulator for the demo
    with_services: bool = True  # False: only `before` (tests of the supervisor itself)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    running: list[Running] = field(default_factory=list)

    def specs(self) -> list[ProcessSpec]:
        if not self.with_services:
            return list(self.before)
        s = self.settings
        tls = _tls(s.envoy_tls_cert, s.envoy_tls_key)
        envoy_json = write_config(
            gateway_config(s.envoy_addr, s.envoy_admin_addr, s.edge_addr, tls=tls),
            s.data_dir / "envoy.json",
        )
        return [
            *self.before,
            *_service("catalog", s.catalog_addr, "grpc", s.catalog_metrics_port),
            *_service("analytics", s.analytics_addr, "grpc", s.analytics_metrics_port),
            *_service("router", s.router_addr, "grpc", s.router_metrics_port),
            *_service("edge", s.edge_addr, "http"),
            ProcessSpec(
                "envoy",
                envoy_command(envoy_json),
                ("http", f"http://{s.envoy_admin_addr}/ready"),
                (
                    ("FREEWAY_ENVOY_ADDR", s.envoy_addr),
                    ("FREEWAY_ENVOY_ADMIN_ADDR", s.envoy_admin_addr),
                ),
            ),
        ]

    @property
    def token(self) -> str:
        """The service token every child shares (generated on first start)."""
        return self.env.get(TOKEN_ENV, "")

    async def start(self, timeout: float = 60.0) -> None:
        """Check every port, then start each process and wait until it is healthy."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(self.env)
        ensure_token(env, self.settings.data_dir)
        self.env = env
        specs = self.specs()
        check_ports(specs)
        for spec in specs:
            self.running.append(self._spawn(spec))
            await self._wait_ready(self.running[-1], timeout)

    async def supervise(self, report: Report = _stderr) -> None:
        """Until cancelled: restart every child that dies, with backoff; the rest serve on."""
        restarting: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                for proc in self.running:
                    name = proc.spec.name
                    if name not in restarting and proc.popen.poll() is not None:
                        restarting[name] = asyncio.create_task(self._restart(proc, report))
                for name, task in list(restarting.items()):
                    if task.done():
                        del restarting[name]
                await asyncio.sleep(0.1)
        finally:
            for task in restarting.values():
                task.cancel()
            await asyncio.gather(*restarting.values(), return_exceptions=True)

    async def _restart(self, proc: Running, report: Report) -> None:
        name, code = proc.spec.name, proc.popen.returncode
        stable = time.monotonic() - proc.started >= self.restart.stable_s
        proc.crashes = 1 if stable else proc.crashes + 1
        delay = self.restart.delay(proc.crashes)
        report(f"freeway: {name} exited with code {code}; restarting it in {delay:.1f}s")
        await asyncio.sleep(delay)
        fresh = self._spawn(proc.spec)
        proc.popen, proc.started = fresh.popen, fresh.started
        proc.restarts += 1
        try:
            await self._wait_ready(proc, self.restart.ready_timeout_s)
        except SuiteError as exc:
            report(f"freeway: {name} did not come back: {str(exc).splitlines()[0]}")
            if proc.popen.poll() is None:  # alive but never healthy: let the loop retry it
                proc.popen.kill()
                proc.popen.wait()
            return
        report(f"freeway: {name} is back (pid {proc.popen.pid}, restart {proc.restarts})")

    def _spawn(self, spec: ProcessSpec) -> Running:
        out: IO[bytes] | None = None
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{spec.name}.log"
            out = log_path.open("ab")
        popen = subprocess.Popen(
            list(spec.argv),
            env={**self.env, **dict(spec.env)},
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
            if await healthy(kind, target):
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

    def process(self, name: str) -> Running:
        (proc,) = [r for r in self.running if r.spec.name == name]
        return proc

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


def _service(
    service: str, addresses: str, kind: str, metrics_port: int | None = None
) -> list[ProcessSpec]:
    """One process per address: with several (replicas on one machine), each binds its own
    and is named `<service>-<n>`; the others reach them all through the whole list. A gRPC
    service's replica n serves /metrics on `metrics_port` + n - 1."""
    own = [a.strip() for a in addresses.split(",") if a.strip()]
    setting = f"FREEWAY_{service.upper()}_ADDR"
    specs = []
    for n, address in enumerate(own, 1):
        check = (kind, address) if kind == "grpc" else (kind, f"http://{address}/healthz")
        binds: tuple[tuple[str, str], ...] = ((setting, address),)
        env = binds
        if metrics_port is not None:
            metrics_setting = f"FREEWAY_{service.upper()}_METRICS_PORT"
            host, port = metrics_address(address, metrics_port + n - 1)
            binds += ((metrics_setting, f"{host}:{port}"),)
            env += ((metrics_setting, str(port)),)
        specs.append(
            ProcessSpec(
                service if len(own) == 1 else f"{service}-{n}",
                [sys.executable, "-m", f"services.{service}"],
                check,
                binds,
                env,
            )
        )
    return specs


def _tls(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    return (cert, key) if cert is not None and key is not None else None


def check_ports(specs: Sequence[ProcessSpec]) -> None:
    """Raise PortTaken, one line naming the first taken port and who holds it."""
    busy = [
        (setting, address) for spec in specs for setting, address in spec.binds if taken(address)
    ]
    if not busy:
        return
    setting, address = busy[0]
    port = parse_address(address, setting)[1]
    who = holder(port) or "another process"
    more = f" (and {len(busy) - 1} more of the suite's ports are taken)" if len(busy) > 1 else ""
    raise PortTaken(
        f"cannot start: {address} ({setting}) is already in use by {who}{more};"
        f" stop it or set {setting} to a free address"
    )


def ensure_token(env: MutableMapping[str, str], data_dir: Path) -> str:
    """The suite's service token: FREEWAY_SERVICE_TOKEN when set, else the one kept in
    `<data_dir>/service-token` (made on first start, readable by this user only, so
    grpcurl can use it and a restart keeps it)."""
    token = env.get(TOKEN_ENV, "")
    if not token:
        path = data_dir / TOKEN_FILE
        if path.exists():
            token = path.read_text(encoding="utf-8").strip()
        else:
            token = new_token()
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(token + "\n")
    try:
        check_token(token)
    except ConfigError as exc:
        raise SuiteError(f"{exc} (from {TOKEN_ENV} or {data_dir / TOKEN_FILE})") from None
    env[TOKEN_ENV] = token
    return token


async def healthy(kind: str, target: str) -> bool:
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
    addresses: dict[str, Any] = {
        name: f"127.0.0.1:{free_port()}"
        for name in ("catalog_addr", "router_addr", "analytics_addr", "edge_addr",
                     "envoy_addr", "envoy_admin_addr")
    }  # fmt: skip
    ports = {f"{name}_metrics_port": free_port() for name in ("catalog", "router", "analytics")}
    values = {**addresses, **ports, **overrides}
    return SuiteSettings(data_dir=data_dir, providers_file=providers_file, **values)


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
            "FREEWAY_CATALOG_METRICS_PORT": str(settings.catalog_metrics_port),
            "FREEWAY_ROUTER_METRICS_PORT": str(settings.router_metrics_port),
            "FREEWAY_ANALYTICS_METRICS_PORT": str(settings.analytics_metrics_port),
            "FREEWAY_DATA_DIR": str(settings.data_dir),
            "FREEWAY_PROVIDERS_FILE": str(settings.providers_file),
        }
    )
    if settings.service_token:
        env[TOKEN_ENV] = settings.service_token
    env.update(overrides or {})
    return env


async def run_until_interrupted(
    suite: Suite, banner: str, after_start: Callable[[], Awaitable[str]] | None = None
) -> int:
    """Start the suite, run `after_start` and print what it returns, print `banner`, then
    keep every child running (restarting one that dies) until Ctrl-C / SIGTERM, and stop
    every process."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    supervisor: asyncio.Task[None] | None = None
    try:
        await suite.start()
        supervisor = asyncio.create_task(suite.supervise())
        if after_start is not None:
            print(await after_start(), flush=True)
        print(banner, flush=True)
        await stop.wait()
    except (SuiteError, httpx.HTTPError) as exc:
        print(f"freeway: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        if suite.running:
            print("freeway: stopping…", file=sys.stderr, flush=True)
            codes = await suite.stop()
            stopped = ", ".join(f"{k}={v}" for k, v in codes.items())
            print(f"freeway: stopped {stopped}", file=sys.stderr)
    return code
