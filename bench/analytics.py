"""Analytics on real volumes, in PostgreSQL, in one run: queries over 10 million usage
events, and ingest with rollups on.

1. Load: `--query-events` events (10 M) spread over the last `--days` (30) are bulk-loaded
   into a throwaway schema with COPY (two connections at once), then rolled up by the
   store's own roll-up (usage_pending → rollups), as ingest would have.
2. Queries, over gRPC to the analytics service (its own process): a 30-day hourly
   Timeseries (the bar: p95 < 100 ms), then the same grouped by model and by key, Savings
   and Forecast over the month. The baseline, in the same run: that hourly series computed
   from the raw rows by one plain SQL query (exact percentiles), as it would be without
   rollups.
3. Ingest, into that same 10 M-row table, with the service's roll-up worker running:
   batches over Ingest streams with a bounded window of unacked batches, the clock stopped
   at the last ack (an ack means committed, rollup copy included). Cases: 1 and 4 streams,
   a replay (all duplicates), and in-process (no gRPC) with and without the rollup copy,
   the latter the baseline of what rollups cost. Then how long the worker takes to drain
   what is pending.

Every figure is a median over interleaved rounds (this machine is shared and noisy), with
CPU µs per event of the analytics process and of its PostgreSQL backends. A table is
printed and bench/results/analytics.json written. Loading takes minutes; `--keep` keeps the
loaded schema (bench_analytics_kept) for the next run with --keep.

    python -m bench.analytics [--query-events 10000000] [--days 30] [--ingest-events 300000]
                              [--batch 500] [--window 8] [--rounds 3] [--query-runs 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import random
import signal
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from freeway.analytics.v1 import analytics_pb2 as pb
from freeway.analytics.v1 import analytics_pb2_grpc
from freeway.common.v1 import common_pb2
from services.analytics import histogram
from services.analytics.config import AnalyticsSettings
from services.analytics.ingest import Batch, acknowledged
from services.analytics.schema import COLUMNS, PENDING, RAW_MODEL
from services.analytics.servicer import SERVICE_NAME
from services.analytics.store import PostgresUsageStore, UsageStore, open_usage_store
from services.analytics.usage import UsageBatch
from services.analytics.wire import usage_batch
from services.shared.channels import channel
from services.shared.ids import uuid7

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
APP_NAME = "freeway-bench-analytics"
TOKEN = "freeway-bench-analytics-service-token"  # loopback only, this run's own service
KEPT_SCHEMA = "bench_analytics_kept"
START_TIMEOUT_S = 60.0
LOAD_CHUNK = 50_000
QUERY_BAR_MS = 100.0
INGEST_BAR = 50_000
Stub = analytics_pb2_grpc.AnalyticsServiceStub

# The load's catalogue of traffic: (model, provider, USD per Mtok, share). None: unpriced.
MODELS = (
    ("groq/llama-3.1-8b-instant", "groq", 0.0, 30),
    ("groq/llama-3.3-70b-versatile", "groq", 0.0, 12),
    ("cerebras/llama3.1-8b", "cerebras", 0.0, 14),
    ("cerebras/qwen-3-32b", "cerebras", 0.0, 6),
    ("openrouter/meta-llama/llama-3.3-70b-instruct:free", "openrouter", 0.0, 10),
    ("openrouter/deepseek/deepseek-chat-v3:free", "openrouter", 0.0, 5),
    ("gemini/gemini-2.0-flash", "gemini", 0.0, 9),
    ("mistral/mistral-small-latest", "mistral", 0.0, 4),
    ("openai/gpt-4o-mini", "openai", 0.3, 5),
    ("openai/gpt-4o", "openai", 5.0, 2),
    ("together/meta-llama/Llama-3.3-70B-Instruct-Turbo", "together", 0.88, 2),
    ("mistral/mystery-large", "mistral", None, 1),
)
KEYS = tuple((f"key-{k:02d}", f"team-{k % 8}") for k in range(40))


# ---- Loading ----------------------------------------------------------------------------


def templates(count: int, seed: int = 11) -> list[tuple[Any, ...]]:
    """`count` distinct realistic rows (in COLUMNS order, without id and time), to be
    stamped with ids and times while loading: generating 10 M rows one by one in Python
    would cost more than loading them."""
    rng = random.Random(seed)
    weights = [m[3] for m in MODELS]
    rows = []
    for n in range(count):
        model, provider, price, _ = rng.choices(MODELS, weights)[0]
        key, team = KEYS[int(rng.paretovariate(1.2)) % len(KEYS)]
        status = rng.choices(("ok", "error", "cancelled"), (95, 4, 1))[0]
        prompt = int(rng.lognormvariate(6.0, 0.9))
        completion = int(rng.lognormvariate(4.8, 0.8)) if status == "ok" else 0
        cost = None if price is None else (prompt + completion) * price / 1e6
        latency = rng.lognormvariate(6.2, 0.7)
        stream = rng.random() < 0.6
        ttft = latency * rng.uniform(0.1, 0.5) if stream and status == "ok" else 0.0
        row = {
            "key_id": key, "team_id": team, "request_id": "", "requested_model": "auto",
            "served_model": model if status != "error" or n % 3 else "",
            "provider": provider if status != "error" or n % 3 else "",
            "prompt_tokens": prompt, "completion_tokens": completion,
            "cached_tokens": prompt // 5 if n % 4 == 0 else 0, "reasoning_tokens": 0,
            "cost_usd": cost, "baseline_cost_usd": (prompt * 0.15 + completion * 0.6) / 1e6,
            "latency_ms": latency, "ttft_ms": ttft, "attempts": 1 + (n % 23 == 0),
            "cache_hit": n % 50 == 0, "status": status, "complexity": rng.random(),
            "strategy": rng.choices(("free-first", "cost", "cascade"), (80, 10, 10))[0],
            "error": "upstream 503" if status == "error" else "", "stream": stream,
            "escalations": 1 if n % 40 == 0 else 0, "escalation_reason": "",
            "features": None, "capabilities": "tools" if n % 7 == 0 else "",
            "latency_bin": histogram.bin_of(latency),
            "ttft_bin": histogram.bin_of(ttft) if ttft > 0 else None,
        }  # fmt: skip
        rows.append(tuple(row[c] for c in COLUMNS[2:]))
    return rows


def load_chunks(total: int) -> list[range]:
    return [range(s, min(s + LOAD_CHUNK, total)) for s in range(0, total, LOAD_CHUNK)]


async def copy_chunk(
    conn: asyncpg.Connection,
    numbers: range,
    total: int,
    start: datetime,
    span: timedelta,
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Rows numbered `numbers` of `total`, evenly spread over [start, start + span)."""
    step = span / total
    records = [
        (f"b{n:09d}", start + step * n, rows[n % len(rows)][0], rows[n % len(rows)][1],
         f"r{n:09d}", *rows[n % len(rows)][3:])
        for n in numbers
    ]  # fmt: skip
    await conn.copy_records_to_table("usage_events", records=records, columns=COLUMNS)


async def load(url: str, total: int, days: int, log: Callable[[str], None]) -> dict[str, float]:
    """COPY `total` rows over the last `days`, then roll them up as the store does."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start, span = end - timedelta(days=days), timedelta(days=days)
    rows = templates(20_000)
    chunks = load_chunks(total)
    began = time.perf_counter()
    queue: asyncio.Queue[range] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker() -> None:
        conn = await asyncpg.connect(url)
        try:
            while not queue.empty():
                await copy_chunk(conn, queue.get_nowait(), total, start, span, rows)
                done = len(chunks) - queue.qsize()
                if done % 20 == 0:
                    log(f"  copied {done * LOAD_CHUNK:,} rows, {time.perf_counter() - began:.0f} s")
        finally:
            await conn.close()

    await asyncio.gather(worker(), worker())
    copied = time.perf_counter() - began
    store = await open_usage_store(url, Path("unused"), max_batch_events=1000)
    try:
        began = time.perf_counter()
        await store.db.execute(
            f"INSERT INTO usage_pending ({', '.join(PENDING)}) SELECT"
            f" {', '.join(RAW_MODEL if c == 'model' else c for c in PENDING)} FROM usage_events"
        )
        moved = 0
        while step_moved := await store.roll_up(500_000):
            moved += step_moved
            log(f"  rolled up {moved:,} events, {time.perf_counter() - began:.0f} s")
        rolled = time.perf_counter() - began
        # The steady state of the default retention (minutes older than 14 days pruned),
        # so that the service starts with nothing to prune.
        store.retention = AnalyticsSettings().retention
        await store.prune()
        await store.db.execute("VACUUM ANALYZE")
    finally:
        await store.close()
    return {"copy_s": round(copied, 1), "roll_up_s": round(rolled, 1),
            "copy_rows_per_s": round(total / copied)}  # fmt: skip


# ---- Service ----------------------------------------------------------------------------


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
        FREEWAY_SERVICE_TOKEN=TOKEN,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.analytics", env=env
    )
    try:
        async with channel(address, TOKEN) as ch:
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


def stamp(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


# ---- Queries ----------------------------------------------------------------------------


@dataclass
class Latency:
    name: str
    runs: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    detail: str = ""


def summarise(name: str, samples: list[float], detail: str = "") -> Latency:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Latency(name, len(ordered), round(statistics.median(ordered), 2), round(p95, 2),
                   round(ordered[-1], 2), detail)  # fmt: skip


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> tuple[list[float], Any]:
    samples, last = [], None
    for _ in range(runs):
        began = time.perf_counter()
        last = await call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples, last


async def query_cases(stub: Stub, days: int, runs: int) -> list[Latency]:
    until = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    since = until - timedelta(days=days)
    hourly = pb.TimeseriesRequest(
        since=stamp(since), until=stamp(until), granularity=pb.GRANULARITY_HOUR
    )
    by_model = _grouped(hourly, pb.USAGE_DIMENSION_MODEL)
    by_key = _grouped(hourly, pb.USAGE_DIMENSION_KEY)
    cases = [
        ("timeseries 30 d hourly", hourly, stub.Timeseries, runs),
        ("  grouped by model", by_model, stub.Timeseries, runs // 2),
        ("  grouped by key", by_key, stub.Timeseries, runs // 2),
        ("savings 30 d vs gpt-4o",
         pb.SavingsRequest(since=stamp(since), until=stamp(until),
                           baseline=pb.BaselinePrices(input_per_mtok=2.5, output_per_mtok=10),
                           group_by=[pb.USAGE_DIMENSION_PROVIDER]),
         stub.Savings, runs // 2),
        ("forecast month end", pb.ForecastRequest(), stub.Forecast, runs // 2),
    ]  # fmt: skip
    out = []
    for name, request, rpc, count in cases:
        call: Callable[[], Awaitable[Any]] = functools.partial(rpc, request)
        await call()  # warm: plans cached, pages in memory
        samples, reply = await timed(call, count)
        out.append(summarise(name, samples, _describe(reply)))
    return out


def _grouped(request: pb.TimeseriesRequest, dim: int) -> pb.TimeseriesRequest:
    grouped = pb.TimeseriesRequest()
    grouped.CopyFrom(request)
    grouped.group_by.append(dim)  # type: ignore[arg-type]
    return grouped


def _describe(reply: Any) -> str:
    if isinstance(reply, pb.TimeseriesResponse):
        points = sum(len(s.points) for s in reply.series)
        requests = sum(s.total.requests for s in reply.series)
        return f"{len(reply.series)} series, {points} points, {requests:,} requests, {reply.source}"
    if isinstance(reply, pb.SavingsResponse):
        total = reply.total
        return f"saving ${total.saving_usd:,.2f}, {total.unpriced_requests:,} unpriced apart"
    if isinstance(reply, pb.ForecastResponse):
        return (
            f"cost month end ${reply.cost_usd.month_end:,.2f}, {reply.days_observed} days observed"
        )
    return ""


RAW_HOURLY = """
SELECT date_trunc('hour', time, 'UTC') AS hour, count(*) AS requests,
       sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,
       sum(cost_usd) AS cost_usd, count(*) FILTER (WHERE status = 'error') AS errors,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS latency
FROM usage_events WHERE time >= $1 AND time < $2 GROUP BY 1 ORDER BY 1
"""


async def raw_baseline(url: str, days: int, runs: int) -> Latency:
    """The same hourly series without rollups: one SQL query over the raw rows."""
    until = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    conn = await asyncpg.connect(url)
    try:
        samples, rows = await timed(
            lambda: conn.fetch(RAW_HOURLY, until - timedelta(days=days), until), runs
        )
    finally:
        await conn.close()
    return summarise("baseline: same series from raw rows", samples, f"{len(rows)} points")


# ---- Ingest -----------------------------------------------------------------------------


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


def event_id(random_ids: bool) -> str:
    """A time-ordered UUIDv7, as the router makes them; or, `random_ids`, a UUID4, as a
    client of Ingest of its own might send, which lands anywhere in the id index."""
    if random_ids:
        return str(uuid.UUID(int=random.getrandbits(128), version=4))
    return uuid7()


def usage(n: int, run: str, at: datetime, random_ids: bool = False) -> pb.UsageEvent:
    """A realistic event as the router sends it: a UUIDv7 id, a handful of models."""
    model, provider, price, _ = MODELS[n % 9]
    prompt, completion = 200 + n % 900, 40 + n % 300
    message = pb.UsageEvent(
        event_id=event_id(random_ids),
        key_id=KEYS[n % 17][0],
        team_id=KEYS[n % 17][1],
        request_id=f"{run}-{n:08d}",
        requested_model="auto",
        served_model=model,
        provider=provider,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=None if price is None else (prompt + completion) * price / 1e6,
        baseline_cost_usd=0.0004 + (n % 50) * 1e-5,
        latency_ms=180.0 + n % 400,
        ttft_ms=60.0 + n % 90,
        attempts=1 + (n % 29 == 0),
        status=pb.USAGE_STATUS_ERROR if n % 41 == 0 else pb.USAGE_STATUS_OK,
        complexity=(n % 100) / 100,
        strategy=common_pb2.STRATEGY_FREE_FIRST,
        stream=n % 2 == 0,
    )
    message.time.FromDatetime(at + timedelta(milliseconds=n))
    return message


def batches(run: str, events: int, size: int, random_ids: bool = False) -> list[pb.IngestRequest]:
    at = datetime.now(UTC) - timedelta(minutes=10)
    return [
        pb.IngestRequest(
            sequence=seq,
            events=[usage(n, run, at, random_ids) for n in range(start, min(start + size, events))],
        )
        for seq, start in enumerate(range(0, events, size), start=1)
    ]


async def stream(stub: Stub, requests: Sequence[pb.IngestRequest], window: int) -> tuple[int, int]:
    """Send `requests` on one Ingest stream with at most `window` unacked; (stored, dups)."""
    credit = asyncio.Semaphore(window)

    async def send() -> AsyncIterator[pb.IngestRequest]:
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
    stub: Stub, requests: Sequence[pb.IngestRequest], count: int, window: int
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


class WithoutRollups(PostgresUsageStore):
    """The baseline: the same ingest of new events without their copy into usage_pending
    (bench only; the events of these cases are all new)."""

    async def _insert(self, batch: UsageBatch) -> list[str]:
        rows = sorted(zip(*self.db_columns(batch), strict=True), key=lambda r: r[0])
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("usage_events", records=rows, columns=COLUMNS)
        return list(batch["event_id"])


async def in_process(
    store: UsageStore, requests: Sequence[pb.IngestRequest], depth: int
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


@dataclass
class IngestBench:
    admin: asyncpg.Connection
    stub: Stub
    service_pid: int
    with_rollups: UsageStore
    without_rollups: UsageStore
    batch: int
    window: int
    new_events: int = 0
    replays_unchanged: list[bool] = field(default_factory=list)

    def batches(self, run: str, events: int, random_ids: bool = False) -> list[pb.IngestRequest]:
        self.new_events += events
        return batches(run, events, self.batch, random_ids)

    async def round(self, tag: str, events: int) -> list[Case]:
        """One of each case, on fresh event ids."""
        one, four, d4, base = (self.batches(f"{tag}{c}", events) for c in "abcd")
        randoms = self.batches(f"{tag}e", events, random_ids=True)
        pid, here, admin, window, stub = (
            self.service_pid, os.getpid(), self.admin, self.window, self.stub
        )  # fmt: skip
        cases = [
            await measure("ingest, 1 stream", events,
                          lambda: streams(stub, one, 1, window), pid, admin),
            await measure("ingest, 4 streams", events,
                          lambda: streams(stub, four, 4, window), pid, admin),
            await measure("  random (UUID4) ids", events,
                          lambda: streams(stub, randoms, 4, window), pid, admin),
        ]  # fmt: skip
        before = await self.totals()
        cases.append(
            await measure("replay (all dups)", events,
                          lambda: streams(stub, one, 1, window), pid, admin)
        )  # fmt: skip
        self.replays_unchanged.append(await self.totals() == before)
        # In-process cases do the analytics work here, so their CPU is charged to here.
        cases += [
            await measure("in-process, rollups", events,
                          lambda: in_process(self.with_rollups, d4, 4), here, admin),
            await measure("in-process, no rollups", events,
                          lambda: in_process(self.without_rollups, base, 4), here, admin),
        ]  # fmt: skip
        return cases

    async def totals(self) -> tuple[int, int]:
        """Requests and prompt tokens, raw rows and rollups (pending included)."""
        reply = await self.stub.Summary(pb.SummaryRequest())
        return reply.total.requests, reply.total.prompt_tokens


def medians(cases: Sequence[Case]) -> list[dict[str, Any]]:
    """Per case name (in first-seen order): the median round by events/s."""
    names = list(dict.fromkeys(c.name for c in cases))
    out = []
    for name in names:
        runs = sorted((c for c in cases if c.name == name), key=lambda c: c.events_per_s)
        middle = runs[len(runs) // 2]
        out.append(asdict(middle) | {
            "events_per_s": round(middle.events_per_s),
            "events_per_s_rounds": [round(c.events_per_s) for c in runs],
        })  # fmt: skip
    return out


async def drain(admin: asyncpg.Connection, schema: str, timeout_s: float = 120) -> float:
    """Seconds until the service's roll-up worker has emptied usage_pending."""
    began = time.perf_counter()
    while await admin.fetchval(f'SELECT count(*) FROM "{schema}".usage_pending'):
        if time.perf_counter() - began > timeout_s:
            raise RuntimeError("the roll-up worker did not catch up")
        await asyncio.sleep(0.1)
    return time.perf_counter() - began


# ---- Run --------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    log = print
    admin = await asyncpg.connect(DATABASE_URL)
    schema = KEPT_SCHEMA if args.keep else f"bench_analytics_{uuid.uuid4().hex[:8]}"
    url = schema_url(schema)
    results: dict[str, Any] = {"query_events": args.query_events, "days": args.days}
    async with contextlib.AsyncExitStack() as cleanup:  # undone in reverse order
        cleanup.push_async_callback(admin.close)
        reuse = args.keep and await _loaded(admin, schema, args.query_events)
        if not reuse:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await admin.execute(f'CREATE SCHEMA "{schema}"')
            await (await open_usage_store(url, Path("unused"), max_batch_events=1)).close()
        if not args.keep:
            cleanup.push_async_callback(admin.execute, f'DROP SCHEMA "{schema}" CASCADE')
        if reuse:
            log(f"reusing the {args.query_events:,} events kept in schema {schema}")
            results["load"] = {"reused": True}
        else:
            log(f"loading {args.query_events:,} events over {args.days} days (COPY) ...")
            results["load"] = await load(url, args.query_events, args.days, log)
            await admin.execute(f"COMMENT ON SCHEMA \"{schema}\" IS '{args.query_events} events'")
        address = f"127.0.0.1:{free_port()}"
        service = await start_service(url, address, args.batch)
        cleanup.push_async_callback(stop_service, service)
        async with channel(address, TOKEN) as ch:
            stub = analytics_pb2_grpc.AnalyticsServiceStub(ch)
            log("queries ...")
            results["queries"] = [
                asdict(q) for q in await query_cases(stub, args.days, args.query_runs)
            ]
            results["baseline"] = asdict(await raw_baseline(url, args.days, args.baseline_runs))
            log("ingest ...")
            results["ingest"] = await ingest(args, admin, stub, service.pid, url, schema)
        results["postgresql"] = {
            name: await admin.fetchval(f"SHOW {name}")
            for name in ("fsync", "synchronous_commit", "shared_buffers", "server_version")
        }
        results["rows_in_postgresql"] = await admin.fetchval(
            f'SELECT count(*) FROM "{schema}".usage_events'
        )
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_average": os.getloadavg()}  # fmt: skip
    return results


async def _loaded(admin: asyncpg.Connection, schema: str, events: int) -> bool:
    comment = await admin.fetchval(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
        schema,
    )
    return bool(comment == f"{events} events")


async def ingest(
    args: argparse.Namespace,
    admin: asyncpg.Connection,
    stub: Stub,
    pid: int,
    url: str,
    schema: str,
) -> dict[str, Any]:
    with_rollups = await open_usage_store(url, Path("unused"), max_batch_events=args.batch)
    assert isinstance(with_rollups, PostgresUsageStore)
    without = WithoutRollups(with_rollups.db, args.batch)  # type: ignore[arg-type]
    try:
        bench = IngestBench(admin, stub, pid, with_rollups, without, args.batch, args.window)
        await streams(stub, bench.batches("warm", 4 * args.batch), 1, args.window)
        per_round = args.ingest_events // args.rounds
        rows_before = await admin.fetchval(f'SELECT count(*) FROM "{schema}".usage_events')
        cases = [c for r in range(args.rounds) for c in await bench.round(f"r{r}", per_round)]
        drained = await drain(admin, schema)
        rows_after = await admin.fetchval(f'SELECT count(*) FROM "{schema}".usage_events')
    finally:
        await with_rollups.close()
    return {
        "events_per_case": per_round * args.rounds,
        "rounds": args.rounds,
        "batch": args.batch,
        "window": args.window,
        "cases": medians(cases),
        "roll_up_drain_s_after": round(drained, 2),
        "rows_added": rows_after - rows_before,
        "rows_expected": bench.new_events - 4 * args.batch,
        "replay_left_totals_unchanged": all(bench.replays_unchanged),
    }


def table(results: dict[str, Any]) -> str:
    out = [f"Queries over {results['query_events']:,} events ({results['days']} days), gRPC:"]
    out.append(f"{'':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  runs")
    for q in [*results["queries"], results["baseline"]]:
        out.append(f"{q['name']:<34} {q['p50_ms']:>8.1f} {q['p95_ms']:>8.1f} {q['max_ms']:>8.1f}"
                   f"  {q['runs']:>4}  {q['detail']}")  # fmt: skip
    hourly, base = results["queries"][0], results["baseline"]
    out.append(f"rollups answer the hourly series {base['p50_ms'] / hourly['p50_ms']:,.0f}x faster"
               f" than the raw rows (p50); bar p95 < {QUERY_BAR_MS:.0f} ms:"
               f" {'met' if hourly['p95_ms'] < QUERY_BAR_MS else 'NOT met'}")  # fmt: skip
    load = results["load"]
    if not load.get("reused"):
        out.append(f"load: COPY {load['copy_s']} s ({load['copy_rows_per_s']:,} rows/s),"
                   f" roll-up {load['roll_up_s']} s")  # fmt: skip
    ing = results["ingest"]
    out.append("")
    out.append("Ingest into that table, rollups on (the service's worker running):")
    out.append("case                       events/s (median; rounds)        stored   dups"
               "  analytics µs/ev  pg µs/ev")  # fmt: skip
    for c in ing["cases"]:
        spread = ", ".join(str(v) for v in c["events_per_s_rounds"])
        out.append(f"{c['name']:<26} {c['events_per_s']:>8}  ({spread:<21})  {c['stored']:>6}"
                   f"  {c['duplicates']:>5}  {c['analytics_cpu_us_per_event']:>15.1f}"
                   f"  {c['postgres_cpu_us_per_event']:>8.1f}")  # fmt: skip
    by = {c["name"]: c for c in ing["cases"]}
    cost = by["in-process, rollups"]["events_per_s"] / by["in-process, no rollups"]["events_per_s"]
    best = max(by["ingest, 1 stream"]["events_per_s"], by["ingest, 4 streams"]["events_per_s"])
    pg = results["postgresql"]
    randoms = by["  random (UUID4) ids"]["events_per_s"]
    out.append(
        f"rollups keep {cost:.0%} of the ingest rate without them (in-process, same run);"
        f" random UUID4 ids {randoms / by['ingest, 4 streams']['events_per_s']:.2f}x the"
        f" router's UUIDv7 ones; best gRPC ingest (router's ids) {best:,} events/s,"
        f" bar ≥ {INGEST_BAR:,}:"
        f" {'met' if best >= INGEST_BAR else 'NOT met'}; the worker drained the rest"
        f" {ing['roll_up_drain_s_after']} s after the last ack"
    )
    out.append(
        f"{ing['events_per_case']} events per case in {ing['rounds']} rounds, batches of"
        f" {ing['batch']}, {ing['window']} unacked per stream; rows added {ing['rows_added']}"
        f" (expected {ing['rows_expected']}); replays left totals unchanged:"
        f" {ing['replay_left_totals_unchanged']}; PostgreSQL {pg['server_version']}"
        f" fsync={pg['fsync']} synchronous_commit={pg['synchronous_commit']}"
        f" shared_buffers={pg['shared_buffers']}; load average"
        f" {', '.join(f'{x:.1f}' for x in results['machine']['load_average'])}"
    )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--query-events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--query-runs", type=int, default=40)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument(
        "--ingest-events", type=int, default=300_000, help="per case, all rounds (100 k a round)"
    )
    parser.add_argument("--batch", type=int, default=500, help="events per Ingest batch")
    parser.add_argument("--window", type=int, default=8, help="unacked batches per stream")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case")
    parser.add_argument("--keep", action="store_true", help=f"keep the loaded schema {KEPT_SCHEMA}")
    args = parser.parse_args()
    # uvloop, like the service itself (services.shared.server.run), so in-process is comparable.
    results: dict[str, Any] = uvloop.run(run(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analytics.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"wrote {RESULTS / 'analytics.json'}")
    ing = results["ingest"]
    if ing["rows_added"] != ing["rows_expected"]:
        sys.exit("rows in PostgreSQL differ from the events acknowledged")


if __name__ == "__main__":
    main()
