"""`make chaos`: kill and restart probes against the whole suite on loopback, with figures.

Two scenarios, each a real suite of processes behind a real Envoy, with its own throwaway
PostgreSQL cluster (initdb + pg_ctl on a free port, so a restart disturbs nobody else),
the provider stand-in, and a load of mixed plain and streamed completions:

- usage: one of each service under the supervisor of `freeway run`. The router is killed
  with SIGKILL, then analytics, then PostgreSQL is restarted; the supervisor restarts what
  died. Every answered request must have exactly one usage row: events lost and
  duplicated are counted in PostgreSQL against the request ids the client was answered.
- scale-out: two edges, two routers and two catalogs (Redis shared by them), nothing
  restarted. One edge, one router and the catalog leader are killed in turn; a failed
  request must have been in flight at a kill, and the standby catalog must poll.

Printed per scenario: requests, success rate, 5xx count, streams cut, latency p50/p99 and
what the chaos added over the healthy start, events lost / duplicated, and for scale-out
the failures in and out of flight. Bounded: about a minute per scenario by default, loopback
only. The tests in tests/e2e/test_chaos.py run the same probes at a smaller scale and
assert the properties; this prints the figures (and bench/results/chaos.json).

    python -m bench.chaos [--scenario usage|scale-out|all] [--seconds 6] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.local.supervisor import (
    ProcessSpec,
    Suite,
    child_env,
    free_port,
    healthy,
    loopback_settings,
)
from services.shared.channels import channel
from services.shared.settings import SuiteSettings
from services.simulator.providers import demo_providers_toml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "chaos.json"
ADMIN_KEY = "chaos-admin-key"
DONE = b"data: [DONE]"
# A request sent this soon after a kill may still go out over a connection to the dead
# process that its peer (Envoy, or an edge's gRPC channel) has not yet seen closed: on this
# 2-core machine that has been up to ~15 ms. Such a request was, in effect, in flight.
NOTICE_S = 0.25

Log = Callable[[str], None]


# ---------------------------------------------------------------- a throwaway PostgreSQL


def postgres_bin() -> Path | None:
    """The directory of initdb / pg_ctl: PATH first, else the newest /usr/lib/postgresql."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    return versions[-1].parent if versions else None


class Cluster:
    """A PostgreSQL cluster of its own on a free loopback port, in a temporary directory of
    its own (run as the `postgres` user when this process is root: initdb refuses root, and
    that user must be able to reach the directory)."""

    def __init__(self, bindir: Path) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="freeway-pg-"))
        self.bindir = bindir
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as, str(self.bindir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        if self._as:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.directory} -c shared_buffers=32MB"
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-w", "-t", "60", "-o", options,
            "-l", str(self.directory / "postgres.log"), *extra,
        )  # fmt: skip

    def restart(self) -> None:
        """A fast restart: every connection is cut, the server comes back on the same port."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        shutil.rmtree(self.directory, ignore_errors=True)


# ---------------------------------------------------------------- the suite


def providers_file(directory: Path, simulator_url: str, poll_interval_s: int = 60) -> Path:
    """The demo providers pointed at this simulator, without free-tier quotas (a load of
    hundreds of requests a minute would use them up and make the figures about quotas)."""
    lines = []
    for line in demo_providers_toml(simulator_url).splitlines():
        if line.startswith("free_tier"):
            continue
        if line.startswith("poll_interval_s"):
            line = f"poll_interval_s = {poll_interval_s}"
        lines.append(line)
    path = directory / "providers.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Scenario:
    suite: Suite
    settings: SuiteSettings
    cluster: Cluster
    simulator_url: str
    log_dir: Path

    @property
    def base_url(self) -> str:
        scheme = "https" if self.settings.envoy_tls_cert else "http"
        return f"{scheme}://{self.settings.envoy_addr}/v1"


@contextlib.asynccontextmanager
async def scenario(
    directory: Path,
    *,
    replicas: int = 1,
    redis_url: str | None = None,
    poll_interval_s: int = 60,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Scenario]:
    """A started suite (edge, router and catalog `replicas` times) on its own cluster."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    cluster = Cluster(bindir)
    suite: Suite | None = None
    try:
        await asyncio.to_thread(cluster.start)
        suite, simulator_url = _suite(
            directory, cluster.url, replicas, redis_url, poll_interval_s, env
        )
        await suite.start(timeout=90)
        await wait_for_models(f"http://{suite.settings.envoy_addr}/v1")
        yield Scenario(suite, suite.settings, cluster, simulator_url, directory / "logs")
    finally:
        if suite is not None:
            await suite.stop()
        await asyncio.to_thread(cluster.stop)


def _suite(
    directory: Path,
    database_url: str,
    replicas: int,
    redis_url: str | None,
    poll_interval_s: int,
    env: dict[str, str] | None,
) -> tuple[Suite, str]:
    simulator_addr = f"127.0.0.1:{free_port()}"
    simulator_url = f"http://{simulator_addr}"
    many = {
        name: ",".join(f"127.0.0.1:{free_port()}" for _ in range(replicas))
        for name in ("edge_addr", "router_addr", "catalog_addr")
    }
    settings = loopback_settings(
        directory / "var",
        providers_file(directory, simulator_url, poll_interval_s),
        database_url=database_url,
        redis_url=redis_url,
        **many,
    )
    overrides = {
        "DATABASE_URL": database_url,
        "FREEWAY_ADMIN_KEY": ADMIN_KEY,
        "FREEWAY_CONFIG": "",
        "FREEWAY_EDGE_RPM": "0",
        "FREEWAY_LOG_LEVEL": "INFO",
        "FREEWAY_CATALOG_LEADER_RETRY_S": "0.5",
        "FREEWAY_CATALOG_MIN_POLL_GAP_S": "1",
        "FREEWAY_ROUTER_QUOTA_PREFIX": f"freeway:chaos:{uuid.uuid4().hex[:8]}:",
        **(env or {}),
    }
    environment = child_env(settings, overrides)
    if redis_url is None:
        environment.pop("REDIS_URL", None)
    else:
        environment["REDIS_URL"] = redis_url
    simulator = ProcessSpec(
        "simulator",
        [sys.executable, "-m", "services.simulator", "--addr", simulator_addr, "--no-record"],
        ("http", f"{simulator_url}/_simulator/health"),
        (("FREEWAY_SIMULATOR_ADDR", simulator_addr),),
    )
    suite = Suite(settings, environment, log_dir=directory / "logs", before=[simulator])
    return suite, simulator_url


async def wait_for_models(base_url: str, timeout: float = 60.0) -> None:
    """The catalog's first poll runs at start; wait until the gateway lists models."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base_url}/models", headers=_auth()) as reply:
                    if reply.status == 200 and len((await reply.json())["data"]) > 1:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no models listed at {base_url} after {timeout:.0f}s")


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


# ---------------------------------------------------------------- load


@dataclass(frozen=True)
class Attempt:
    started: float  # monotonic
    ended: float
    status: int  # HTTP status, 0 when no response arrived
    answered: bool  # 200 with a whole answer (a stream: through its [DONE])
    stream: bool
    request_id: str
    detail: str = ""  # the start of a failed reply's body, or the client error

    @property
    def ms(self) -> float:
        return (self.ended - self.started) * 1000


class Load:
    """`concurrency` clients sending completions back to back (half of them streamed); a
    client pauses 50 ms after a failure, as a real one would back off."""

    def __init__(
        self,
        base_url: str,
        concurrency: int,
        tls: ssl.SSLContext | None = None,
        pause_s: float = 0.05,
    ):
        self.base_url = base_url
        self.concurrency = concurrency
        self.tls = tls
        self.pause_s = pause_s
        self.attempts: list[Attempt] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[Attempt]:
        self._stop.set()
        if self._task is not None:
            await self._task
        return self.attempts

    async def _run(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency, ssl=self.tls or False)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            await asyncio.gather(*(self._client(http, n) for n in range(self.concurrency)))

    async def _client(self, http: aiohttp.ClientSession, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            attempt = await self._one(http, stream=(n + i) % 2 == 1, text=f"chaos {n}/{i}")
            self.attempts.append(attempt)
            i += 1
            if not attempt.answered and self.pause_s:
                await asyncio.sleep(self.pause_s)

    async def _one(self, http: aiohttp.ClientSession, stream: bool, text: str) -> Attempt:
        body = {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": text}]}
        started = time.monotonic()
        status, answered, rid, detail = 0, False, "", ""
        try:
            async with http.post(
                f"{self.base_url}/chat/completions", json=body, headers=_auth()
            ) as reply:
                status, rid = reply.status, reply.headers.get("x-request-id", "")
                data = await reply.read()
                if status == 200:
                    answered = data.rstrip().endswith(DONE) if stream else b'"choices"' in data
                if not answered:
                    detail = data[-200:].decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
        return Attempt(started, time.monotonic(), status, answered, stream, rid, detail)


# ---------------------------------------------------------------- counting


@dataclass
class Kill:
    name: str
    at: float  # monotonic
    pid: int


def kill(suite: Suite, name: str) -> Kill:
    proc = suite.process(name)
    pid = proc.popen.pid
    os.kill(pid, signal.SIGKILL)
    return Kill(name, time.monotonic(), pid)


async def usage_rows(url: str) -> dict[str, int]:
    """Usage rows per request id, as stored."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch("SELECT request_id, count(*) AS n FROM usage_events GROUP BY 1")
    finally:
        await conn.close()
    return {row["request_id"]: row["n"] for row in rows}


async def settled_rows(url: str, answered: set[str], timeout: float = 60.0) -> dict[str, int]:
    """The rows once every answered request has one (or `timeout` has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = await usage_rows(url)
        except (OSError, asyncpg.PostgresError):
            rows = {}
        if answered <= set(rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.5)


@dataclass
class Figures:
    scenario: str
    requests: int
    answered: int
    success_rate: float
    http_5xx: int
    streams_cut: int  # 200 streams that ended without [DONE]
    p50_ms: float
    p99_ms: float
    healthy_p50_ms: float
    healthy_p99_ms: float
    events_lost: int
    events_duplicated: int
    kills: list[str] = field(default_factory=list)
    failed_by_phase: dict[str, int] = field(default_factory=dict)  # after each kill, until the next
    failed_in_flight: int = 0  # failures of requests in flight at a kill
    failed_otherwise: int = 0  # failures of requests that started after the last kill before them
    standby_polled: bool | None = None

    @property
    def added_p50_ms(self) -> float:
        return self.p50_ms - self.healthy_p50_ms

    @property
    def added_p99_ms(self) -> float:
        return self.p99_ms - self.healthy_p99_ms

    def table(self) -> str:
        rows = [
            ("requests", f"{self.requests}"),
            ("success rate", f"{self.success_rate:.2%}"),
            ("5xx responses", f"{self.http_5xx}"),
            ("streams cut", f"{self.streams_cut}"),
            ("latency p50 / p99", f"{self.p50_ms:.0f} / {self.p99_ms:.0f} ms"),
            ("added p50 / p99", f"{self.added_p50_ms:+.0f} / {self.added_p99_ms:+.0f} ms"),
            ("events lost", f"{self.events_lost}"),
            ("events duplicated", f"{self.events_duplicated}"),
            *((f"failed after {name}", f"{n}") for name, n in self.failed_by_phase.items()),
        ]
        if self.scenario == "scale-out":
            rows += [
                ("failed, in flight at a kill", f"{self.failed_in_flight}"),
                ("failed, not in flight", f"{self.failed_otherwise}"),
                ("standby took over polling", f"{self.standby_polled}"),
            ]
        width = max(len(k) for k, _ in rows)
        head = f"{self.scenario}: {', then '.join(self.kills)}"
        return "\n".join([head, *(f"  {k:<{width}}  {v}" for k, v in rows)])


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(
    name: str,
    attempts: Sequence[Attempt],
    healthy_until: float,
    kills: Sequence[Kill],
    rows: dict[str, int],
) -> Figures:
    answered = [a for a in attempts if a.answered]
    healthy = [a.ms for a in answered if a.ended <= healthy_until]
    chaos = [a.ms for a in answered if a.started > healthy_until]
    answered_ids = {a.request_id for a in answered}
    in_flight = [a for a in attempts if not a.answered and _in_flight(a, kills)]
    return Figures(
        scenario=name,
        requests=len(attempts),
        answered=len(answered),
        success_rate=len(answered) / len(attempts) if attempts else 0.0,
        http_5xx=sum(1 for a in attempts if a.status >= 500),
        streams_cut=sum(1 for a in attempts if a.stream and a.status == 200 and not a.answered),
        p50_ms=percentile(chaos, 0.5),
        p99_ms=percentile(chaos, 0.99),
        healthy_p50_ms=percentile(healthy, 0.5),
        healthy_p99_ms=percentile(healthy, 0.99),
        events_lost=len(answered_ids - set(rows)),
        events_duplicated=sum(n - 1 for rid, n in rows.items() if rid in answered_ids and n > 1),
        kills=[k.name for k in kills],
        failed_by_phase=_by_phase(attempts, kills),
        failed_in_flight=len(in_flight),
        failed_otherwise=sum(1 for a in attempts if not a.answered) - len(in_flight),
    )


def _by_phase(attempts: Sequence[Attempt], kills: Sequence[Kill]) -> dict[str, int]:
    """Failures that started after each kill and before the next one."""
    bounds = [*(k.at for k in kills[1:]), float("inf")]
    return {
        kill.name: sum(1 for a in attempts if not a.answered and kill.at <= a.started < end)
        for kill, end in zip(kills, bounds, strict=True)
    }


def _in_flight(attempt: Attempt, kills: Sequence[Kill]) -> bool:
    """Whether the attempt was under way at a kill (or sent before the kill could be seen)."""
    return any(attempt.started <= k.at + NOTICE_S and attempt.ended >= k.at for k in kills)


def failed_not_in_flight(attempts: Sequence[Attempt], kills: Sequence[Kill]) -> list[Attempt]:
    return [a for a in attempts if not a.answered and not _in_flight(a, kills)]


# ---------------------------------------------------------------- the scenarios


@dataclass
class Probe:
    """What a scenario did and saw: its figures, every attempt, the kills, and when each
    killed process answered its health check again (usage scenario)."""

    figures: Figures
    attempts: list[Attempt]
    kills: list[Kill]
    back_at: dict[str, float] = field(default_factory=dict)


async def run_usage(directory: Path, seconds: float, concurrency: int, log: Log) -> Probe:
    """kill -9 router, kill -9 analytics, restart PostgreSQL; count the usage rows."""
    back_at: dict[str, float] = {}
    async with scenario(directory) as sc:
        supervisor = asyncio.create_task(sc.suite.supervise(log))
        load = Load(sc.base_url, concurrency)
        load.start()
        kills: list[Kill] = []
        try:
            await asyncio.sleep(seconds)
            healthy_until = time.monotonic()
            for name in ("router", "analytics"):
                restarts = sc.suite.process(name).restarts
                kills.append(kill(sc.suite, name))
                log(f"chaos: killed {name} (pid {kills[-1].pid})")
                await back(sc.suite, name, restarts)
                back_at[name] = time.monotonic()
                await asyncio.sleep(seconds)
            log("chaos: restarting PostgreSQL")
            at = time.monotonic()
            await asyncio.to_thread(sc.cluster.restart)
            kills.append(Kill("postgres (restart)", at, 0))
            await asyncio.sleep(seconds)
        finally:
            attempts = await load.stop()
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        answered = {a.request_id for a in attempts if a.answered}
        rows = await settled_rows(sc.cluster.url, answered)
        result = figures("usage", attempts, healthy_until, kills, rows)
        return Probe(result, attempts, kills, back_at)


async def back(suite: Suite, name: str, restarts: int, timeout: float = 60.0) -> None:
    """Wait until the supervisor has restarted `name` and it answers its health check."""
    proc = suite.process(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.restarts > restarts and await healthy(*proc.spec.check):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{name} did not come back within {timeout:.0f}s")


async def run_scale_out(
    directory: Path, seconds: float, concurrency: int, redis_url: str, log: Log
) -> Probe:
    """Two of each; kill one edge, one router, then the catalog leader, nothing restarted."""
    async with scenario(directory, replicas=2, redis_url=redis_url, poll_interval_s=2) as sc:
        load = Load(sc.base_url, concurrency)
        load.start()
        kills: list[Kill] = []
        try:
            await asyncio.sleep(seconds)
            healthy_until = time.monotonic()
            for name in ("edge-1", "router-1"):
                kills.append(kill(sc.suite, name))
                log(f"chaos: killed {name} (pid {kills[-1].pid})")
                await asyncio.sleep(seconds)
            leader = await catalog_leader(sc.log_dir)
            kills.append(kill(sc.suite, leader))
            log(f"chaos: killed the catalog leader {leader} (pid {kills[-1].pid})")
            standby = "catalog-2" if leader == "catalog-1" else "catalog-1"
            polled = await polled_after(sc, standby, kills[-1].at, timeout=max(seconds, 15))
            await asyncio.sleep(seconds)
        finally:
            attempts = await load.stop()
        answered = {a.request_id for a in attempts if a.answered}
        rows = await settled_rows(sc.cluster.url, answered)
        result = figures("scale-out", attempts, healthy_until, kills, rows)
        for a in failed_not_in_flight(attempts, kills):
            after = ", ".join(f"{(a.started - k.at) * 1000:+.0f} ms" for k in kills)
            log(f"chaos: failed outside a kill (started {after}): {a.status} {a.detail[:160]}")
        result.standby_polled = polled
        return Probe(result, attempts, kills)


async def catalog_leader(log_dir: Path, timeout: float = 30.0) -> str:
    """The catalog replica that says it is the poller."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in ("catalog-1", "catalog-2"):
            path = log_dir / f"{name}.log"
            if path.exists() and "now the catalog poller" in path.read_text(errors="replace"):
                return name
        await asyncio.sleep(0.2)
    raise RuntimeError("no catalog replica became the poller")


async def polled_after(sc: Scenario, standby: str, since: float, timeout: float) -> bool:
    """Whether a provider's last successful poll, as the standby reports it, is later than
    `since` (monotonic): with the leader dead, only the standby can have polled."""
    address = dict(sc.suite.process(standby).spec.binds)["FREEWAY_CATALOG_ADDR"]
    wall_since = time.time() - (time.monotonic() - since)
    deadline = time.monotonic() + timeout
    async with channel(address, sc.suite.token) as ch:
        stub = catalog_pb2_grpc.CatalogServiceStub(ch)
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                reply = await stub.ListProviders(catalog_pb2.ListProvidersRequest(), timeout=5)
                if any(p.last_success.seconds > wall_since for p in reply.providers):
                    return True
            await asyncio.sleep(0.5)
    return False


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=("usage", "scale-out", "all"), default="all")
    parser.add_argument("--seconds", type=float, default=6.0, help="load time around each kill")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    results: list[Figures] = []
    tmp = Path(tempfile.mkdtemp(prefix="freeway-chaos-"))
    log: Log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.scenario in ("usage", "all"):
            probe = asyncio.run(run_usage(tmp / "usage", args.seconds, args.concurrency, log))
            results.append(probe.figures)
        if args.scenario in ("scale-out", "all"):
            probe = asyncio.run(
                run_scale_out(tmp / "scale", args.seconds, args.concurrency, redis_url, log)
            )
            results.append(probe.figures)
    finally:
        if args.keep:
            print(f"logs and data kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for result in results:
        print(result.table())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.machine(),
                "seconds": args.seconds,
                "concurrency": args.concurrency,
                "results": [
                    asdict(r) | {"added_p50_ms": r.added_p50_ms, "added_p99_ms": r.added_p99_ms}
                    for r in results
                ],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
