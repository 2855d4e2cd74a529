"""Latency histograms with fixed, log-spaced bins: what every rollup row keeps of its
latencies and times to first token, so that percentiles survive aggregation.

Bin 0 holds [0, 1 ms); bin k (1..60) holds [2^((k-1)/3), 2^(k/3)) ms, three bins per
doubling up to 2^20 ms (about 17.5 minutes); bin 61 holds everything slower. Histograms of
any two buckets add bin by bin, so an hour's percentiles come from its minutes' rollups, a
month's from its days'. An estimate always lies in the same bin as the true value (the
nearest-rank percentile), so it is off by at most one bin's width, a factor of 2^(1/3)
(26 %). Interpolating geometrically inside the bin makes it about 1 % on a log-normal
latency curve, and up to ~12 % where values bunch at one end of a bin
(tests/unit/analytics/test_histogram.py measures both).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

BINS_PER_DOUBLING = 3
DOUBLINGS = 20
EDGES: tuple[float, ...] = tuple(2 ** (k / BINS_PER_DOUBLING) for k in range(61))
BINS = len(EDGES) + 1  # 62


def bin_of(ms: float) -> int:
    """The bin of a duration in milliseconds."""
    return bisect_right(EDGES, ms)


def bins_of(values: Iterable[float]) -> list[int]:
    return [bisect_right(EDGES, v) for v in values]


def empty() -> list[int]:
    return [0] * BINS


def add(into: list[int], other: Sequence[int]) -> None:
    """`into += other`, bin by bin."""
    for i, count in enumerate(other):
        if count:
            into[i] += count


def percentile(counts: Sequence[int], p: float) -> float:
    """The `p`-th percentile (0 < p <= 100) of the durations counted in `counts`, in ms;
    0.0 when nothing was counted."""
    return percentiles(counts, (p,))[0]


def percentiles(counts: Sequence[int], ps: Sequence[float]) -> list[float]:
    """`percentile` for each of `ps`, reading the histogram once."""
    if not any(counts):
        return [0.0] * len(ps)
    cumulative = list(accumulate(counts))
    total = cumulative[-1]
    out = []
    for p in ps:
        rank = p / 100 * total
        index = min(bisect_left(cumulative, rank), BINS - 1)  # the first bin reaching rank
        seen = cumulative[index] - counts[index]
        out.append(_inside(index, (rank - seen) / counts[index] if counts[index] else 1.0))
    return out


def _inside(index: int, fraction: float) -> float:
    """The duration `fraction` of the way through bin `index` (geometric, as the bins are)."""
    if index == 0:
        return EDGES[0] * fraction
    if index >= len(EDGES):
        return EDGES[-1]  # open-ended: the last edge is all that is known
    low, high = EDGES[index - 1], EDGES[index]
    return float(low * (high / low) ** fraction)
