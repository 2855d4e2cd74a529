"""WatchCatalog fan-out over real gRPC: one change, 1,000 subscribers, how long until all
have it.

The catalog runs in its own process (built through its composition root, SQLite in a
temporary directory, serving on 127.0.0.1:0) and polls a loopback model-list server that
serves the largest recorded OpenRouter list. This process opens the subscribers —
WatchCatalog streams from one grpc.aio client spread over a few channels — then, per
repetition, edits one model in the served list and calls RefreshProvider; the poll turns
the edit into one CHANGED event.

Per repetition:

- change → all: from the event's own `at` (the catalog's wall clock when it began to apply
  the poll: store commit, publish, fan-out) to the wall-clock time the last subscriber read
  it (same host, same clock);
- first → last: between the first and the last subscriber reading it (the fan-out alone);
- refresh → all: from calling RefreshProvider (HTTP fetch, parse, classify, commit, publish)
  to the last subscriber reading it.

    python -m bench.catalog_fanout serve DATA_DIR PROVIDER_PORT   # the catalog process
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.catalog.app import build
from services.catalog.config import CatalogSettings
from services.shared.providers import ProviderConfig
from services.shared.server import run as run_service
from services.shared.settings import SuiteSettings

MODELS_PATH = "/api/v1/models"
CHANNELS = 4
READY_TIMEOUT_S = 60.0
EVENT_TIMEOUT_S = 60.0


@dataclass
class Sample:
    change_to_all_ms: float
    first_to_last_ms: float
    refresh_to_all_ms: float


@dataclass
class Fanout:
    """Every repetition of one fan-out run."""

    subscribers: int
    models: int
    samples: list[Sample] = field(default_factory=list)

    def column(self, name: str) -> list[float]:
        return [getattr(s, name) for s in self.samples]

    def summary(self) -> dict[str, Any]:
        return {
            name: {
                "p50_ms": statistics.median(self.column(name)),
                "max_ms": max(self.column(name)),
                "min_ms": min(self.column(name)),
            }
            for name in ("change_to_all_ms", "first_to_last_ms", "refresh_to_all_ms")
        }


# --- the catalog process ------------------------------------------------------------------


def provider(port: int) -> ProviderConfig:
    return ProviderConfig(
        name="openrouter",
        base_url=f"http://127.0.0.1:{port}/api/v1",
        format="openrouter",
        poll_interval_s=24 * 3600.0,  # only RefreshProvider polls during the run
    )


async def serve(data_dir: Path, provider_port: int) -> None:
    """Run a catalog on 127.0.0.1:0, print its port, serve until stdin closes."""
    # The recorded list has unpriced models, warned about on every poll: not news here.
    logging.getLogger("freeway.catalog").setLevel(logging.ERROR)
    settings = CatalogSettings(jitter_fraction=0.0, min_poll_gap_s=0.0)
    suite = SuiteSettings(catalog_addr="127.0.0.1:0", data_dir=data_dir, database_url=None)
    app = await build(settings, suite, providers=[provider(provider_port)], env={})
    await app.start("127.0.0.1:0")
    print(f"PORT {app.port}", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await app.stop(grace=1.0)


# --- this process ------------------------------------------------------------------------


class ModelList:
    """The loopback model-list server: an OpenRouter body this process edits."""

    def __init__(self, body: bytes) -> None:
        self.doc = json.loads(body)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(MODELS_PATH, self._models)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def edit(self, n: int) -> None:
        """One model's context window changes: one CHANGED event on the next poll."""
        model = self.doc["data"][0]
        model["context_length"] = 1000 + n

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(self.doc)


class Subscribers:
    """`count` WatchCatalog streams; records when each reads each version (wall clock)."""

    def __init__(self, stubs: Sequence[catalog_pb2_grpc.CatalogServiceStub], count: int) -> None:
        self.count = count
        self.arrivals: dict[int, list[float]] = {}
        self.at: dict[int, float] = {}
        self._complete: dict[int, asyncio.Event] = {}
        self._stubs = stubs
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, since_version: int) -> None:
        request = catalog_pb2.WatchCatalogRequest(since_version=since_version)
        self._tasks = [
            asyncio.create_task(self._watch(self._stubs[i % len(self._stubs)], request))
            for i in range(self.count)
        ]

    async def _watch(
        self, stub: catalog_pb2_grpc.CatalogServiceStub, request: catalog_pb2.WatchCatalogRequest
    ) -> None:
        call = stub.WatchCatalog(request)
        try:
            async for event in call:
                self._arrived(event, time.time())
        finally:
            call.cancel()

    def _arrived(self, event: catalog_pb2.CatalogEvent, now: float) -> None:
        times = self.arrivals.setdefault(event.version, [])
        times.append(now)
        self.at.setdefault(event.version, event.at.ToNanoseconds() / 1e9)
        if len(times) == self.count:
            self.complete(event.version).set()

    def complete(self, version: int) -> asyncio.Event:
        return self._complete.setdefault(version, asyncio.Event())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def catalog_process(data_dir: Path, provider_port: int) -> AsyncIterator[int]:
    """The catalog in a child process; yields its gRPC port."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.catalog_fanout",
        "serve",
        str(data_dir),
        str(provider_port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT_S)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"the catalog process did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def first_poll(stub: catalog_pb2_grpc.CatalogServiceStub) -> int:
    async with asyncio.timeout(READY_TIMEOUT_S):
        while True:
            reply = await stub.ListModels(catalog_pb2.ListModelsRequest(), timeout=10)
            if reply.version:
                return int(reply.version)
            await asyncio.sleep(0.05)


async def run(body: bytes, data_dir: Path, subscribers: int, repeat: int) -> Fanout:
    """One catalog process, `subscribers` streams, `repeat` changes (after one warm-up)."""
    models = ModelList(body)
    await models.start()
    try:
        async with catalog_process(data_dir, models.port) as port:
            return await _measure(models, port, subscribers, repeat)
    finally:
        await models.stop()


async def _measure(models: ModelList, port: int, subscribers: int, repeat: int) -> Fanout:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(CHANNELS)]
    stubs = [catalog_pb2_grpc.CatalogServiceStub(c) for c in channels]
    result = Fanout(subscribers, len(models.doc["data"]))
    watchers = Subscribers(stubs, subscribers)
    try:
        version = await first_poll(stubs[0])
        # From one version back: every stream first reads the latest change, which proves
        # it is subscribed before the measured changes begin.
        watchers.start(version - 1)
        await asyncio.wait_for(watchers.complete(version).wait(), EVENT_TIMEOUT_S)
        for n in range(repeat + 1):
            sample = await _one_change(models, stubs[0], watchers, n)
            if n:  # the first change warms both sides up
                result.samples.append(sample)
    finally:
        await watchers.stop()
        await asyncio.gather(*(c.close() for c in channels))
    return result


async def _one_change(
    models: ModelList,
    stub: catalog_pb2_grpc.CatalogServiceStub,
    watchers: Subscribers,
    n: int,
) -> Sample:
    models.edit(n)
    started = time.time()
    reply = await stub.RefreshProvider(
        catalog_pb2.RefreshProviderRequest(name="openrouter"), timeout=EVENT_TIMEOUT_S
    )
    version = int(reply.version)
    await asyncio.wait_for(watchers.complete(version).wait(), EVENT_TIMEOUT_S)
    arrivals = watchers.arrivals[version]
    last = max(arrivals)
    return Sample(
        change_to_all_ms=(last - watchers.at[version]) * 1000,
        first_to_last_ms=(last - min(arrivals)) * 1000,
        refresh_to_all_ms=(last - started) * 1000,
    )


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "serve":
        data_dir, port = Path(argv[1]), int(argv[2])
        run_service(lambda: serve(data_dir, port))  # on uvloop, as the service runs
        return 0
    if len(argv) == 3 and argv[0] == "run":  # a quick look, without the other cases
        from bench.catalog import corpus, largest

        body = largest(corpus(), "openrouter")
        with tempfile.TemporaryDirectory(prefix="freeway-fanout-") as tmp:
            result = asyncio.run(run(body, Path(tmp), int(argv[1]), int(argv[2])))
        print(json.dumps(result.summary(), indent=2))
        return 0
    print(
        "usage: python -m bench.catalog_fanout serve DATA_DIR PROVIDER_PORT\n"
        "       python -m bench.catalog_fanout run SUBSCRIBERS REPEAT",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
