"""The twins agree on every input: scores to float tolerance, rankings exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native._common import N_DENSE, Catalogue, Weights
from tests.native.vectors import check

VECTORS = Path(__file__).with_name("vectors.json")
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_PIECES = [
    "def ",
    "return ",
    "```",
    "\n",
    "    ",
    "\t",
    "$",
    "\\frac",
    "x^2",
    " + ",
    " - ",
    "=",
    "1. ",
    "A. ",
    "- ",
    "? ",
    "prove ",
    "list ",
    "write ",
    "must ",
    "Analyse ",
    "東京",
    "é",
    "🙂",
    "\r\n",
    "12345",
    "3.14",
    "{}",
    "();",
    "--",
    "`",
    "\ud800",
    "SQL ",
]
texts = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=12)), max_size=30).map(
    "".join
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "developer"])
conversations = st.lists(st.tuples(roles, texts), max_size=5)


@st.composite
def weight_sets(draw: st.DrawFn) -> Weights:
    seed = draw(st.integers(0, 2**32 - 1))
    buckets = draw(st.sampled_from([0, 1, 64, 1024]))
    rng = np.random.default_rng(seed)
    return Weights(
        version="hypothesis",
        bias=float(rng.normal()),
        center=rng.normal(size=N_DENSE),
        scale=rng.uniform(0.1, 4.0, size=N_DENSE),
        weights=rng.normal(scale=2.0, size=N_DENSE),
        hash_weights=rng.normal(size=buckets),
    )


floats = {
    "price_in": [0.0, 0.0, 0.05, 0.5, 1.0, 3.0, 15.0, math.nan, -1.0],
    "price_out": [0.0, 0.2, 2.0, 15.0, 60.0, math.nan],
    "quality": [0.0, 0.3, 0.5, 0.5, 0.51, 0.7, 0.9, 1.0, math.nan],
    "latency_ms": [50.0, 300.0, 305.0, 2000.0, math.nan, -5.0],
    "error_rate": [0.0, 0.02, 0.3, 1.5, -0.1, math.nan],
    "quota_left": [math.inf, 5.0, 0.0, -1.0, math.nan],
    "load": [0.0, 0.0, 1.0, 2.0, 7.0, math.nan],
}


@st.composite
def catalogues(draw: st.DrawFn) -> Catalogue:
    n = draw(st.integers(0, 40))
    cat = Catalogue(n)
    for name, values in floats.items():
        getattr(cat, name)[:] = draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))
    ints = st.lists(st.sampled_from([0, 2048, 8192, 131072]), min_size=n, max_size=n)
    cat.context[:] = draw(ints)
    cat.caps[:] = draw(st.lists(st.integers(0, 15), min_size=n, max_size=n))
    for name, top in (("breaker", 2), ("free", 1), ("allowed", 1)):
        getattr(cat, name)[:] = draw(st.lists(st.integers(0, top), min_size=n, max_size=n))
    return cat


@SETTINGS
@given(
    messages=conversations,
    max_out=st.integers(-5, 200_000),
    needs=st.integers(0, 15),
    weights=weight_sets(),
)
def test_scores_agree(
    py_kernel: ModuleType,
    c_kernel: ModuleType,
    messages: list[tuple[str, str]],
    max_out: int,
    needs: int,
    weights: Weights,
) -> None:
    a = py_kernel.score(messages, max_out, needs, weights)
    b = c_kernel.score(messages, max_out, needs, weights)
    assert math.isclose(a.value, b.value, rel_tol=1e-12, abs_tol=1e-15)
    np.testing.assert_allclose(a.features, b.features, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.contributions, b.contributions, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(messages=conversations, buckets=st.sampled_from([0, 2, 256]))
def test_featurize_agrees(
    py_kernel: ModuleType, c_kernel: ModuleType, messages: list[tuple[str, str]], buckets: int
) -> None:
    dense_a, hashed_a = py_kernel.featurize(messages, 0, 0, buckets)
    dense_b, hashed_b = c_kernel.featurize(messages, 0, 0, buckets)
    np.testing.assert_array_equal(dense_a, dense_b)
    np.testing.assert_allclose(hashed_a, hashed_b, rtol=1e-12)


@SETTINGS
@given(
    cat=catalogues(),
    score=st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.9, 1.0]) | st.floats(0, 1),
    needs=st.sampled_from([0, 1, 2, 5, 15]),
    min_context=st.sampled_from([0, 1000, 8192, 200000]),
    max_price=st.sampled_from([math.inf, 0.0, 1.0, 10.0]),
    strategy=st.integers(0, 6),
    k=st.integers(-1, 12),
    seed=st.integers(-(2**70), 2**70),
    hybrid=st.none() | st.tuples(*[st.floats(0, 3)] * 4),
)
def test_rankings_agree(
    py_kernel: ModuleType,
    c_kernel: ModuleType,
    cat: Catalogue,
    score: float,
    needs: int,
    min_context: int,
    max_price: float,
    strategy: int,
    k: int,
    seed: int,
    hybrid: tuple[float, float, float, float] | None,
) -> None:
    args = (score, cat, needs, min_context, max_price, strategy, k, seed, hybrid)
    ranked = py_kernel.select(*args)
    assert ranked.tolist() == c_kernel.select(*args).tolist()
    assert len(set(ranked.tolist())) == len(ranked) <= max(k, 0)


def test_vectors_hold_for_each_twin(kernel: ModuleType) -> None:
    checks, identical, problems = check(json.loads(VECTORS.read_text()), kernel)
    assert problems == []
    assert checks > 100
    assert identical > 0
