"""Test vectors: fixed kernel inputs with the outputs the pure-Python twin gives them.

``python -m tests.native.vectors make OUT.json`` writes them (from ``native._kernel_py``);
``python -m tests.native.vectors check VECTORS.json [--impl c|py]`` recomputes them with one twin
and exits non-zero on any difference. The aarch64 check runs ``check`` under qemu-user, so
this module needs only the standard library, numpy and ``native``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from native._common import (
    BREAKER_CLOSED,
    BREAKER_HALF_OPEN,
    BREAKER_OPEN,
    N_DENSE,
    Catalogue,
    Weights,
    weights_from_json,
)

SCORE_RTOL = 1e-12
_FLOAT_COLUMNS = ("price_in", "price_out", "quality", "latency_ms", "error_rate", "quota_left")
_TEXTS = (
    "",
    "hi",
    "What is the capital of France?",
    "Prove that there are infinitely many primes. Use LaTeX: $p_1 p_2 \\cdots p_n + 1$.",
    "Write a Python function:\n```python\ndef f(x):\n    return x**2 + 3 * x - 1\n```\n"
    "1. explain it\n2. optimise it?",
    "Translate to French: good morning. Réponds en français s'il vous plaît — merci!",
    "東京の天気を教えてください。短く答えて。",
    "Janet's ducks lay 16 eggs per day. She eats 3 for breakfast and bakes muffins with 4. "
    "She sells the remainder for $2 each. How much does she make every day?",
    "- list item one\n- list item two\n\tindented = 1;\nA. first\nB. second\nAnswer:",
    "Design and implement a distributed rate limiter; analyse the trade-offs, compare "
    "token bucket vs sliding window, and justify the architecture. Must use Redis, at "
    "most 500 words, include a table.",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name; -- why slow?",
    "emoji 🙂🚀 and ñ, ü, ж, ع and 1234567890 digits 3.14159 + 2.71828 = 5.85987",
)


def _weights(seed: int = 7, buckets: int = 1024) -> Weights:
    rng = np.random.default_rng(seed)
    return Weights(
        version=f"vectors-{seed}",
        bias=float(rng.normal()),
        center=rng.normal(size=N_DENSE),
        scale=rng.uniform(0.2, 3.0, size=N_DENSE),
        weights=rng.normal(size=N_DENSE),
        hash_weights=rng.normal(scale=0.5, size=buckets),
    )


def _conversations() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for i, text in enumerate(_TEXTS):
        cases.append({"messages": [["user", text]], "max_output_tokens": 0, "needs": 0})
        long = (text + "\n") * (1 + 40 * (i % 3))
        cases.append({"messages": [["user", long]], "max_output_tokens": 256 * i, "needs": i % 16})
    cases.append(
        {
            "messages": [
                ["system", "You are terse."],
                ["user", _TEXTS[3]],
                ["assistant", _TEXTS[4]],
                ["user", _TEXTS[9]],
            ],
            "max_output_tokens": 4096,
            "needs": 9,
        }
    )
    return cases


def _catalogue_columns(rng: np.random.Generator, n: int) -> dict[str, list[Any]]:
    def pick(values: Sequence[float]) -> list[float]:
        return [float(values[j]) for j in rng.integers(0, len(values), size=n)]

    return {
        "price_in": pick([0.0, 0.0, 0.1, 0.5, 1.0, 3.0, 10.0, math.nan]),
        "price_out": pick([0.0, 0.2, 1.5, 4.0, 15.0, math.nan]),
        "quality": pick([0.2, 0.4, 0.5, 0.51, 0.6, 0.7, 0.8, 0.9, 0.95, math.nan]),
        "latency_ms": pick([100.0, 250.0, 255.0, 800.0, 2000.0, math.nan]),
        "error_rate": pick([0.0, 0.01, 0.1, 0.5, math.nan]),
        "quota_left": pick([math.inf, math.inf, 100.0, 0.0, math.nan]),
        "load": [float(v) for v in rng.integers(0, 5, size=n)],
        "context": [int(v) for v in rng.choice([0, 4096, 8192, 32768, 131072], size=n)],
        "max_output": [int(v) for v in rng.choice([1024, 4096, 8192], size=n)],
        "caps": [int(v) for v in rng.integers(0, 16, size=n)],
        "breaker": [
            int(v)
            for v in rng.choice(
                [BREAKER_CLOSED, BREAKER_CLOSED, BREAKER_HALF_OPEN, BREAKER_OPEN], size=n
            )
        ],
        "free": [int(v) for v in rng.integers(0, 2, size=n)],
        "allowed": [int(v) for v in rng.choice([1, 1, 1, 0], size=n)],
    }


def catalogue_from(columns: dict[str, list[Any]]) -> Catalogue:
    """A Catalogue holding the given column values."""
    cat = Catalogue(len(columns["price_in"]))
    for name, values in columns.items():
        getattr(cat, name)[:] = values
    return cat


def _queries(rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    queries = []
    for q in range(count):
        queries.append(
            {
                "score": float(rng.choice([0.0, 0.3, 0.5, 0.7, 0.95, 1.0])),
                "needs": int(rng.choice([0, 0, 1, 2, 4, 8, 5])),
                "min_context": int(rng.choice([0, 1000, 8192, 100000])),
                "max_price": float(rng.choice([math.inf, math.inf, 1.0, 5.0, 0.0])),
                "strategy": int(q % 7),
                "k": int(rng.choice([1, 3, 5, 20])),
                "seed": int(rng.integers(0, 2**63)),
                "hybrid": None if q % 2 else [float(v) for v in rng.uniform(0, 1, size=4)],
            }
        )
    return queries


def _encode(value: Any) -> Any:
    """JSON has no NaN/inf: floats are written as repr strings inside {"f": ...}."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"f": repr(value)}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"f"}:
        return float(value["f"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


def make(kernel: ModuleType) -> dict[str, Any]:
    """Inputs and the outputs ``kernel`` gives them."""
    weights = _weights()
    scores = []
    for case in _conversations():
        messages = [(role, text) for role, text in case["messages"]]
        result = kernel.score(messages, case["max_output_tokens"], case["needs"], weights)
        scores.append(
            {
                **case,
                "value": result.value,
                "features": result.features.tolist(),
                "contributions": result.contributions.tolist(),
            }
        )
    rng = np.random.default_rng(2024)
    selects = []
    for n in (1, 7, 50, 300):
        columns = _catalogue_columns(rng, n)
        cat = catalogue_from(columns)
        queries = _queries(rng, 28)
        for query in queries:
            query["expected"] = _select(kernel, cat, query)
        selects.append({"catalogue": columns, "queries": queries})
    encoded: dict[str, Any] = _encode(
        {"weights": weights.to_json(), "scores": scores, "selects": selects}
    )
    return encoded


def _select(kernel: ModuleType, cat: Catalogue, query: dict[str, Any]) -> list[int]:
    hybrid = tuple(query["hybrid"]) if query["hybrid"] is not None else None
    ranked = kernel.select(
        query["score"],
        cat,
        query["needs"],
        query["min_context"],
        query["max_price"],
        query["strategy"],
        query["k"],
        query["seed"],
        hybrid,
    )
    return [int(i) for i in ranked]


def _close(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=SCORE_RTOL, abs_tol=SCORE_RTOL)


def check(vectors: dict[str, Any], kernel: ModuleType) -> tuple[int, int, list[str]]:
    """Recompute the vectors with ``kernel``: (checks, bit-identical floats, mismatches)."""
    data = _decode(vectors)
    weights = weights_from_json(data["weights"])
    checks = identical = 0
    problems: list[str] = []
    for i, case in enumerate(data["scores"]):
        messages = [(role, text) for role, text in case["messages"]]
        got = kernel.score(messages, case["max_output_tokens"], case["needs"], weights)
        expected = [case["value"], *case["features"], *case["contributions"]]
        actual = [got.value, *got.features.tolist(), *got.contributions.tolist()]
        checks += 1
        identical += sum(a == b for a, b in zip(actual, expected, strict=True))
        bad = [j for j, (a, b) in enumerate(zip(actual, expected, strict=True)) if not _close(a, b)]
        if bad:
            problems.append(f"score case {i}: {len(bad)} values differ (first at {bad[0]})")
    for block in data["selects"]:
        cat = catalogue_from(block["catalogue"])
        for j, query in enumerate(block["queries"]):
            checks += 1
            got_rank = _select(kernel, cat, query)
            if got_rank != query["expected"]:
                problems.append(
                    f"select n={cat.n} query {j}: got {got_rank}, expected {query['expected']}"
                )
    return checks, identical, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.native.vectors")
    sub = parser.add_subparsers(dest="command", required=True)
    make_cmd = sub.add_parser("make", help="write vectors from the pure-Python twin")
    make_cmd.add_argument("out", type=Path)
    check_cmd = sub.add_parser("check", help="recompute vectors with one twin")
    check_cmd.add_argument("vectors", type=Path)
    check_cmd.add_argument("--impl", choices=("c", "py"), default="c")
    args = parser.parse_args(argv)
    if args.command == "make":
        data = make(importlib.import_module("native._kernel_py"))
        args.out.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n")
        print(f"wrote {args.out}")
        return 0
    kernel = importlib.import_module(f"native._kernel_{args.impl}")
    checks, identical, problems = check(json.loads(args.vectors.read_text()), kernel)
    for problem in problems:
        print(f"MISMATCH {problem}")
    verdict = "FAIL" if problems else "PASS"
    print(
        f"{verdict}: {checks - len(problems)}/{checks} vectors agree with native._kernel_"
        f"{args.impl}; {identical} score floats bit-identical"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
