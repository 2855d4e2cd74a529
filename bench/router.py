"""Router service loaded directly over gRPC: Route RPS and p50/p99 against a bare grpc.aio
echo servicer on the same machine (the floor of Python gRPC), in one run.

Three servers, each in its own process, driven by the same client (this process, one
channel, `--concurrency` calls in flight) with the same requests (MT-Bench first turns):

- echo: a bare `grpc.aio.server()` whose Route returns a canned RouteDecision (a real
  decision over the same catalogue, so the reply is the same size): the floor;
- echo+shared: that servicer behind `services.shared.server.start_server` (interceptors,
  health, reflection): what every Freeway service pays before doing any work;
- router: the router built by its composition root, watching an in-bench CatalogService
  that serves the recorded OpenRouter model list (~340 models) as one snapshot.

Targets are interleaved over rounds and reported as medians (the machine is shared and
noisy): requests/s, client-side p50/p99 latency, server CPU µs per request (from
/proc/<pid>/stat), and the router's own decision time. Bounded: about 40 s by default.

    python -m bench.router [--seconds 5] [--rounds 2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
import orjson
import uvloop

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2, router_pb2_grpc
from services.router.exchange import ExchangeServicer
from tests import corpus

ROOT = Path(__file__).resolve().parent.parent
OPENROUTER = "openrouter/maruel-genai/"  # recorded lists in data/providers
PROMPTS = "routellm/mt_bench/question.jsonl"  # in data/prompts
RESULTS = ROOT / "bench" / "results" / "router.json"
TARGETS = ("echo", "echo+shared", "router")
WARMUP_S = 1.0
MAX_REQUESTS = 200_000
KEY_ENV = "FREEWAY_BENCH_OPENROUTER_KEY"

Stop = Callable[[], Awaitable[None]]


# ---------------------------------------------------------------- catalogue and requests


def _price(value: Any) -> float | None:
    """OpenRouter's per-token decimal string as USD per Mtok; negative = variable = unknown."""
    try:
        price = float(value) * 1e6
    except (TypeError, ValueError):
        return None
    return price if price >= 0 and math.isfinite(price) else None


def _capabilities(item: dict[str, Any]) -> list[int]:
    params = set(item.get("supported_parameters") or [])
    caps: list[int] = []
    if "tools" in params:
        caps.append(common_pb2.CAPABILITY_TOOLS)
    if "image" in ((item.get("architecture") or {}).get("input_modalities") or []):
        caps.append(common_pb2.CAPABILITY_VISION)
    if params & {"response_format", "structured_outputs"}:
        caps.append(common_pb2.CAPABILITY_JSON)
    if params & {"reasoning", "include_reasoning"}:
        caps.append(common_pb2.CAPABILITY_REASONING)
    return caps


def openrouter_models() -> list[common_pb2.Model]:
    """The oldest recorded OpenRouter list (data/providers) as catalogue records.

    The list states no quality, so quality is the model's price percentile (a paid model's
    ":free" variant shares its quality): enough to give the ranking real spread.
    """
    recorded = corpus.files("providers")
    oldest = min(n for n in recorded if n.startswith(OPENROUTER) and n.endswith(".body.json"))
    items = json.loads(recorded[oldest])["data"]
    models = [_record(item) for item in items]
    priced = sorted(
        max(m.input_price_per_mtok, m.output_price_per_mtok)
        for m in models
        if m.HasField("input_price_per_mtok") and not m.is_free
    )
    by_base: dict[str, float] = {}
    for m in models:
        if m.HasField("input_price_per_mtok") and not m.is_free:
            price = max(m.input_price_per_mtok, m.output_price_per_mtok)
            m.quality = _rank(priced, price)
            by_base[m.upstream_id] = m.quality
    for m in models:
        if m.is_free:
            m.quality = by_base.get(m.upstream_id.removesuffix(":free"), 0.5)
    return models


def _rank(ordered: Sequence[float], value: float) -> float:
    below = sum(1 for v in ordered if v < value)
    return round(0.05 + 0.9 * below / max(1, len(ordered) - 1), 4)


def _record(item: dict[str, Any]) -> common_pb2.Model:
    pricing = item.get("pricing") or {}
    p_in, p_out = _price(pricing.get("prompt")), _price(pricing.get("completion"))
    free = item["id"].endswith(":free") or (p_in == 0.0 and p_out == 0.0)
    model = common_pb2.Model(
        id=f"openrouter/{item['id']}",
        provider="openrouter",
        upstream_id=item["id"],
        display_name=item.get("name", ""),
        context_window=int(item.get("context_length") or 0),
        max_output_tokens=int((item.get("top_provider") or {}).get("max_completion_tokens") or 0),
        is_free=free,
        capabilities=[common_pb2.Capability.Name(c) for c in _capabilities(item)],
        status="active",
    )
    if p_in is not None and p_out is not None:
        model.input_price_per_mtok, model.output_price_per_mtok = p_in, p_out
    return model


def requests() -> list[router_pb2.CompletionRequest]:
    """Route requests built from MT-Bench first turns (vendored in data/prompts)."""
    prompts: list[str] = []
    for line in corpus.read("prompts", PROMPTS).decode("utf-8").splitlines():
        turns = json.loads(line).get("turns") or []
        if turns and isinstance(turns[0], str):
            prompts.append(turns[0])
    return [
        router_pb2.CompletionRequest(
            body=orjson.dumps(
                {"model": "auto", "messages": [{"role": "user", "content": p}]}
            ).decode(),
            key_id="bench",
        )
        for p in prompts
    ]


# ---------------------------------------------------------------- servers (child processes)


class Catalog(catalog_pb2_grpc.CatalogServiceServicer):
    """WatchCatalog: one snapshot of the bench catalogue, then silence."""

    def __init__(self, models: list[common_pb2.Model]) -> None:
        self.models = models

    async def WatchCatalog(self, request: Any, context: Any) -> Any:
        yield catalog_pb2.CatalogEvent(version=1, snapshot=catalog_pb2.Snapshot(models=self.models))
        await asyncio.Event().wait()

    async def ListModels(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bench catalog: WatchCatalog only")

    async def GetModel(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bench catalog: WatchCatalog only")

    async def ListProviders(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bench catalog: WatchCatalog only")

    async def RefreshProvider(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bench catalog: WatchCatalog only")

    async def ListChanges(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bench catalog: WatchCatalog only")

    async def RaiseAlert(self, request: Any, context: Any) -> Any:
        return catalog_pb2.RaiseAlertResponse(alert=request.alert)

    async def ListAlerts(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bench catalog: WatchCatalog only")

    async def WatchAlerts(self, request: Any, context: Any) -> AsyncIterator[catalog_pb2.Alert]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bench catalog: WatchCatalog only")
        yield catalog_pb2.Alert()  # never reached: makes this a stream


class Echo(ExchangeServicer, router_pb2_grpc.RouterServiceServicer):
    """Route returns a canned decision: no work at all."""

    def __init__(self, reply: router_pb2.RouteDecision) -> None:
        self.reply = reply

    async def Route(self, request: Any, context: Any) -> router_pb2.RouteDecision:
        return self.reply

    async def Complete(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "echo: Route only")

    async def CompleteStream(
        self, request: Any, context: Any
    ) -> AsyncIterator[router_pb2.CompletionChunk]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "echo: Route only")
        yield router_pb2.CompletionChunk()

    async def ProviderHealth(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "echo: Route only")


def canned_decision(models: list[common_pb2.Model]) -> router_pb2.RouteDecision:
    """A real decision over the bench catalogue, for the echo servers to return."""
    from services.router import wire
    from services.router.breaker import BreakerPolicy, HealthBoard
    from services.router.routing import Router

    router = Router(HealthBoard(BreakerPolicy()))
    router.install([wire.model_info(m) for m in models], 1)
    request = requests()[0]
    route = wire.route_request(request, wire.chat_request(request))
    return wire.decision_message(router.decide(route))


async def _echo(shared: bool) -> tuple[int, Stop]:
    reply = canned_decision(openrouter_models())
    add = router_pb2_grpc.add_RouterServiceServicer_to_server
    if shared:
        from services.shared.server import Registration, start_server

        registration = Registration(add, Echo(reply), "freeway.router.v1.RouterService")
        running = await start_server("echo", "127.0.0.1:0", [registration])
        return running.port, lambda: running.stop(0.5)
    server = grpc.aio.server()
    add(Echo(reply), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return port, lambda: server.stop(0)


async def _router(workdir: Path) -> tuple[int, Stop]:
    from services.router.app import build
    from services.router.config import RouterSettings
    from services.shared.settings import SuiteSettings

    catalog = grpc.aio.server()
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(Catalog(openrouter_models()), catalog)
    catalog_port = catalog.add_insecure_port("127.0.0.1:0")
    await catalog.start()
    providers = workdir / "providers.toml"
    providers.write_text(
        '[[providers]]\nname = "openrouter"\nbase_url = "http://127.0.0.1:9/api/v1"\n'
        f'api_key_env = "{KEY_ENV}"\n'
    )
    suite = SuiteSettings(
        catalog_addr=f"127.0.0.1:{catalog_port}",
        analytics_addr="127.0.0.1:9",  # Route records no usage; nothing listens here
        router_addr="127.0.0.1:0",
        data_dir=workdir / "var",
        providers_file=providers,
    )
    app = build(RouterSettings(), suite, env={KEY_ENV: "unused"})
    await app.start()
    await asyncio.wait_for(app.watcher.ready.wait(), 30)

    async def stop() -> None:
        await app.stop(1.0)
        await catalog.stop(0)

    return app.port, stop


def serve(kind: str, conn: Connection) -> None:
    """Child process: start one target, report its port, run until told to stop."""
    import logging

    logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            if kind == "router":
                port, stop = await _router(Path(tmp))
            else:
                port, stop = await _echo(shared=kind == "echo+shared")
            conn.send(port)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            await stop()

    uvloop.run(main())


# ---------------------------------------------------------------- client


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    port: int, pid: int, reqs: list[router_pb2.CompletionRequest], seconds: float, concurrency: int
) -> dict[str, Any]:
    """Closed-loop load: `concurrency` workers, warm-up, then a bounded measured window."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        route = router_pb2_grpc.RouterServiceStub(channel).Route
        await route(reqs[0], timeout=30)
        latencies: list[float] = []
        decision_us: list[float] = []
        measuring = False
        stop_at = time.perf_counter() + WARMUP_S

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < stop_at and len(latencies) < MAX_REQUESTS:
                started = time.perf_counter()
                reply = await route(reqs[i % len(reqs)], timeout=30)
                if measuring:
                    latencies.append(time.perf_counter() - started)
                    decision_us.append(reply.decision_us)
                i += concurrency

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        measuring = True
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        stop_at = t0 + seconds
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "server_cpu_us_per_request": cpu / max(1, len(latencies)) * 1e6,
        "decision_us_p50": statistics.median(decision_us) if any(decision_us) else 0.0,
    }


def percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start(kind: str) -> tuple[Any, Connection, int]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve, args=(kind, child), name=f"bench-{kind}", daemon=True)
    process.start()
    if not parent.poll(60):
        process.terminate()
        raise RuntimeError(f"{kind}: server did not start within 60 s")
    return process, parent, int(parent.recv())


def run(seconds: float, rounds: int, concurrency: int) -> dict[str, Any]:
    reqs = requests()
    servers = {kind: start(kind) for kind in TARGETS}
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in TARGETS}
    try:
        for _ in range(rounds):
            for kind, (process, _, port) in servers.items():
                sample = uvloop.run(drive(port, process.pid, reqs, seconds, concurrency))
                samples[kind].append(sample)
    finally:
        for process, conn, _ in servers.values():
            conn.send("stop")
            process.join(10)
            if process.is_alive():
                process.terminate()
    return summarise(samples, seconds, rounds, concurrency)


def summarise(
    samples: dict[str, list[dict[str, Any]]], seconds: float, rounds: int, concurrency: int
) -> dict[str, Any]:
    from native import kernel

    models = openrouter_models()
    targets = {
        kind: {key: statistics.median(s[key] for s in runs) for key in runs[0]} | {"rounds": runs}
        for kind, runs in samples.items()
    }
    for kind in targets:
        if kind != "router":
            del targets[kind]["decision_us_p50"]  # the echoes return a canned decision
    echo, router = targets["echo"], targets["router"]
    return {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "kernel": kernel.IMPLEMENTATION,
        },
        "catalogue": {"models": len(models), "free": sum(m.is_free for m in models)},
        "concurrency": concurrency,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "targets": targets,
        "router_vs_echo": {
            "rps_ratio": router["rps"] / echo["rps"],
            "added_p50_ms": router["p50_ms"] - echo["p50_ms"],
            "added_p99_ms": router["p99_ms"] - echo["p99_ms"],
            "added_server_cpu_us_per_request": router["server_cpu_us_per_request"]
            - echo["server_cpu_us_per_request"],
        },
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"Route over gRPC, {result['catalogue']['models']} models "
        f"({result['catalogue']['free']} free), concurrency {result['concurrency']}, "
        f"kernel {result['machine']['kernel']}, median of {result['rounds']} rounds",
        f"{'target':<13}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'server CPU µs/req':>19}",
    ]
    for kind, t in result["targets"].items():
        lines.append(
            f"{kind:<13}{t['requests']:>9.0f}{t['rps']:>9.0f}{t['p50_ms']:>9.2f}{t['p99_ms']:>9.2f}"
            f"{t['server_cpu_us_per_request']:>19.0f}"
        )
    ratio = result["router_vs_echo"]
    lines.append(
        f"router vs echo: {ratio['rps_ratio']:.2f}× the req/s, "
        f"+{ratio['added_p50_ms']:.2f} ms p50, +{ratio['added_p99_ms']:.2f} ms p99, "
        f"+{ratio['added_server_cpu_us_per_request']:.0f} µs server CPU per request; "
        f"decision inside the router: "
        f"{result['targets']['router']['decision_us_p50']:.0f} µs p50"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.router", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured seconds per round and target"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.seconds, args.rounds, args.concurrency)
    print(format_table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
