"""Catalog parsing and delta detection, measured in one run.

Cases (median of repeated runs, wall clock, one process):

- parse of the largest recorded OpenRouter and Hugging Face model-list bodies (bytes in,
  records out: JSON decoding, format detection, normalisation, free classification);
- parse of the whole recorded corpus (every body vendored in data/providers);
- delta of two 10,000-model snapshots (fresh record objects on both sides, as after a
  real poll; 1 % changed, 0.5 % added, 0.5 % removed);
- WatchCatalog fan-out over real gRPC: one change, 1,000 subscribers, until all have it
  (p50 and max over the repetitions; see bench/catalog_fanout.py).

Aims from issue 3: corpus < 1 s, delta of 10,000 models < 20 ms, fan-out to 1,000
subscribers < 100 ms. Prints a table and writes bench/results/catalog.json.

    python -m bench.catalog [--repeat 15] [--subscribers 1000] [--fanout-repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import catalog_fanout
from services.catalog.delta import diff
from services.catalog.formats import LOCAL_FORMATS, parse_models
from services.catalog.freeness import FreePolicy, classify
from services.catalog.records import ModelRecord
from tests import corpus as vendored

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DELTA_MODELS = 10_000


@dataclass
class Case:
    name: str
    items: int  # models parsed or compared
    median_ms: float
    best_ms: float
    aim_ms: float | None = None
    max_ms: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def us_per_item(self) -> float:
        return self.median_ms * 1000 / self.items if self.items else 0.0

    @property
    def meets_aim(self) -> bool | None:
        return None if self.aim_ms is None else self.median_ms < self.aim_ms


def timed(run: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    """(items, median ms, best ms) of ``repeat`` runs after one warm-up run."""
    items = run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return items, statistics.median(samples), min(samples)


def parse_and_classify(body: bytes, provider: str) -> list[ModelRecord]:
    result = parse_models(body, provider)
    policy = FreePolicy(mode="local") if result.format in LOCAL_FORMATS else FreePolicy()
    return [classify(record, policy) for record in result.records]


def corpus() -> list[tuple[str, bytes]]:
    """(provider, body) of every recorded model-list body in data/providers, by name."""
    recorded = vendored.files("providers")
    names = sorted(n for n in recorded if not n.endswith(".nock.json"))
    return [(name.split("/", 1)[0], recorded[name]) for name in names]


def largest(bodies: list[tuple[str, bytes]], provider: str) -> bytes:
    return max((b for p, b in bodies if p == provider), key=len)


def body_case(name: str, provider: str, body: bytes, repeat: int) -> Case:
    items, median, best = timed(lambda: len(parse_and_classify(body, provider)), repeat)
    return Case(f"{name} ({len(body) // 1024} KiB)", items, median, best)


def corpus_case(bodies: list[tuple[str, bytes]], repeat: int) -> Case:
    def run() -> int:
        return sum(len(parse_and_classify(body, provider)) for provider, body in bodies)

    items, median, best = timed(run, max(3, repeat // 3))
    return Case(f"whole corpus ({len(bodies)} bodies)", items, median, best, aim_ms=1000.0)


def snapshots(
    bodies: list[tuple[str, bytes]],
) -> tuple[dict[str, ModelRecord], dict[str, ModelRecord]]:
    """Two 10,000-model snapshots built from real records, fresh objects on each side."""
    seed = [r for provider, body in bodies for r in parse_and_classify(body, provider)]
    old: dict[str, ModelRecord] = {}
    new: dict[str, ModelRecord] = {}
    for n in range(DELTA_MODELS):
        record = seed[n % len(seed)]
        model_id = f"{record.id}#{n}"
        old[model_id] = dataclasses.replace(record, id=model_id)
        new[model_id] = dataclasses.replace(record, id=model_id)
        if n % 100 == 0:
            new[model_id] = dataclasses.replace(new[model_id], context_window=n + 1, is_free=False)
    for n in range(0, DELTA_MODELS, 200):
        del new[f"{seed[n % len(seed)].id}#{n}"]
        new[f"added#{n}"] = dataclasses.replace(seed[n % len(seed)], id=f"added#{n}")
    return old, new


def delta_case(bodies: list[tuple[str, bytes]], repeat: int) -> Case:
    old, new = snapshots(bodies)
    items, median, best = timed(lambda: len(diff(old, new)), repeat * 2)
    return Case(
        f"delta of {DELTA_MODELS:,} models ({items} changes)",
        DELTA_MODELS,
        median,
        best,
        aim_ms=20.0,
    )


def fanout_cases(bodies: list[tuple[str, bytes]], subscribers: int, repeat: int) -> list[Case]:
    """The fan-out run, as one case per measure (only change → all carries the aim)."""
    body = largest(bodies, "openrouter")
    with tempfile.TemporaryDirectory(prefix="freeway-fanout-") as data_dir:
        run = asyncio.run(catalog_fanout.run(body, Path(data_dir), subscribers, repeat))
    summary = run.summary()
    names = {
        "change_to_all_ms": (f"fan-out: change → all {subscribers:,} subscribers", 100.0),
        "first_to_last_ms": ("fan-out: first → last subscriber", None),
        "refresh_to_all_ms": ("fan-out: RefreshProvider → all (poll included)", None),
    }
    return [
        Case(
            name,
            subscribers,
            summary[key]["p50_ms"],
            summary[key]["min_ms"],
            aim_ms=aim,
            max_ms=summary[key]["max_ms"],
            detail={"samples_ms": run.column(key), "catalogue_models": run.models},
        )
        for key, (name, aim) in names.items()
    ]


def table(cases: list[Case]) -> str:
    lines = [
        f"{'case':<52} {'items':>7} {'median ms':>10} {'best ms':>9} {'max ms':>8}"
        f" {'µs/item':>8}  aim"
    ]
    for c in cases:
        aim = "" if c.aim_ms is None else f"< {c.aim_ms:g} ms {'ok' if c.meets_aim else 'MISSED'}"
        worst = "" if c.max_ms is None else f"{c.max_ms:.2f}"
        lines.append(
            f"{c.name:<52} {c.items:>7} {c.median_ms:>10.2f} {c.best_ms:>9.2f} {worst:>8} "
            f"{c.us_per_item:>8.2f}  {aim}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog", description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--fanout-repeat", type=int, default=7)
    args = parser.parse_args(argv)
    bodies = corpus()
    cases = [
        body_case(
            "parse largest OpenRouter body",
            "openrouter",
            largest(bodies, "openrouter"),
            args.repeat,
        ),
        body_case(
            "parse largest Hugging Face body",
            "huggingface",
            largest(bodies, "huggingface"),
            args.repeat,
        ),
        corpus_case(bodies, args.repeat),
        delta_case(bodies, args.repeat),
        *fanout_cases(bodies, args.subscribers, args.fanout_repeat),
    ]
    print(table(cases))
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeat": args.repeat,
        "fanout_repeat": args.fanout_repeat,
        "cases": [
            {**asdict(c), "us_per_item": round(c.us_per_item, 3), "meets_aim": c.meets_aim}
            for c in cases
        ],
    }
    (RESULTS / "catalog.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
