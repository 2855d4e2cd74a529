"""`make chaos` (failover): half of the free models failing in every way, the answers
still arrive.

A real suite behind Envoy (bench/chaos.py's scenario, with the provider simulator) takes a
load of mixed plain and streamed completions from `concurrency` clients. First a healthy
phase measures the latency of healthy answers. Then the best-ranked half of the free chat
models (by the quality free-first ranks them on) fail, each in one of the ways providers
fail: HTTP 500, 429 with Retry-After, never answering, malformed JSON, a dropped
connection, an HTML 503 page, "model decommissioned", a stream that ends before its first
content, an error inside an HTTP 200 stream. (A stream cut off after its first content
cannot fall back: it ends in an error event, as tests/integration/router show.) The load
goes on for `requests` completions while a healthy candidate exists: printed are the
success rate, the latency percentiles, and what failover added over the healthy phase.

    python -m bench.failover [--requests 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.chaos import Attempt, Load, _auth, percentile, scenario

RESULTS = Path(__file__).resolve().parent / "results" / "failover.json"
# One fault per failing model, in turn: every way the issue lists.
FAULTS: tuple[dict[str, Any], ...] = (
    {"kind": "error", "status": 500},
    {"kind": "error", "status": 429, "retry_after": 2},
    {"kind": "hang"},
    {"kind": "malformed"},
    {"kind": "drop", "after_chunks": 0},
    {"kind": "html_page", "status": 503},
    {"kind": "decommissioned"},
    {"kind": "truncate", "after_chunks": 0},
    {"kind": "stream_error", "after_chunks": 0},
)
Log = Callable[[str], None]


@dataclass
class FailoverFigures:
    healthy_requests: int
    healthy_p50_ms: float
    healthy_p99_ms: float
    requests: int
    answered: int
    success_rate: float
    p50_ms: float
    p99_ms: float
    added_p50_ms: float
    added_p99_ms: float
    failing_models: int
    healthy_models: int
    failures: list[str]

    def table(self) -> str:
        return "\n".join(
            [
                f"failover: {self.failing_models} of {self.failing_models + self.healthy_models} "
                "free chat models failing (the best-ranked half)",
                f"  healthy phase  {self.healthy_requests} requests, p50 "
                f"{self.healthy_p50_ms:.0f} ms, p99 {self.healthy_p99_ms:.0f} ms",
                f"  failing phase  {self.requests} requests, {self.answered} answered "
                f"({100 * self.success_rate:.2f} %), p50 {self.p50_ms:.0f} ms, "
                f"p99 {self.p99_ms:.0f} ms",
                f"  added by failover: p50 {self.added_p50_ms:+.0f} ms, "
                f"p99 {self.added_p99_ms:+.0f} ms",
                *(f"  failed: {line}" for line in self.failures[:10]),
            ]
        )


async def free_chat_models(base_url: str) -> list[dict[str, Any]]:
    """The free chat models, best-ranked first (quality, as free-first ranks them)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/models", headers=_auth()) as reply:
            listed = {m["id"] for m in (await reply.json())["data"] if m["id"] != "auto"}
        async with http.get(f"{base_url}/catalog?free=true", headers=_auth()) as reply:
            records = (await reply.json())["data"]
    chat = [r for r in records if r["id"] in listed]
    return sorted(chat, key=lambda r: (-(r["quality"] or 0.0), r["id"]))


async def break_models(simulator_url: str, models: Sequence[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as http:
        for i, model in enumerate(models):
            rule = {
                "provider": model["provider"],
                "model": model["upstream_id"],
                "faults": [FAULTS[i % len(FAULTS)]],
            }
            async with http.post(f"{simulator_url}/_simulator/script", json=rule) as reply:
                if reply.status != 201:
                    raise RuntimeError(f"the simulator refused {rule}: {await reply.text()}")


async def load_until(base_url: str, concurrency: int, count: int) -> list[Attempt]:
    """Run the load until `count` completions finished; those first `count`."""
    load = Load(base_url, concurrency, pause_s=0.0)
    load.start()
    while len(load.attempts) < count:
        await asyncio.sleep(0.05)
    return (await load.stop())[:count]


async def run(
    directory: Path, requests: int, concurrency: int, log: Log = print
) -> FailoverFigures:
    async with scenario(directory) as sc:
        healthy = await load_until(sc.base_url, concurrency, max(requests // 5, 20))
        ranked = await free_chat_models(sc.base_url)
        failing = ranked[: len(ranked) // 2]
        await break_models(sc.simulator_url, failing)
        log(f"failing {len(failing)} of {len(ranked)} free chat models; load of {requests}")
        started = time.monotonic()
        attempts = await load_until(sc.base_url, concurrency, requests)
        log(f"done in {time.monotonic() - started:.1f} s")
    ok = [a.ms for a in healthy if a.answered]
    answered = [a for a in attempts if a.answered]
    ms = [a.ms for a in answered]
    return FailoverFigures(
        healthy_requests=len(healthy),
        healthy_p50_ms=percentile(ok, 0.5),
        healthy_p99_ms=percentile(ok, 0.99),
        requests=len(attempts),
        answered=len(answered),
        success_rate=len(answered) / max(len(attempts), 1),
        p50_ms=percentile(ms, 0.5),
        p99_ms=percentile(ms, 0.99),
        added_p50_ms=percentile(ms, 0.5) - percentile(ok, 0.5),
        added_p99_ms=percentile(ms, 0.99) - percentile(ok, 0.99),
        failing_models=len(failing),
        healthy_models=len(ranked) - len(failing),
        failures=[
            f"{a.status} {'stream' if a.stream else 'plain'}: {a.detail}"
            for a in attempts
            if not a.answered
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="freeway-failover-") as tmp:
        figures = asyncio.run(run(Path(tmp), args.requests, args.concurrency))
    print(figures.table())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(asdict(figures), indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
