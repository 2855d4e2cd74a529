"""Analytics ingest: usage events per second durably stored in PostgreSQL, in one run.

The analytics service runs as its own process (`python -m services.analytics`) against a
throwaway PostgreSQL schema; this process is the client. Each case sends pre-built
batches over the Ingest stream, keeping a bounded window of unacknowledged batches in
flight, and stops the clock at the last ack (an ack means the batch is committed). Cases:

- ingest, 1 stream and 4 streams: new events (COPY → temp table → INSERT … ON CONFLICT);
- replay: the 1-stream events again (every one a duplicate; totals must not move);
- in-process, depth 1 and depth 4: the same translation, pipeline and store called in
  this process without gRPC, storing one batch at a time or four at once: the first
  shows what pipelining a stream buys, the second what the gRPC hop costs.

Cases are interleaved over several rounds and reported as medians, since this machine is
shared and noisy. Afterwards the rows are counted with a direct query: the figure only
counts events that are really in PostgreSQL. Reports events/s and CPU µs per event of the
process doing the analytics work and of its PostgreSQL backends, as a table and
bench/results/analytics.json.

    python -m bench.analytics [--events 50000] [--batch 500] [--window 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc

from freeway.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from freeway.common.v1 import common_pb2
from services.analytics.ingest import Batch, acknowledged
from services.analytics.servicer import SERVICE_NAME
from services.analytics.store import UsageStore, open_usage_store
from services.analytics.wire import usage_batch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
APP_NAME = "freeway-bench-analytics"
START_TIMEOUT_S = 30.0
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@dataclass
class Case:
    name: str
    events: int
    seconds: float
    stored: int
    duplicates: int
    analytics_cpu_us_per_event: float
    postgres_cpu_us_per_event: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


def usage(n: int, run: str) -> analytics_pb2.UsageEvent:
    """A realistic event: ids are UUID-sized, one of a handful of free models."""
    message = analytics_pb2.UsageEvent(
        event_id=f"{run}-{n:08d}-{uuid.UUID(int=n).hex[:20]}",
        key_id=f"key-{n % 17}",
        request_id=uuid.UUID(int=n + 1).hex,
        requested_model="auto",
        served_model=("groq/llama-3.1-8b-instant", "cerebras/llama3.1-8b", "mistral/small")[n % 3],
        provider=("groq", "cerebras", "mistral")[n % 3],
        prompt_tokens=200 + n % 900,
        completion_tokens=40 + n % 300,
        cost_usd=0.0,
        baseline_cost_usd=0.0004 + (n % 50) * 1e-5,
        latency_ms=180.0 + n % 400,
        ttft_ms=60.0 + n % 90,
        attempts=1 + (n % 29 == 0),
        status=analytics_pb2.USAGE_STATUS_ERROR if n % 41 == 0 else analytics_pb2.USAGE_STATUS_OK,
        complexity=(n % 100) / 100,
        strategy=common_pb2.STRATEGY_FREE_FIRST,
        stream=n % 2 == 0,
    )
    message.time.FromDatetime(T0 + timedelta(milliseconds=n))
    return message


def batches(run: str, events: int, size: int) -> list[analytics_pb2.IngestRequest]:
    return [
        analytics_pb2.IngestRequest(
            sequence=seq, events=[usage(n, run) for n in range(start, min(start + size, events))]
        )
        for seq, start in enumerate(range(0, events, size), start=1)
    ]


async def stream(
    stub: analytics_pb2_grpc.AnalyticsServiceStub,
    requests: Sequence[analytics_pb2.IngestRequest],
    window: int,
) -> tuple[int, int]:
    """Send `requests` on one Ingest stream with at most `window` unacked; (stored, dups)."""
    credit = asyncio.Semaphore(window)

    async def send() -> AsyncIterator[analytics_pb2.IngestRequest]:
        for request in requests:
            await credit.acquire()
            yield request

    stored = duplicates = 0
    async for ack in stub.Ingest(send()):
        stored += ack.stored
        duplicates += ack.duplicates
        credit.release()
    return stored, duplicates


async def streams(
    stub: analytics_pb2_grpc.AnalyticsServiceStub,
    requests: Sequence[analytics_pb2.IngestRequest],
    count: int,
    window: int,
) -> tuple[int, int]:
    shares = [requests[i::count] for i in range(count)]
    results = await asyncio.gather(*(stream(stub, share, window) for share in shares))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def cpu_ticks(pids: Sequence[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    return out


async def backend_pids(admin: asyncpg.Connection) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1", APP_NAME
    )
    return [r["pid"] for r in rows]


async def measure(
    name: str,
    events: int,
    work: Callable[[], Awaitable[tuple[int, int]]],
    analytics_pid: int,
    admin: asyncpg.Connection,
) -> Case:
    """Time `work` and charge the CPU it caused to the analytics process and PostgreSQL."""
    before_pg = cpu_ticks(await backend_pids(admin))
    before_an = cpu_ticks([analytics_pid])
    started = time.perf_counter()
    stored, duplicates = await work()
    seconds = time.perf_counter() - started
    after_pg = cpu_ticks(await backend_pids(admin))
    after_an = cpu_ticks([analytics_pid])
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    pg = sum(t - before_pg.get(pid, 0) for pid, t in after_pg.items())
    an = sum(t - before_an.get(pid, 0) for pid, t in after_an.items())
    return Case(
        name, events, seconds, stored, duplicates, an * tick_us / events, pg * tick_us / events
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def schema_url(schema: str) -> str:
    sep = "&" if "?" in DATABASE_URL else "?"
    return f"{DATABASE_URL}{sep}options=-csearch_path%3D{schema}&application_name={APP_NAME}"


async def start_service(url: str, address: str, batch: int) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREEWAY_")}
    env.update(
        DATABASE_URL=url,
        FREEWAY_ANALYTICS_ADDR=address,
        FREEWAY_ANALYTICS_MAX_BATCH_EVENTS=str(max(batch, 1000)),
        FREEWAY_LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.analytics", env=env
    )
    try:
        async with grpc.aio.insecure_channel(address) as ch:
            await asyncio.wait_for(ch.channel_ready(), START_TIMEOUT_S)
            health = health_pb2_grpc.HealthStub(ch)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"analytics is not serving: {reply}")
    except BaseException:
        await stop_service(process)
        raise
    return process


async def stop_service(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), START_TIMEOUT_S)


async def run(events: int, batch: int, window: int, rounds: int) -> dict[str, Any]:
    schema = f"bench_analytics_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(DATABASE_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    address = f"127.0.0.1:{free_port()}"
    async with contextlib.AsyncExitStack() as cleanup:  # undone in reverse order
        cleanup.push_async_callback(admin.close)
        cleanup.push_async_callback(admin.execute, f'DROP SCHEMA "{schema}" CASCADE')
        service = await start_service(schema_url(schema), address, batch)
        cleanup.push_async_callback(stop_service, service)
        store = await open_usage_store(schema_url(schema), Path("unused"), max_batch_events=batch)
        cleanup.push_async_callback(store.close)
        bench = Bench(admin, address, service.pid, store, batch, window)
        await bench.warm_up()
        per_round = events // rounds
        results = [case for r in range(rounds) for case in await bench.round(f"r{r}", per_round)]
        rows = await admin.fetchval(f'SELECT count(*) FROM "{schema}".usage_events')
        settings = {
            name: await admin.fetchval(f"SHOW {name}") for name in ("fsync", "synchronous_commit")
        }
    return {
        "events_per_case": per_round * rounds,
        "rounds": rounds,
        "batch": batch,
        "window": window,
        "cases": medians(results),
        "rows_in_postgresql": rows,
        "rows_expected": bench.new_events,
        "replay_left_totals_unchanged": all(bench.replays_unchanged),
        "postgresql": settings,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


@dataclass
class Bench:
    admin: asyncpg.Connection
    address: str
    service_pid: int
    store: UsageStore
    batch: int
    window: int
    new_events: int = 0
    replays_unchanged: list[bool] = field(default_factory=list)

    async def warm_up(self) -> None:
        async with grpc.aio.insecure_channel(self.address) as ch:
            stub = analytics_pb2_grpc.AnalyticsServiceStub(ch)
            await streams(stub, self.batches("warm", 4 * self.batch), 1, self.window)

    def batches(self, run: str, events: int) -> list[analytics_pb2.IngestRequest]:
        self.new_events += events
        return batches(run, events, self.batch)

    async def round(self, tag: str, events: int) -> list[Case]:
        """One of each case, on fresh event ids."""
        one, four, d1, d4 = (self.batches(f"{tag}{c}", events) for c in "abcd")
        pid, here, admin, window = self.service_pid, os.getpid(), self.admin, self.window
        async with grpc.aio.insecure_channel(self.address) as ch:
            stub = analytics_pb2_grpc.AnalyticsServiceStub(ch)
            cases = [
                await measure("ingest, 1 stream", events,
                              lambda: streams(stub, one, 1, window), pid, admin),
                await measure("ingest, 4 streams", events,
                              lambda: streams(stub, four, 4, window), pid, admin),
            ]  # fmt: skip
            totals = await stub.Summary(analytics_pb2.SummaryRequest())
            cases.append(
                await measure("replay (all dups)", events,
                              lambda: streams(stub, one, 1, window), pid, admin)
            )  # fmt: skip
            self.replays_unchanged.append(
                await stub.Summary(analytics_pb2.SummaryRequest()) == totals
            )
        # In-process cases do the analytics work here, so their CPU is charged to here.
        cases += [
            await measure("in-process, depth 1", events,
                          lambda: in_process(self.store, d1, 1), here, admin),
            await measure("in-process, depth 4", events,
                          lambda: in_process(self.store, d4, 4), here, admin),
        ]  # fmt: skip
        return cases


async def in_process(
    store: UsageStore, requests: Sequence[analytics_pb2.IngestRequest], depth: int
) -> tuple[int, int]:
    """The servicer's work without gRPC: translate, then the same Ingest pipeline."""

    async def translated() -> AsyncIterator[Batch]:
        for request in requests:
            yield usage_batch(request)

    stored = duplicates = 0
    async for _, result in acknowledged(translated(), store, depth):
        stored += result.stored
        duplicates += result.duplicates
    return stored, duplicates


def medians(cases: Sequence[Case]) -> list[dict[str, Any]]:
    """Per case name (in first-seen order): the median round by events/s."""
    names = list(dict.fromkeys(c.name for c in cases))
    out = []
    for name in names:
        runs = sorted((c for c in cases if c.name == name), key=lambda c: c.events_per_s)
        middle = runs[len(runs) // 2]
        out.append(
            asdict(middle)
            | {
                "events_per_s": round(middle.events_per_s),
                "events_per_s_rounds": [round(c.events_per_s) for c in runs],
            }
        )
    return out


def table(results: dict[str, Any]) -> str:
    rows = [
        "case                  events/s (median; rounds)       stored   dups"
        "  analytics µs/ev  pg µs/ev"
    ]
    for c in results["cases"]:
        spread = ", ".join(str(v) for v in c["events_per_s_rounds"])
        rows.append(
            f"{c['name']:<21} {c['events_per_s']:>8}  ({spread:<20})"
            f"  {c['stored']:>6}  {c['duplicates']:>5}  {c['analytics_cpu_us_per_event']:>15.1f}"
            f"  {c['postgres_cpu_us_per_event']:>8.1f}"
        )
    pg = results["postgresql"]
    rows.append(
        f"{results['events_per_case']} events per case in {results['rounds']} rounds, batches of"
        f" {results['batch']}, {results['window']} unacked per stream; PostgreSQL fsync="
        f"{pg['fsync']} synchronous_commit={pg['synchronous_commit']}; rows in PostgreSQL"
        f" {results['rows_in_postgresql']} (expected {results['rows_expected']});"
        f" replays left totals unchanged: {results['replay_left_totals_unchanged']}"
    )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="events per case, all rounds")
    parser.add_argument("--batch", type=int, default=500, help="events per Ingest batch")
    parser.add_argument("--window", type=int, default=8, help="unacked batches per stream")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case")
    args = parser.parse_args()
    # uvloop, like the service itself (services.shared.server.run), so in-process is comparable.
    results: dict[str, Any] = uvloop.run(run(args.events, args.batch, args.window, args.rounds))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analytics.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"wrote {RESULTS / 'analytics.json'}")
    if results["rows_in_postgresql"] != results["rows_expected"]:
        sys.exit("rows in PostgreSQL differ from the events acknowledged")


if __name__ == "__main__":
    main()
