"""Selection: hard constraints, strategies, load spreading — on both twins."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest

from native._common import (
    BREAKER_HALF_OPEN,
    BREAKER_OPEN,
    CAP_TOOLS,
    CAP_VISION,
    STRATEGY_CASCADE,
    STRATEGY_COST,
    STRATEGY_FREE_FIRST,
    STRATEGY_HYBRID,
    STRATEGY_LATENCY,
    STRATEGY_QUALITY,
    STRATEGY_UNSPECIFIED,
    Catalogue,
)

INF = math.inf


def catalogue(**columns: list[float]) -> Catalogue:
    n = len(next(iter(columns.values())))
    cat = Catalogue(n)
    cat.context[:] = 100_000
    cat.latency_ms[:] = 500.0
    for name, values in columns.items():
        getattr(cat, name)[:] = values
    return cat


def pick(
    kernel: ModuleType,
    cat: Catalogue,
    strategy: int = STRATEGY_FREE_FIRST,
    score: float = 0.5,
    k: int = 10,
    hybrid: tuple[float, float, float, float] | None = None,
    **kw: float,
) -> list[int]:
    ranked = kernel.select(
        score,
        cat,
        int(kw.get("needs", 0)),
        int(kw.get("min_context", 0)),
        kw.get("max_price", INF),
        strategy,
        k,
        int(kw.get("seed", 1)),
        hybrid,
    )
    assert ranked.dtype == np.int32
    return [int(i) for i in ranked]


def test_hard_constraints_exclude(kernel: ModuleType) -> None:
    cat = catalogue(quality=[0.9] * 7, price_in=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    cat.price_out[:] = cat.price_in
    cat.allowed[0] = 0
    cat.breaker[1] = BREAKER_OPEN
    cat.quota_left[2] = 0.0
    cat.context[3] = 1000
    cat.caps[:] = CAP_TOOLS
    cat.caps[4] = 0
    cat.breaker[6] = BREAKER_HALF_OPEN
    assert pick(kernel, cat, STRATEGY_COST, min_context=2000, needs=CAP_TOOLS) == [5, 6]
    assert pick(kernel, cat, STRATEGY_COST, min_context=2000, max_price=6.5) == [4, 5]


def test_unknown_price_is_never_free_nor_within_a_price_cap(kernel: ModuleType) -> None:
    cat = catalogue(quality=[0.9, 0.9, 0.9], price_in=[math.nan, 2.0, 0.0])
    cat.price_out[:] = [math.nan, 2.0, 0.0]
    assert pick(kernel, cat, STRATEGY_COST) == [2, 1, 0]
    assert pick(kernel, cat, STRATEGY_COST, max_price=10.0) == [2, 1]
    cat.free[0] = 1  # an explicit free flag is what makes a model free
    assert pick(kernel, cat, STRATEGY_COST, max_price=10.0, seed=3)[0] in (0, 2)


def test_free_first_prefers_adequate_free_then_cheapest_paid_then_best(kernel: ModuleType) -> None:
    cat = catalogue(
        quality=[0.3, 0.8, 0.95, 0.7, 0.6],
        free=[1, 1, 0, 0, 0],
        price_in=[0.0, 0.0, 10.0, 1.0, 0.5],
        price_out=[0.0, 0.0, 30.0, 2.0, 1.0],
    )
    assert pick(kernel, cat, score=0.5) == [1, 4, 3, 2, 0]
    # a harder prompt: the free 0.8 model is no longer adequate, paid adequate come first
    assert pick(kernel, cat, score=0.9) == [2, 1, 3, 4, 0]
    assert pick(kernel, cat, STRATEGY_UNSPECIFIED, score=0.9) == [2, 1, 3, 4, 0]


def test_cost_quality_latency_orders(kernel: ModuleType) -> None:
    cat = catalogue(
        quality=[0.5, 0.9, 0.7],
        price_in=[1.0, 5.0, 3.0],
        price_out=[1.0, 5.0, 3.0],
        latency_ms=[900.0, 100.0, math.nan],
    )
    assert pick(kernel, cat, STRATEGY_COST) == [0, 2, 1]
    assert pick(kernel, cat, STRATEGY_QUALITY) == [1, 2, 0]
    assert pick(kernel, cat, STRATEGY_LATENCY) == [1, 0, 2]


def test_hybrid_weights_move_the_choice(kernel: ModuleType) -> None:
    cat = catalogue(quality=[0.5, 0.95], price_in=[0.1, 20.0], price_out=[0.1, 20.0])
    assert pick(kernel, cat, STRATEGY_HYBRID, hybrid=(1.0, 0.0, 0.0, 0.0)) == [0, 1]
    assert pick(kernel, cat, STRATEGY_HYBRID, hybrid=(0.0, 1.0, 0.0, 0.0)) == [1, 0]
    with pytest.raises(ValueError, match="hybrid"):
        pick(kernel, cat, STRATEGY_HYBRID, hybrid=(1.0, -1.0, 0.0, 0.0))


def test_cascade_starts_cheap_and_escalates_quality(kernel: ModuleType) -> None:
    cat = catalogue(
        quality=[0.9, 0.4, 0.6, 0.5, 0.95],
        price_in=[5.0, 0.1, 1.0, 2.0, 10.0],
        price_out=[5.0, 0.1, 1.0, 2.0, 10.0],
    )
    assert pick(kernel, cat, STRATEGY_CASCADE) == [1, 2, 0, 4]
    assert pick(kernel, cat, STRATEGY_CASCADE, k=2) == [1, 2]


def test_k_bounds_the_list_and_nothing_fits_gives_empty(kernel: ModuleType) -> None:
    cat = catalogue(quality=[0.5] * 4, price_in=[1.0, 2.0, 3.0, 4.0], price_out=[1.0] * 4)
    assert len(pick(kernel, cat, STRATEGY_COST, k=2)) == 2
    assert pick(kernel, cat, STRATEGY_COST, k=0) == []
    assert pick(kernel, cat, STRATEGY_COST, needs=CAP_VISION) == []
    assert pick(kernel, Catalogue(0), STRATEGY_COST) == []


def test_near_equal_candidates_spread_by_load_deterministically(kernel: ModuleType) -> None:
    n = 8
    cat = catalogue(quality=[0.9] * n, free=[1] * n)
    cat.load[:] = [5.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    firsts = [pick(kernel, cat, seed=s)[0] for s in range(200)]
    assert firsts == [pick(kernel, cat, seed=s)[0] for s in range(200)]  # same seed, same pick
    counts = np.bincount(firsts, minlength=n)
    # model 1 (idle) wins every draw it is part of: about 2/8 of them, far more than the rest
    assert counts[1] == max(counts)
    assert counts[1] > 30
    assert len(set(firsts)) > 3


def test_far_apart_candidates_are_not_spread(kernel: ModuleType) -> None:
    cat = catalogue(quality=[0.6, 0.95], free=[1, 1])
    cat.load[:] = [0.0, 100.0]
    assert {pick(kernel, cat, seed=s)[0] for s in range(50)} == {1}


def test_free_first_spares_scarce_free_quota(kernel: ModuleType) -> None:
    cat = catalogue(quality=[0.9, 0.8, 0.7, 0.6], free=[1, 1, 1, 1])
    cat.quota_left[:] = [0.5, math.nan, 1.0, math.inf]
    # unknown (NaN) and unlimited (inf) quotas count as untouched; the best model has spent
    # half of its quota, so it ranks as a 0.4 one and the others go first while they can
    assert pick(kernel, cat, score=0.3) == [1, 2, 3, 0]
    cat.quota_left[0] = 0.95  # barely touched: the best model leads again
    assert pick(kernel, cat, score=0.3) == [0, 1, 2, 3]
    cat.quota_left[0] = 0.0  # used up: never chosen
    assert 0 not in pick(kernel, cat, score=0.3)


def test_scarce_quota_never_makes_a_model_inadequate(kernel: ModuleType) -> None:
    # the only model that can do a hard prompt is chosen however little quota it has left
    cat = catalogue(quality=[0.95, 0.5], free=[1, 1])
    cat.quota_left[:] = [0.01, 1.0]
    assert pick(kernel, cat, score=0.9) == [0, 1]


def test_bad_arguments_name_the_field(kernel: ModuleType) -> None:
    cat = catalogue(quality=[0.5])
    with pytest.raises(ValueError, match="strategy"):
        pick(kernel, cat, 99)
    with pytest.raises(ValueError, match="score"):
        pick(kernel, cat, score=math.nan)
    with pytest.raises(ValueError, match="max_price"):
        pick(kernel, cat, max_price=math.nan)


def test_catalogue_columns_are_written_in_place() -> None:
    cat = Catalogue(3)
    cat.quality[:] = [0.1, 0.2, 0.3]
    assert cat.quality.dtype == np.float64
    assert [str(cat.context.dtype), str(cat.caps.dtype), str(cat.free.dtype)] == [
        "int64",
        "uint32",
        "uint8",
    ]
    assert np.isinf(cat.quota_left).all()
    assert cat.allowed.tolist() == [1, 1, 1]
    with pytest.raises(AttributeError):
        cat.quality = np.zeros(3)
