"""Fan-out of one catalogue change to many WebSocket subscribers, through the edge's
`/v1/ws` and its one shared WatchCatalog subscription.

A child process runs the provider simulator, a real catalog polling it and the edge;
this process connects N aiohttp subscribers to `catalog` over loopback, then changes
the catalogue (the simulator's model list, then RefreshProvider) `--changes` times. The
delivery latency of each (change, subscriber) is the subscriber's receipt time minus the
change's own timestamp (`at`, stamped by the catalog when it stored it; one machine, one
clock). The baseline is the same measurement with a single subscriber, in the same run.
The bar: N = 1,000 subscribers all get a change within 100 ms (p99).

    python -m bench.ws_fanout [--subscribers 1000] [--changes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import orjson

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.catalog.app import build as build_catalog
from services.catalog.config import CatalogSettings
from services.edge.app import bound_port, create_app, serve
from services.edge.config import EdgeSettings
from services.shared.settings import SuiteSettings
from services.simulator.server import Simulator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ws.json"
KEY = "bench-ws-key"
KEY_ENV = "FREEWAY_BENCH_WS_KEY"
PROVIDER = "openrouter"
BAR_MS = 100.0
MODEL = "openrouter/elephant-alpha"


def _raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(folder: Path) -> None:
    """The child: simulator, catalog and edge, until stdin closes."""
    _raise_fd_limit()
    simulator = await Simulator(port=0, record=False).start()
    providers = folder / "providers.toml"
    providers.write_text(
        f'[[providers]]\nname = "{PROVIDER}"\nbase_url = "{simulator.base_url(PROVIDER)}"\n'
        f'format = "openrouter"\napi_key_env = "{KEY_ENV}"\npoll_interval_s = 3600\n'
    )
    catalog = await build_catalog(
        CatalogSettings(jitter_fraction=0.0, min_poll_gap_s=0.0),
        SuiteSettings(
            catalog_addr="127.0.0.1:0", data_dir=folder / "catalog", providers_file=providers
        ),
        env={KEY_ENV: "sk-simulated"},
    )
    await catalog.start()
    suite = SuiteSettings(
        catalog_addr=f"127.0.0.1:{catalog.port}",
        router_addr="127.0.0.1:9",  # unused: only the catalog topic is measured
        analytics_addr="127.0.0.1:9",
        database_url=None,
        redis_url=None,
        data_dir=folder / "edge",
    )
    settings = EdgeSettings(admin_key=KEY, ws_queue=1024)
    runner = await serve(create_app(settings, suite), "127.0.0.1:0", grace=1)
    print(
        json.dumps(
            {
                "edge": f"http://127.0.0.1:{bound_port(runner)}",
                "catalog": f"127.0.0.1:{catalog.port}",
                "simulator": simulator.url,
            }
        ),
        flush=True,
    )
    await asyncio.to_thread(sys.stdin.read)
    await runner.cleanup()
    await catalog.stop(1.0)
    await simulator.stop()


class Subscribers:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.received: dict[int, list[float]] = {}  # version → receipt times
        self.tasks: list[asyncio.Task[None]] = []

    async def connect(self, n: int) -> None:
        for start in range(0, n, 100):
            batch = [self._one() for _ in range(min(100, n - start))]
            self.sockets += await asyncio.gather(*batch)
        self.tasks = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def _one(self) -> aiohttp.ClientWebSocketResponse:
        ws = await self.session.ws_connect(self.url, headers={"Authorization": f"Bearer {KEY}"})
        await ws.send_json({"type": "subscribe", "topics": ["catalog"]})
        while True:  # until the shared feed is live
            frame = orjson.loads((await ws.receive(timeout=60)).data)
            if frame["type"] == "status" and frame["state"] == "live":
                return ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            now = time.time()
            frame = orjson.loads(message.data)
            data = frame.get("data", {})
            if frame["type"] == "event" and data.get("kind") == "changed":
                self.received.setdefault(data["version"], []).append(now - _at(data["at"]))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def _changes(
    addresses: dict[str, str], subscribers: Subscribers, n: int, changes: int
) -> tuple[list[float], list[float]]:
    """Latencies (ms) of `changes` catalogue changes to `n` subscribers, from the change's
    stamp and from the first subscriber's receipt of it (the fan-out's own spread)."""
    http = subscribers.session
    models = await _recorded(http, addresses["simulator"])
    latencies: list[float] = []
    spread: list[float] = []
    async with grpc.aio.insecure_channel(addresses["catalog"]) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for i in range(changes):
            body = copy.deepcopy(models)
            next(m for m in body["data"] if m["id"] == MODEL)["context_length"] = 1000 + i
            url = f"{addresses['simulator']}/_simulator/models/{PROVIDER}"
            async with http.put(url, json=body) as resp:
                resp.raise_for_status()
            before = set(subscribers.received)
            await stub.RefreshProvider(
                catalog_pb2.RefreshProviderRequest(name=PROVIDER), timeout=30
            )
            async with asyncio.timeout(30):
                while True:
                    new = [v for v in subscribers.received if v not in before]
                    if new and len(subscribers.received[new[0]]) >= n:
                        got = subscribers.received[new[0]]
                        latencies += [s * 1000 for s in got]
                        spread += [(s - min(got)) * 1000 for s in got]
                        break
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # let the machine settle between changes
    return latencies, spread


async def _recorded(http: aiohttp.ClientSession, simulator: str) -> dict[str, Any]:
    """The provider's current model list, as the simulator serves it."""
    async with http.get(f"{simulator}/{PROVIDER}/api/v1/models") as resp:
        resp.raise_for_status()
        body: dict[str, Any] = await resp.json()
        return body


def _percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(values)}


async def measure(child: subprocess.Popen[bytes], subscribers: int, changes: int) -> dict[str, Any]:
    assert child.stdout is not None
    addresses = json.loads(await asyncio.to_thread(child.stdout.readline))
    connector = aiohttp.TCPConnector(limit=0)
    results: dict[int, dict[str, float]] = {}
    spreads: dict[int, dict[str, float]] = {}
    async with aiohttp.ClientSession(connector=connector) as session:
        for n in (1, subscribers):
            clients = Subscribers(session, addresses["edge"] + "/v1/ws")
            await clients.connect(n)
            latencies, spread = await _changes(addresses, clients, n, changes)
            results[n] = _percentiles(latencies)
            spreads[n] = _percentiles(spread) if n > 1 else {}
            await clients.close()
    return {
        "baseline_1": results[1],
        f"subscribers_{subscribers}": results[subscribers],
        "spread_after_first": spreads[subscribers],
    }


def _run(subscribers: int, changes: int) -> dict[str, Any]:
    """The measurement, against a child process serving the suite."""
    _raise_fd_limit()
    with tempfile.TemporaryDirectory() as folder:
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.ws_fanout", "--serve", folder],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            return asyncio.run(measure(child, subscribers, changes))
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(Path(args.serve)))
        return
    figures = _run(args.subscribers, args.changes)
    many = figures[f"subscribers_{args.subscribers}"]
    one = figures["baseline_1"]
    print(f"catalogue change → WebSocket subscribers, delivery latency ms ({args.changes} changes)")
    print(f"{'subscribers':<12}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    rows = (("1", one), (str(args.subscribers), many), ("spread", figures["spread_after_first"]))
    for label, f in rows:
        print(f"{label:<12}" + "".join(f"{f[k]:>9.1f}" for k in ("p50", "p95", "p99", "max")))
    verdict = "meets" if many["p99"] <= BAR_MS else "misses"
    ratio = many["p99"] / one["p99"]
    print(
        f"p99 {many['p99']:.1f} ms {verdict} the {BAR_MS:.0f} ms bar ({ratio:.1f}x one subscriber)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.machine(),
                "python": platform.python_version(),
                "subscribers": args.subscribers,
                "changes": args.changes,
                "latency_ms": figures,
                "bar_ms": BAR_MS,
                "p99_vs_bar": many["p99"] / BAR_MS,
                "meets_bar": many["p99"] <= BAR_MS,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
