"""Router fixtures: the router built through its composition root and serving on
127.0.0.1:0, against an in-test catalog, analytics and OpenAI-compatible upstream."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
import orjson
import pytest

from freeway.router.v1 import router_pb2, router_pb2_grpc
from services.router.app import App, build
from services.router.config import RouterSettings
from services.shared.settings import SuiteSettings
from tests.integration.router.fakes import (
    TOOLS,
    VISION,
    FakeAnalytics,
    FakeCatalog,
    FakeUpstream,
    model,
)

KEY_ENV = "FREEWAY_TEST_T_KEY"
ENV = {KEY_ENV: "sk-test-key"}

# Qualities 0.05 apart: ranked strictly by quality, never "near-equal" (no load spreading).
MODELS = [
    model("reject", 0.99),
    model("paid", 0.98, free=False, price=1.0),
    model("ok", 0.97, provider="nokey"),
    model("limited", 0.95),
    model("broken", 0.90),
    model("garbage", 0.85),
    model("slow", 0.80),
    model("ok", 0.70),
    model("nousage", 0.65),
    model("cut", 0.60),
    model("hang", 0.55),
    model("vision", 0.30, capabilities=[VISION]),
    model("endcut", 0.20),
    model("tools", 0.10, capabilities=[TOOLS]),
]

SETTINGS = RouterSettings(
    attempt_timeout_s=1.0,
    hedge_floor_s=0.1,
    hedge_cold_s=0.2,
    breaker_failures=3,
    breaker_cooldown_s=60.0,
    usage_flush_interval_s=0.05,
    shutdown_grace_s=2.0,
)


def write_providers(path: Path, upstream_url: str) -> Path:
    path.write_text(
        "[[providers]]\n"
        'name = "t"\n'
        f'base_url = "{upstream_url}/t"\n'
        f'api_key_env = "{KEY_ENV}"\n'
        "\n[[providers]]\n"
        'name = "nokey"\n'
        f'base_url = "{upstream_url}/nokey"\n'
        'api_key_env = "FREEWAY_TEST_NO_SUCH_KEY"\n'
    )
    return path


async def start_router(
    tmp_path: Path,
    catalog_addr: str,
    analytics_addr: str,
    upstream_url: str,
    *,
    redis_url: str | None = None,
    wall_clock: Callable[[], float] = time.time,
    **overrides: Any,
) -> App:
    """A started router whose first catalogue snapshot has arrived (if the catalog is up)."""
    suite = SuiteSettings(
        catalog_addr=catalog_addr,
        analytics_addr=analytics_addr,
        router_addr="127.0.0.1:0",
        data_dir=tmp_path / "var",
        providers_file=write_providers(tmp_path / "providers.toml", upstream_url),
        redis_url=redis_url,
    )
    app = build(dataclasses.replace(SETTINGS, **overrides), suite, env=ENV, wall_clock=wall_clock)
    await app.start()
    return app


def router_stub(channel: grpc.aio.Channel) -> router_pb2_grpc.RouterServiceAsyncStub:
    stub = router_pb2_grpc.RouterServiceStub(channel)
    return cast("router_pb2_grpc.RouterServiceAsyncStub", stub)


def request(
    *allow: str,
    content: str = "Say hello.",
    key_id: str = "key-1",
    request_id: str = "",
    strategy: int = 0,
    **body: Any,
) -> router_pb2.CompletionRequest:
    """A CompletionRequest: an OpenAI body of `content` plus `body`'s fields, routed among
    `allow` (every model when empty)."""
    chat = {"model": "auto", "messages": [{"role": "user", "content": content}], **body}
    return router_pb2.CompletionRequest(
        body=orjson.dumps(chat).decode(),
        constraints=router_pb2.Constraints(allow=list(allow)),
        key_id=key_id,
        request_id=request_id,
        strategy=strategy,  # type: ignore[arg-type]
    )


def answer(response: router_pb2.CompletionResponse) -> dict[str, Any]:
    """The client's JSON of a Complete answer."""
    body: dict[str, Any] = orjson.loads(response.body)
    return body


def events(chunks: list[router_pb2.CompletionChunk]) -> list[dict[str, Any]]:
    """The client's chunk JSONs of a CompleteStream answer, in order."""
    return [orjson.loads(event) for chunk in chunks for event in chunk.events]


def streamed_text(chunks: list[router_pb2.CompletionChunk]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for event in events(chunks)
        for choice in event["choices"]
    )


@dataclass
class Harness:
    app: App
    stub: router_pb2_grpc.RouterServiceAsyncStub
    catalog: FakeCatalog
    analytics: FakeAnalytics
    upstream: FakeUpstream
    channel: grpc.aio.Channel


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    catalog, analytics, upstream = FakeCatalog(MODELS), FakeAnalytics(), FakeUpstream()
    catalog_port = await catalog.start()
    analytics_port = await analytics.start()
    upstream_url = await upstream.start()
    app = await start_router(
        tmp_path, f"127.0.0.1:{catalog_port}", f"127.0.0.1:{analytics_port}", upstream_url
    )
    await asyncio.wait_for(app.watcher.ready.wait(), 10)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.port}")
    stub = router_stub(channel)
    yield Harness(app, stub, catalog, analytics, upstream, channel)
    await channel.close()
    await app.stop()
    await upstream.stop()
    await analytics.stop()
    await catalog.stop()
