"""What recording usage costs a request: µs per `UsageReporter.submit`, in one run.

`submit` runs on the request path before the answer leaves, so its cost is added to every
completion. Cases, interleaved over rounds and reported as medians (the machine is shared):

- memory queue: appending the record to a deque, what the router did before the spool
  (not durable: a kill -9 lost what it held) — the baseline;
- serialise: building and serialising the UsageEvent alone;
- submit: the real `UsageReporter.submit` — serialise, frame, one `write()` to the spool
  (durable against kill -9 of the process);
- submit + fsync: the same with an fsync per event, what durability against a *machine*
  crash on every request would cost (the reporter fsyncs once a second instead).

    python -m bench.usage [--events 20000] [--fsync-events 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

import grpc

from services.router import wire
from services.router.reporter import ReporterPolicy, UsageReporter
from services.router.spool import Spool
from services.router.usage import Status, UsageRecord

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "usage.json"


def record(i: int) -> UsageRecord:
    return UsageRecord(
        event_id=str(uuid.uuid4()),
        time=time.time(),
        key_id="key-bench",
        request_id=f"req-{i:08d}",
        requested_model="auto",
        served_model="openrouter/meta-llama/llama-3.3-70b-instruct:free",
        provider="openrouter",
        prompt_tokens=412,
        completion_tokens=187,
        cost_usd=0.0,
        baseline_cost_usd=0.000174,
        latency_ms=843.2,
        ttft_ms=211.7,
        attempts=1,
        status=Status.OK,
        complexity=0.41,
        strategy=1,
    )


def serialise(r: UsageRecord) -> None:
    wire.usage_event(r).SerializeToString()


def per_event_us(run: Callable[[UsageRecord], None], records: list[UsageRecord]) -> float:
    started = time.perf_counter()
    for r in records:
        run(r)
    return (time.perf_counter() - started) / len(records) * 1e6


async def measure(events: int, fsync_events: int, rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {
        "memory queue": [],
        "serialise": [],
        "submit": [],
        "submit + fsync": [],
    }
    channel = grpc.aio.insecure_channel("127.0.0.1:9")  # never connected: nothing is sent
    with tempfile.TemporaryDirectory(prefix="freeway-bench-usage-") as tmp:
        for round_ in range(rounds):
            records = [record(i) for i in range(events)]
            queue: deque[UsageRecord] = deque()
            samples["memory queue"].append(per_event_us(queue.append, records))
            samples["serialise"].append(per_event_us(serialise, records))
            spool = Spool(Path(tmp) / f"submit-{round_}")
            reporter = UsageReporter(channel, spool, ReporterPolicy(batch_size=10**9))
            samples["submit"].append(per_event_us(reporter.submit, records))
            spool.close()
            synced = Spool(Path(tmp) / f"fsync-{round_}")
            reporter = UsageReporter(channel, synced, ReporterPolicy(batch_size=10**9))

            def submit_and_sync(r: UsageRecord, reporter: UsageReporter = reporter) -> None:
                reporter.submit(r)
                for fd in reporter.spool.dirty_fds():
                    os.fsync(fd)
                    os.close(fd)

            samples["submit + fsync"].append(per_event_us(submit_and_sync, records[:fsync_events]))
            synced.close()
    await channel.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--fsync-events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.events, args.fsync_events, args.rounds))
    base = figures["memory queue"]
    print(f"usage recording, µs per event (median of {args.rounds} rounds)")
    print(f"{'case':<16}{'µs/event':>10}{'vs queue':>10}")
    for name, value in figures.items():
        print(f"{name:<16}{value:>10.2f}{value / base:>9.0f}x")
    print(
        f"durable submit adds {figures['submit'] - base:.1f} µs per request;"
        f" an fsync per event would add {figures['submit + fsync'] - base:.0f} µs"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.machine(),
                "python": platform.python_version(),
                "events": args.events,
                "rounds": args.rounds,
                "us_per_event": figures,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
