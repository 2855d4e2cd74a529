"""Routing quality measured RouteLLM's way, for any scorer (and the two baselines).

Order prompts by score, send the top x % to the strong model, and trace the performance gap
recovered, PGR(x) = (perf(x) - perf(weak)) / (perf(strong) - perf(weak)). APGR is the area
under PGR over x in [0, 1]; CPT(p) is the smallest share of strong calls reaching PGR >= p.
Ties in a score are averaged over (the curve is linear across them). The baselines every
scorer must beat are the prompt's length and random routing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scorer.labelled import Labelled

FloatArray = npt.NDArray[np.float64]
ROUTERS = ("scorer", "length", "random")


@dataclass
class Quality:
    """Routing quality of one scorer on one set of prompts."""

    apgr: float
    cpt50: float
    cpt80: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"apgr": self.apgr, "cpt50": self.cpt50, "cpt80": self.cpt80, "n": self.n}


def pgr_curve(
    scores: FloatArray, strong: FloatArray, weak: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(share of strong calls, PGR) at each change of score, highest scores routed first."""
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    gain = (strong - weak)[order]
    n = ordered.size
    ends = np.concatenate([[0], np.flatnonzero(np.diff(ordered) != 0) + 1, [n]])
    cumulative = np.concatenate([[0.0], np.cumsum(gain)])[ends]
    total = float(gain.sum())
    if n == 0 or total <= 0.0:
        return ends / max(n, 1), np.full(ends.size, math.nan)
    return ends / n, cumulative / total


def quality(scores: FloatArray, strong: FloatArray, weak: FloatArray) -> Quality:
    """APGR and CPT(50 %) / CPT(80 %) of routing by ``scores`` (higher = strong)."""
    x, pgr = pgr_curve(scores, strong, weak)
    area = float(np.sum((pgr[1:] + pgr[:-1]) * np.diff(x)) / 2.0)
    return Quality(area, _crossing(x, pgr, 0.5), _crossing(x, pgr, 0.8), int(scores.size))


def _crossing(x: FloatArray, pgr: FloatArray, level: float) -> float:
    hits = np.flatnonzero(pgr >= level)
    if hits.size == 0:
        return math.nan
    j = int(hits[0])
    if j == 0:
        return float(x[0])
    x0, x1, p0, p1 = x[j - 1], x[j], pgr[j - 1], pgr[j]
    return float(x0 + (x1 - x0) * (level - p0) / (p1 - p0))


def random_quality(
    strong: FloatArray, weak: FloatArray, draws: int = 200, seed: int = 0
) -> Quality:
    """The mean quality of random routing over ``draws`` random orders."""
    rng = np.random.default_rng(seed)
    runs = [quality(rng.random(strong.size), strong, weak) for _ in range(draws)]
    return Quality(
        float(np.mean([r.apgr for r in runs])),
        float(np.nanmean([r.cpt50 for r in runs])),
        float(np.nanmean([r.cpt80 for r in runs])),
        int(strong.size),
    )


def outcomes(examples: Sequence[Labelled]) -> tuple[FloatArray, FloatArray, npt.NDArray[np.str_]]:
    """(strong performance, weak performance, source) of every example, as arrays."""
    strong = np.array([e.strong for e in examples], dtype=np.float64)
    weak = np.array([e.weak for e in examples], dtype=np.float64)
    return strong, weak, np.array([e.source for e in examples])


def length_of(examples: Sequence[Labelled]) -> FloatArray:
    return np.array([e.chars for e in examples], dtype=np.float64)


def report_scores(examples: Sequence[Labelled], scored: FloatArray) -> dict[str, Any]:
    """The quality table for given scorer outputs, beside prompt length and random."""
    length = length_of(examples)
    strong, weak, sources = outcomes(examples)
    table: dict[str, Any] = {}
    for source in [*sorted(set(sources.tolist())), "all"]:
        mask = np.ones(len(examples), bool) if source == "all" else sources == source
        s, w = strong[mask], weak[mask]
        table[source] = {
            "n": int(mask.sum()),
            "strong_perf": float(s.mean()),
            "weak_perf": float(w.mean()),
            "scorer": quality(scored[mask], s, w).as_dict(),
            "length": quality(length[mask], s, w).as_dict(),
            "random": random_quality(s, w).as_dict(),
        }
    return table


def format_table(table: dict[str, Any]) -> str:
    lines = [
        f"{'set':<10}{'n':>6}  {'router':<8}{'APGR':>8}{'CPT(50%)':>10}{'CPT(80%)':>10}",
    ]
    for source, row in table.items():
        for i, router in enumerate(("scorer", "length", "random")):
            q = row[router]
            lines.append(
                f"{source if i == 0 else '':<10}{row['n'] if i == 0 else '':>6}  {router:<8}"
                f"{q['apgr']:>8.3f}{_pct(q['cpt50']):>10}{_pct(q['cpt80']):>10}"
            )
    return "\n".join([*lines, *losses(table)])


def losses(table: dict[str, Any]) -> list[str]:
    """One plain line per set where the scorer does not beat a baseline (or "none")."""
    lines = []
    for source, row in table.items():
        mine = row["scorer"]["apgr"]
        beaten = [
            f"{router} {row[router]['apgr']:.3f}"
            for router in ROUTERS[1:]
            if not mine > row[router]["apgr"]
        ]
        if beaten:
            lines.append(f"LOSES on {source}: scorer {mine:.3f} is not above {', '.join(beaten)}")
    return lines or ["the scorer beats prompt length and random routing on every set"]


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"
