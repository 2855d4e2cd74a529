"""Latency histograms: bins, and how close percentiles from bins come to the exact ones."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from services.analytics import histogram


def exact(values: list[float], p: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def test_bins_double_every_three() -> None:
    assert histogram.bin_of(0.0) == 0
    assert histogram.bin_of(0.999) == 0
    assert histogram.bin_of(1.0) == 1
    assert histogram.bin_of(2.0) == 4
    assert histogram.bin_of(1000.0) == 30
    assert histogram.bin_of(2.0**20) == histogram.BINS - 1
    assert histogram.bin_of(1e12) == histogram.BINS - 1


@pytest.mark.parametrize("shape", ["lognormal", "bimodal", "uniform"])
def test_percentiles_from_bins_are_within_one_bin_and_close(shape: str) -> None:
    rng = random.Random(7)
    draws: dict[str, Callable[[], float]] = {
        "lognormal": lambda: rng.lognormvariate(math.log(400), 0.8),
        "bimodal": lambda: rng.choice([rng.gauss(80, 5), rng.gauss(2500, 300)]),
        "uniform": lambda: rng.uniform(1, 30_000),
    }
    draw = draws[shape]
    values = [max(draw(), 0.01) for _ in range(20_000)]
    counts = histogram.empty()
    for v in values:
        counts[histogram.bin_of(v)] += 1
    for p in (50, 90, 95, 99, 99.9):
        estimate, truth = histogram.percentile(counts, p), exact(values, p)
        assert histogram.bin_of(estimate) == histogram.bin_of(truth) or math.isclose(
            estimate, histogram.EDGES[histogram.bin_of(truth)], rel_tol=1e-9
        )
        error = abs(estimate - truth) / truth
        assert error < 2 ** (1 / 3) - 1  # never worse than one bin
        if shape == "lognormal":  # what latencies look like: a per cent or so
            assert error < 0.02, (p, estimate, truth)


def test_empty_and_single_values() -> None:
    assert histogram.percentile(histogram.empty(), 50) == 0.0
    one = histogram.empty()
    one[histogram.bin_of(300.0)] = 1
    assert 2 ** (24 / 3) <= histogram.percentile(one, 50) < 2 ** (25 / 3)
    slowest = histogram.empty()
    slowest[-1] = 3
    assert histogram.percentile(slowest, 99) == histogram.EDGES[-1]


def test_histograms_add_bin_by_bin() -> None:
    a, b = histogram.empty(), histogram.empty()
    a[3], b[3], b[10] = 2, 5, 1
    histogram.add(a, b)
    assert (a[3], a[10], sum(a)) == (7, 1, 8)


def test_metrics_fields_are_the_rollup_columns_in_order() -> None:
    from dataclasses import fields

    from services.analytics.metrics import SCALARS, Metrics

    assert [f.name for f in fields(Metrics)] == [*SCALARS, "latency", "ttft"]
    m = Metrics.of(list(range(len(SCALARS))), [1] * histogram.BINS, [2] * histogram.BINS)
    assert (m.requests, m.ttft_sum_ms, m.latency[0], m.ttft[-1]) == (0, len(SCALARS) - 1, 1, 2)
