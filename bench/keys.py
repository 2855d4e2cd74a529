"""What authentication, limits and budgets cost per request, embedded and in Redis.

Two measurements in one run (the machine is shared and noisy: figures are medians over
interleaved rounds, and ratios against a baseline of the same run):

1. checks — in this process, µs per request of what the edge does for a caller: the key
   lookup and role check alone; then with every limit and budget (key: RPM, RPD, TPM,
   concurrency, a daily budget; its team: RPM and a monthly budget — 7 counters and a
   gauge) admitted and settled in the in-process ledger, then in Redis (one script call
   each way, a loopback round trip): CPU µs of this process, and wall µs.
2. edge — the whole edge over HTTP (its own process, against a canned RouterService in
   another), driven by this process: requests/s and the edge's CPU µs per request, for the
   baseline (any token accepted, no hashing, no limits), the admin key (lookup only), and
   a key of the store under every limit and budget, in process and in Redis.

    python -m bench.keys [--requests 2000] [--rounds 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import uvloop

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2, router_pb2_grpc
from services.router.exchange import ExchangeServicer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "keys.json"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN_KEY = "bench-admin-key"
HUGE = 10**9
EDGE_VARIANTS = ("baseline", "admin key", "key+limits in process", "key+limits in Redis")
BODY = {"model": "auto", "messages": [{"role": "user", "content": "Say hello."}]}
CHECK_CALLS = 2000

REPLY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "bench/model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    }
)


def limits_body() -> dict[str, Any]:
    return {
        "team": "bench",
        "limits": {"rpm": HUGE, "rpd": HUGE, "tpm": HUGE, "concurrent": 10_000},
        "budgets": {"daily_usd": 1e6, "reserve_usd": 0.000001},
    }


TEAM_BODY = {"limits": {"rpm": HUGE}, "budgets": {"monthly_usd": 1e6}}


# ---------------------------------------------------------------- 1. the checks, in process


async def checks(redis_url: str, rounds: int) -> dict[str, dict[str, float]]:
    from services.edge import roles
    from services.edge.accounts import Limits, Team
    from services.edge.admin import new_key, team_from
    from services.edge.admission import Admission
    from services.edge.auth import Authenticator, Keyring
    from services.edge.config import EdgeSettings
    from services.shared.ratelimit import Ledger, MemoryLedger, RedisLedger

    secret, key = new_key(limits_body(), time.time())
    team: Team = team_from("bench", TEAM_BODY, None)
    keyring = Keyring()
    keyring.load([key], [team], Limits())
    auth = Authenticator(keyring)
    header = f"Bearer {secret}"
    settings = EdgeSettings()

    async def lookup_only() -> None:
        caller = await auth.identify(header)
        roles.require(caller.role, "POST", "/v1/chat/completions")

    def admitting(ledger: Ledger) -> Callable[[], Any]:
        admission = Admission(ledger, settings)
        outcome = router_pb2.Outcome(usage=common_pb2.Usage(total_tokens=11), cost_usd=0.00001)

        async def full() -> None:
            caller = await auth.identify(header)
            roles.require(caller.role, "POST", "/v1/chat/completions")
            ticket = await admission.admit(caller)
            assert ticket is not None
            ticket.saw(outcome)
            await admission.settle(ticket)

        return full

    redis = RedisLedger.from_url(redis_url, prefix=f"bench-keys-{uuid.uuid4().hex[:8]}:")
    variants = {
        "lookup + role": lookup_only,
        "+ limits and budgets, in process": admitting(MemoryLedger()),
        "+ limits and budgets, Redis": admitting(redis),
    }
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(rounds):
            for name, call in variants.items():
                for _ in range(100):  # warm up
                    await call()
                started, used = time.perf_counter(), time.process_time()
                for _ in range(CHECK_CALLS):
                    await call()
                wall[name].append((time.perf_counter() - started) / CHECK_CALLS * 1e6)
                cpu[name].append((time.process_time() - used) / CHECK_CALLS * 1e6)
    finally:
        await redis.close()
    return {
        name: {"cpu_us": statistics.median(cpu[name]), "wall_us": statistics.median(wall[name])}
        for name in variants
    }


# ---------------------------------------------------------------- 2. the edge, over HTTP


class CannedRouter(ExchangeServicer, router_pb2_grpc.RouterServiceServicer):
    """Complete only: the edge's chat path without a router behind it."""

    async def Route(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the bench")

    async def CompleteStream(
        self, request: Any, context: Any
    ) -> AsyncIterator[router_pb2.CompletionChunk]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the bench")
        yield router_pb2.CompletionChunk()

    async def Complete(self, request: Any, context: Any) -> router_pb2.CompletionResponse:
        outcome = router_pb2.Outcome(
            id="chatcmpl-bench",
            model="bench/model",
            provider="bench",
            attempts=1,
            usage=common_pb2.Usage(prompt_tokens=9, completion_tokens=2, total_tokens=11),
            cost_usd=0.00001,
        )
        return router_pb2.CompletionResponse(body=REPLY, outcome=outcome)

    async def ProviderHealth(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the bench")


def router_child(conn: Connection) -> None:
    async def main() -> None:
        server = grpc.aio.server()
        router_pb2_grpc.add_RouterServiceServicer_to_server(CannedRouter(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        conn.send(port)
        await server.wait_for_termination()

    uvloop.run(main())


def edge_child(variant: str, router_port: int, data_dir: str, conn: Connection) -> None:
    from services.edge.admin import new_key, team_from
    from services.edge.app import bound_port, create_app, serve
    from services.edge.auth import Caller, Keyring
    from services.edge.config import EdgeSettings
    from services.edge.keystore import SQLITE_FILE, KeyStore
    from services.shared.db import open_database
    from services.shared.settings import SuiteSettings

    anyone = Caller("open", role="admin")

    class OpenKeyring(Keyring):
        """The baseline: any bearer token is the same caller (no hashing, no limits)."""

        def lookup(self, token: str) -> Caller | None:
            return anyone

    async def main() -> None:
        redis = REDIS_URL if variant == "key+limits in Redis" else None
        suite = SuiteSettings(
            router_addr=f"127.0.0.1:{router_port}",
            catalog_addr=f"127.0.0.1:{router_port}",
            redis_url=redis,
            data_dir=Path(data_dir),
            database_url=None,
        )
        secret = ADMIN_KEY
        if variant.startswith("key+"):
            db = await open_database(None, Path(data_dir) / SQLITE_FILE)
            store = KeyStore(db)
            await store.migrate()
            secret, key = new_key(limits_body(), time.time())
            await store.create_key(key, "bench")
            await store.put_team(team_from("bench", TEAM_BODY, None), "bench")
            await db.close()
        settings = EdgeSettings(
            admin_key=ADMIN_KEY, limits_prefix=f"bench-keys-{uuid.uuid4().hex[:8]}:"
        )
        keyring = OpenKeyring() if variant == "baseline" else None
        app = create_app(settings, suite, keyring=keyring)
        runner = await serve(app, "127.0.0.1:0", grace=0.5)
        conn.send((bound_port(runner), secret, os.getpid()))
        await asyncio.Event().wait()

    uvloop.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, key: str, requests: int, concurrency: int) -> tuple[float, int]:
    """Send `requests` chat completions, `concurrency` at a time: seconds taken, failures."""
    headers = {"Authorization": f"Bearer {key}"}
    body = json.dumps(BODY).encode()
    failures = 0
    left = requests

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left, failures
        while left > 0:
            left -= 1
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                failures += resp.status != 200

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - started, failures


async def edges(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    router = ctx.Process(target=router_child, args=(child,), daemon=True)
    router.start()
    router_port = parent.recv()
    procs, targets = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i, variant in enumerate(EDGE_VARIANTS):
                parent, child = ctx.Pipe()
                data_dir = str(Path(tmp) / f"edge{i}")
                proc = ctx.Process(
                    target=edge_child, args=(variant, router_port, data_dir, child), daemon=True
                )
                proc.start()
                procs.append(proc)
                port, key, pid = parent.recv()
                targets[variant] = (f"http://127.0.0.1:{port}/v1/chat/completions", key, pid)
            return await _rounds(targets, args)
        finally:
            for proc in [*procs, router]:
                proc.terminate()
                proc.join(5)


async def _rounds(
    targets: dict[str, tuple[str, str, int]], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    rps: dict[str, list[float]] = {v: [] for v in targets}
    cpu: dict[str, list[float]] = {v: [] for v in targets}
    for url, key, _ in targets.values():
        _, failures = await drive(url, key, 200, args.concurrency)  # warm up
        if failures:
            raise SystemExit(f"bench: {failures} of 200 warm-up requests failed at {url}")
    for _ in range(args.rounds):
        for variant, (url, key, pid) in targets.items():
            before = cpu_seconds(pid)
            seconds, failures = await drive(url, key, args.requests, args.concurrency)
            if failures:
                raise SystemExit(f"bench: {failures} requests failed ({variant})")
            rps[variant].append(args.requests / seconds)
            cpu[variant].append((cpu_seconds(pid) - before) / args.requests * 1e6)
    return {
        v: {"rps": statistics.median(rps[v]), "edge_cpu_us": statistics.median(cpu[v])}
        for v in targets
    }


# ---------------------------------------------------------------- report


def report(checked: dict[str, dict[str, float]], served: dict[str, dict[str, float]]) -> str:
    lines = [f"checks per request, one caller at a time {'CPU µs':>14} {'wall µs':>8}"]
    for name, fig in checked.items():
        lines.append(f"  {name:<52} {fig['cpu_us']:8.1f} {fig['wall_us']:8.1f}")
    base = served["baseline"]
    lines.append("")
    head = f"{'req/s':>8} {'CPU µs/req':>11} {'added µs':>9} {'ratio':>6}"
    lines.append(f"edge over HTTP, {'variant':<26} {head}")
    for name, fig in served.items():
        added = fig["edge_cpu_us"] - base["edge_cpu_us"]
        ratio = fig["edge_cpu_us"] / base["edge_cpu_us"]
        lines.append(
            f"  {name:<40} {fig['rps']:8.0f} {fig['edge_cpu_us']:11.0f} {added:9.0f} {ratio:6.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keys", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    checked = uvloop.run(checks(REDIS_URL, args.rounds))
    served = uvloop.run(edges(args))
    print(report(checked, served))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "bench": "keys",
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": platform.machine(),
                "args": vars(args),
                "checks_us": checked,
                "edge": served,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
