"""What the Prometheus metrics cost the hot path, in one run: ns per counter increment,
labelled increment and histogram observation; µs the router adds per request (counting
its usage record) and the edge adds per request (its counting middleware, against the
same handler called without it). Medians over rounds (the machine is shared).

    python -m bench.metrics [--n 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.edge.metrics import EdgeMetrics
from services.router.metrics import RouterMetrics
from services.router.usage import Status, UsageRecord
from services.shared.metrics import Registry

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "metrics.json"


def _ns(op: Callable[[], None], n: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(n):
        op()
    return (time.perf_counter_ns() - started) / n


def _record() -> UsageRecord:
    return UsageRecord(
        "e", time.time(), "k", "r", "auto", "groq/llama", "groq", 120, 40, 0.0, 0.0001,
        850.0, 120.0, 1, Status.OK, 0.3, 1, stream=True,
    )  # fmt: skip


async def _edge_ns(n: int) -> tuple[float, float]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response()

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    request = make_mocked_request("POST", "/v1/chat/completions", app=app)
    match = await app.router.resolve(request)
    request._match_info = match  # as aiohttp sets it before the middlewares run
    middleware = EdgeMetrics().middleware()

    async def timed(call: Callable[[], object], count: int) -> float:
        started = time.perf_counter_ns()
        for _ in range(count):
            await call()  # type: ignore[misc]
        return (time.perf_counter_ns() - started) / count

    bare = await timed(lambda: handler(request), n)
    counted = await timed(lambda: middleware(request, handler), n)
    return bare, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    r = Registry()
    counter = r.counter("freeway_b_total", "b", ("model", "status"))
    child = counter.labels("m", "ok")
    histogram = r.histogram("freeway_b_seconds", "b", ("provider",)).labels("p")
    metrics, record = RouterMetrics(), _record()
    cases: dict[str, list[float]] = {
        k: []
        for k in ("inc", "labels_inc", "observe", "router_record", "edge_bare", "edge_counted")
    }
    for _ in range(args.rounds):
        cases["inc"].append(_ns(child.inc, args.n))
        cases["labels_inc"].append(_ns(lambda: counter.labels("m", "ok").inc(), args.n))
        cases["observe"].append(_ns(lambda: histogram.observe(0.42), args.n))
        cases["router_record"].append(_ns(lambda: metrics.record(record), args.n))
        bare, counted = asyncio.run(_edge_ns(args.n // 4))
        cases["edge_bare"].append(bare)
        cases["edge_counted"].append(counted)
    med = {k: statistics.median(v) for k, v in cases.items()}
    result = {
        "counter_inc_ns": round(med["inc"], 1),
        "counter_labels_inc_ns": round(med["labels_inc"], 1),
        "histogram_observe_ns": round(med["observe"], 1),
        "router_per_request_us": round(med["router_record"] / 1000, 3),
        "edge_per_request_us": round((med["edge_counted"] - med["edge_bare"]) / 1000, 3),
        "edge_handler_alone_us": round(med["edge_bare"] / 1000, 3),
        "n": args.n,
        "rounds": args.rounds,
        "python": platform.python_version(),
    }
    for key, value in result.items():
        print(f"{key:28} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
