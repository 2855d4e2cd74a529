"""Fit the scorer's weights: logistic regression over the kernel's features, in numpy.

The scorer predicts that the strong model is needed from the kernel's features (dense +
hashed words and word pairs): plain numpy L-BFGS, L2-regularised, hyper-parameters chosen
by cross-validation on the training part. Prompts are split by a hash of their text into
train+validation (85 %) and a test part (15 %) the weights never see.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from native import kernel
from native._common import DENSE_FEATURE_NAMES, N_DENSE, Weights
from native.vectors import Stored
from scorer.labelled import STRONG, WEAK, DataError, Example, Labelled
from scorer.quality import FloatArray, outcomes, quality, report_scores
from scorer.usage import SOURCE as USAGE_SOURCE
from scorer.usage import VectorExample

IntArray = npt.NDArray[np.int64]
SPLIT_SEED = "freeway-router-v1"
TEST_SHARE = 15  # percent of prompts held out for the final report
FOLDS = 4

# Hand-set weights (in calibrated-logit units per unit of feature) for features the
# labelled sets cannot teach: every prompt there is text-only with no stated output size.
PRIORS: dict[str, tuple[float, float]] = {  # name: (center, weight)
    "needs_tools": (0.0, 0.5),
    "needs_vision": (0.0, 0.5),
    "needs_json": (0.0, 0.25),
    "needs_reasoning": (0.0, 1.5),
    "log_max_output": (math.log1p(1024), 0.3),
    "has_system": (0.0, 0.0),
}


# The dense weights shrink toward this prior (logit per standard deviation of the feature)
# rather than toward zero: where the labelled sets say nothing — they are mostly
# multiple-choice and maths questions — a prompt that looks harder should score higher.
DENSE_PRIOR: dict[str, float] = {
    "log_chars": 0.3,
    "log_last_user_chars": 0.2,
    "code_fences": 0.15,
    "code_indent": 0.05,
    "code_syntax": 0.05,
    "code_keywords": 0.15,
    "math_digits": 0.05,
    "math_operators": 0.1,
    "math_latex": 0.15,
    "math_keywords": 0.15,
    "reasoning_cues": 0.25,
    "simple_cues": -0.2,
    "constraint_cues": 0.1,
    "questions": 0.05,
    "list_items": 0.1,
    "conv_turns": 0.1,
}


def prior_vector() -> FloatArray:
    return np.array([DENSE_PRIOR.get(name, 0.0) for name in DENSE_FEATURE_NAMES])


def bucket_of(example: Labelled, seed: str = SPLIT_SEED) -> int:
    """A stable 0..99 bucket from the example's split key (a prompt's opening message, a
    usage row's event id): the split never depends on file order, and the later turns of
    one conversation fall on the same side as its first (an MT-Bench second turn replays
    the first, so splitting them would leak)."""
    text = example.split_key
    digest = hashlib.sha256(f"{seed}\x1d{text}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") % 100


def is_test(example: Labelled, seed: str = SPLIT_SEED) -> bool:
    return bucket_of(example, seed) < TEST_SHARE


@dataclass
class Design:
    """Model inputs: dense features (n × N_DENSE) and the hashed part as sparse triples."""

    dense: FloatArray
    rows: IntArray
    cols: IntArray
    vals: FloatArray
    buckets: int

    @property
    def n(self) -> int:
        return int(self.dense.shape[0])

    def take(self, index: npt.NDArray[np.int64]) -> Design:
        """The sub-design of the given example indices (in that order)."""
        position = np.full(self.n, -1, dtype=np.int64)
        position[index] = np.arange(index.size)
        keep = position[self.rows] >= 0
        return Design(
            self.dense[index],
            position[self.rows[keep]],
            self.cols[keep],
            self.vals[keep],
            self.buckets,
        )

    def hashed_dot(self, w: FloatArray) -> FloatArray:
        """The hashed part times ``w``: one value per example."""
        product = np.bincount(self.rows, self.vals * w[self.cols], minlength=self.n)
        return product.astype(np.float64, copy=False)

    def hashed_t_dot(self, r: FloatArray) -> FloatArray:
        """The hashed part, transposed, times ``r``: one value per bucket."""
        product = np.bincount(self.cols, self.vals * r[self.rows], minlength=self.buckets)
        return product.astype(np.float64, copy=False)


def featurize_all(examples: Sequence[Labelled], buckets: int) -> Design:
    """Every example's model inputs: the kernel's featurizer over a prompt's text, or the
    stored vector of a usage row (folded to ``buckets``), which is the same thing."""
    dense = np.empty((len(examples), N_DENSE))
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    for i, example in enumerate(examples):
        dense[i], nz, values = _inputs(example, buckets)
        rows.append(np.full(nz.size, i, dtype=np.int64))
        cols.append(nz)
        vals.append(values)
    return Design(
        dense,
        np.concatenate(rows) if rows else np.zeros(0, np.int64),
        np.concatenate(cols) if cols else np.zeros(0, np.int64),
        np.concatenate(vals) if vals else np.zeros(0),
        buckets,
    )


def _inputs(example: Labelled, buckets: int) -> tuple[FloatArray, IntArray, FloatArray]:
    """(dense features, non-zero hashed buckets, their values) of one example."""
    if isinstance(example, VectorExample):
        folded, values = example.stored.folded(buckets)
        return example.stored.dense, folded, values
    if not isinstance(example, Example):
        raise TypeError(f"not a labelled example: {type(example).__name__}")
    dense, hashed = kernel.featurize(list(example.messages), 0, 0, buckets)
    nz = (hashed != 0.0).nonzero()[0].astype(np.int64)
    return dense, nz, hashed[nz]


@dataclass(frozen=True)
class Hyper:
    """One point of the hyper-parameter grid."""

    l2_dense: float
    l2_hash: float
    target: str  # "hard": strong right and weak wrong; "soft": (gain + 1) / 2
    balance: float  # each source's total weight grows as n ** balance
    prior: bool = True  # shrink dense weights toward DENSE_PRIOR (else toward 0)


def targets(examples: Sequence[Labelled], kind: str) -> FloatArray:
    """The label the regression fits: how much routing this prompt to strong gains."""
    gain = np.array([e.strong - e.weak for e in examples])
    if kind == "hard":
        return (gain > 0.25).astype(np.float64)
    return (gain + 1.0) / 2.0


def sample_weights(examples: Sequence[Labelled], balance: float) -> FloatArray:
    sources = [e.source for e in examples]
    counts = {s: sources.count(s) for s in set(sources)}
    w = np.array([counts[s] ** (balance - 1.0) for s in sources], dtype=np.float64)
    w *= np.array([e.weight for e in examples], dtype=np.float64)
    normalised: FloatArray = w * (len(w) / w.sum())
    return normalised


def lbfgs(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    x0: FloatArray,
    iterations: int = 3000,
    memory: int = 12,
    tol: float = 1e-5,
) -> FloatArray:
    """Minimise a smooth convex objective with L-BFGS and Armijo backtracking."""
    x = x0.copy()
    f, g = objective(x)
    steps: list[tuple[FloatArray, FloatArray, float]] = []
    for _ in range(iterations):
        d = -_two_loop(g, steps)
        slope = float(g @ d)
        if slope >= 0.0:
            steps.clear()
            d, slope = -g, -float(g @ g)
        t = 1.0
        while True:
            x_new = x + t * d
            f_new, g_new = objective(x_new)
            if f_new <= f + 1e-4 * t * slope or t < 1e-12:
                break
            t *= 0.5
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-12:
            steps.append((s, y, 1.0 / sy))
            del steps[:-memory]
        stalled = f - f_new <= 1e-13 * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if stalled or float(np.max(np.abs(g))) < tol:
            break
    return x


def _two_loop(g: FloatArray, steps: list[tuple[FloatArray, FloatArray, float]]) -> FloatArray:
    q = g.copy()
    alphas = []
    for s, y, rho in reversed(steps):
        a = rho * float(s @ q)
        q -= a * y
        alphas.append(a)
    if steps:
        s, y, _ = steps[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y, rho), a in zip(steps, reversed(alphas), strict=True):
        q += s * (a - rho * float(y @ q))
    return q


@dataclass
class Model:
    """Fitted parameters over standardised dense features and raw hashed features."""

    bias: float
    center: FloatArray
    scale: FloatArray
    dense: FloatArray
    hashed: FloatArray

    def logits(self, design: Design) -> FloatArray:
        z = ((design.dense - self.center) / self.scale) @ self.dense + self.bias
        return z + design.hashed_dot(self.hashed)


def standardisation(dense: FloatArray) -> tuple[FloatArray, FloatArray]:
    center = dense.mean(axis=0)
    scale = dense.std(axis=0)
    constant = scale < 1e-9
    return np.where(constant, 0.0, center), np.where(constant, 1.0, scale)


def fit(design: Design, y: FloatArray, weight: FloatArray, hyper: Hyper) -> Model:
    """L2-regularised logistic regression (soft labels allowed), weighted mean log-loss."""
    center, scale = standardisation(design.dense)
    z_dense = (design.dense - center) / scale
    d, total = N_DENSE, float(weight.sum())
    prior = prior_vector() if hyper.prior else np.zeros(d)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        bias, wd, wh = theta[0], theta[1 : 1 + d], theta[1 + d :]
        z = bias + z_dense @ wd + design.hashed_dot(wh)
        loss = np.logaddexp(0.0, z) - y * z
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        r = weight * (p - y) / total
        value = float(weight @ loss) / total
        off = wd - prior
        value += 0.5 * (hyper.l2_dense * float(off @ off) + hyper.l2_hash * float(wh @ wh))
        grad = np.concatenate(
            [
                [r.sum()],
                z_dense.T @ r + hyper.l2_dense * off,
                design.hashed_t_dot(r) + hyper.l2_hash * wh,
            ]
        )
        return value, grad

    theta = lbfgs(objective, np.zeros(1 + d + design.buckets))
    return Model(float(theta[0]), center, scale, theta[1 : 1 + d], theta[1 + d :])


@dataclass
class FitResult:
    weights: Weights
    hyper: Hyper
    cv: dict[str, float]
    report: dict[str, Any] = field(default_factory=dict)


GRID = [
    Hyper(l2_dense, l2_hash, target, balance)
    for target in ("soft", "hard")
    for balance in (1.0, 0.5)
    for l2_dense in (0.01, 0.1)
    for l2_hash in (1e-3, 3e-3)
]


def _folds(examples: Sequence[Labelled], folds: int) -> npt.NDArray[np.int64]:
    return np.array([bucket_of(e, SPLIT_SEED + "/cv") % folds for e in examples])


def _macro(scores: FloatArray, examples: Sequence[Labelled]) -> float:
    """Mean APGR over the sources with at least 50 prompts (the criterion for the grid)."""
    strong, weak, sources = outcomes(examples)
    values = []
    for source in sorted(set(sources.tolist())):
        mask = sources == source
        if mask.sum() >= 50:
            values.append(quality(scores[mask], strong[mask], weak[mask]).apgr)
    return float(np.nanmean(values)) if values else math.nan


def cross_validate(
    examples: Sequence[Labelled], design: Design, grid: Sequence[Hyper], folds: int = FOLDS
) -> dict[Hyper, float]:
    """Out-of-fold macro APGR of each grid point."""
    fold = _folds(examples, folds)
    return {
        hyper: _macro(_out_of_fold(examples, design, fold, folds, hyper), examples)
        for hyper in grid
    }


def _out_of_fold(
    examples: Sequence[Labelled],
    design: Design,
    fold: npt.NDArray[np.int64],
    folds: int,
    hyper: Hyper,
) -> FloatArray:
    """Every example's logit from a model fitted with ``hyper`` on the other folds."""
    y = targets(examples, hyper.target)
    w = sample_weights(examples, hyper.balance)
    scores = np.empty(len(examples))
    for k in range(folds):
        train, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        if train.size == 0:
            raise DataError(f"{len(examples)} prompts are too few for {folds}-fold validation")
        model = fit(design.take(train), y[train], w[train], hyper)
        scores[held] = model.logits(design.take(held))
    return scores


def calibrated_weights(
    model: Model,
    design: Design,
    examples: Sequence[Labelled],
    version: str,
    meta: dict[str, Any],
) -> Weights:
    """Weights whose score is roughly the prompt's complexity percentile.

    The percentile is taken over the training prompts with every source weighted alike
    (so thousands of multiple-choice questions do not define "typical"): the logit is
    centred on that weighted median and scaled so a logistic with the same spread maps it
    near-uniformly onto [0, 1]. Priors fill the features the data cannot teach.
    """
    z = model.logits(design)
    mix = sample_weights(examples, 0.0)  # every source counts alike, however many prompts
    middle = _weighted_median(z, mix)
    spread = math.sqrt(float(np.average((z - np.average(z, weights=mix)) ** 2, weights=mix)))
    a = math.pi / (math.sqrt(3.0) * max(spread, 1e-9))
    center, scale = model.center.copy(), model.scale.copy()
    dense = model.dense * a
    for name, (prior_center, weight) in PRIORS.items():
        i = DENSE_FEATURE_NAMES.index(name)
        if np.ptp(design.dense[:, i]) == 0.0:
            center[i], scale[i], dense[i] = prior_center, 1.0, weight
    bias = (model.bias - middle) * a
    return Weights(version, bias, center, scale, dense, model.hashed * a, meta)


def _weighted_median(values: FloatArray, weights: FloatArray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def examples_split(examples: Sequence[Labelled]) -> tuple[list[Labelled], list[Labelled]]:
    train = [e for e in examples if not is_test(e)]
    test = [e for e in examples if is_test(e)]
    return train, test


def fit_weights(
    examples: Sequence[Labelled],
    buckets: int = 1 << 14,
    grid: Sequence[Hyper] = GRID,
    log: Callable[[str], None] = print,
) -> FitResult:
    """Choose hyper-parameters by cross-validation on the non-test part, fit, calibrate."""
    train, test = examples_split(examples)
    log(f"{len(train)} training prompts, {len(test)} held out for the test report")
    if not train:
        raise DataError("no training prompts: every prompt fell in the held-out split")
    design = featurize_all(train, buckets)
    cv = cross_validate(train, design, grid)
    for hyper, value in sorted(cv.items(), key=lambda kv: -kv[1]):
        log(f"  cv macro APGR {value:.4f}  {hyper}")
    best = max(cv, key=lambda h: cv[h])
    model = fit(design, targets(train, best.target), sample_weights(train, best.balance), best)
    sources = sorted({e.source for e in train})
    usage = sum(e.source == USAGE_SOURCE for e in examples)
    meta = {
        "fitted_on": {
            "sources": {s: sum(e.source == s for e in train) for s in sources},
            "usage_weight": next((e.weight for e in train if e.source == USAGE_SOURCE), None),
            "strong": STRONG,
            "weak": WEAK,
            "split": f"sha256('{SPLIT_SEED}' + prompt) % 100 >= {TEST_SHARE}",
            "fitted_at": time.strftime("%Y-%m-%d"),
        },
        "hyper": {
            "l2_dense": best.l2_dense,
            "l2_hash": best.l2_hash,
            "target": best.target,
            "balance": best.balance,
            "dense_prior": dict(DENSE_PRIOR) if best.prior else {},
            "cv_macro_apgr": cv[best],
        },
        "calibration": "score ~ complexity percentile among the training prompts, sources alike",
        "priors": {name: {"center": c, "weight": w} for name, (c, w) in PRIORS.items()},
    }
    version = f"fit-{time.strftime('%Y%m%d')}-b{buckets}" + (f"-u{usage}" if usage else "")
    weights = calibrated_weights(model, design, train, version, meta)
    return FitResult(weights, best, {str(h): v for h, v in cv.items()})


def score_examples(examples: Sequence[Labelled], weights: Weights) -> FloatArray:
    return np.array([_score_one(e, weights) for e in examples])


def _score_one(example: Labelled, weights: Weights) -> float:
    if isinstance(example, VectorExample):
        return score_stored(example.stored, weights)
    if not isinstance(example, Example):
        raise TypeError(f"not a labelled example: {type(example).__name__}")
    return kernel.score(list(example.messages), 0, 0, weights).value


def score_stored(stored: Stored, weights: Weights) -> float:
    """What the kernel's score gives the prompt behind a stored vector (same sum, same
    logistic): contributions over the dense part plus the hashed part's dot product."""
    z = weights.bias + float(((stored.dense - weights.center) / weights.scale) @ weights.weights)
    if weights.hash_buckets:
        folded, values = stored.folded(weights.hash_buckets)
        z += float(values @ weights.hash_weights[folded])
    return 0.5 * (1.0 + math.tanh(0.5 * z))


def hyper_of(weights: Weights) -> Hyper:
    """The hyper-parameters a weights file was fitted with (the grid's first if unknown)."""
    saved = weights.meta.get("hyper")
    if not isinstance(saved, dict):
        return GRID[0]
    try:
        return Hyper(
            float(saved["l2_dense"]),
            float(saved["l2_hash"]),
            str(saved["target"]),
            float(saved["balance"]),
            bool(saved.get("dense_prior", True)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise kernel.WeightsError(
            f"weights {weights.version}: hyper: missing or bad field ({exc})"
        ) from None


def cross_validated(
    examples: Sequence[Labelled], hyper: Hyper, buckets: int, folds: int = 5
) -> dict[str, Any]:
    """Every prompt scored by a model fitted (same recipe) on the other folds.

    Less noisy than the 15 % test split for the small sets (MT-Bench, Arena), at the price
    of measuring the recipe rather than the shipped weights.
    """
    design = featurize_all(examples, buckets)
    scores = _out_of_fold(examples, design, _folds(examples, folds), folds, hyper)
    return {"folds": folds, "hyper": str(hyper), "table": report_scores(examples, scores)}


def out_of_distribution(examples: Sequence[Labelled], hyper: Hyper, buckets: int) -> dict[str, Any]:
    """Each benchmark scored by a model fitted (same recipe) on the other benchmarks only.

    What the scorer makes of prompts unlike any it was fitted on: the question for traffic
    that is neither multiple-choice, grade-school maths nor chat-benchmark prompts.
    """
    design = featurize_all(examples, buckets)
    y = targets(examples, hyper.target)
    w = sample_weights(examples, hyper.balance)
    sources = np.array([e.source for e in examples])
    table: dict[str, Any] = {}
    for source in sorted(set(sources.tolist())):
        held = np.flatnonzero(sources == source)
        train = np.flatnonzero(sources != source)
        if train.size == 0:
            raise DataError(f"only {source!r} prompts: nothing to fit an out-of-set model on")
        model = fit(design.take(train), y[train], w[train], hyper)
        scores = model.logits(design.take(held))
        table[source] = report_scores([examples[int(i)] for i in held], scores)[source]
    return {"hyper": str(hyper), "table": table}
