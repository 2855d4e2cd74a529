"""Fit the scorer's weights on labelled prompts and measure routing quality, RouteLLM's way.

A labelled prompt says how well a strong and a weak model answered it (correctness, or a
judge's 1–10 grade, mapped to [0, 1]). The scorer is a logistic regression over the kernel's
features (dense + hashed words and word pairs) predicting that the strong model is needed;
plain numpy (L-BFGS), L2-regularised, hyper-parameters chosen by cross-validation on the
training part. Prompts are split by a hash of their text into train+validation (85 %) and
a test part (15 %) the weights never see; quality is reported on the test part.

Quality: order prompts by score, send the top x % to the strong model, and trace the
performance gap recovered, PGR(x) = (perf(x) - perf(weak)) / (perf(strong) - perf(weak)).
APGR is the area under PGR over x in [0, 1]; CPT(p) is the smallest share of strong calls
reaching PGR >= p. Ties in a score are averaged over (the curve is linear across them).

    python -m native.training fit [DATA...] [--out PATH]    # DATA defaults to the shared sets
    python -m native.training eval [DATA...] [--weights PATH] [--json PATH]

DATA may be RouteLLM response CSVs (a ``prompt`` column and one True/False or numeric column
per model), directories of them, RouteLLM's MT-Bench folder (question.jsonl +
judgements.jsonl), an arena-hard-auto folder with model_judgment/, or any CSV/JSONL with
``prompt`` (or ``messages`` / ``turns``) and either ``strong`` + ``weak`` scores or a 0/1
``label`` (1 = needs the strong model).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from native import kernel
from native._common import DENSE_FEATURE_NAMES, N_DENSE, Weights

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Messages = tuple[tuple[str, str], ...]

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
ARENA_STRONG = "gpt-4-turbo"
ARENA_WEAK = "Mixtral-8x7B-Instruct-v0.1"
DATA_ROOT = Path("/work/shared/data/prompts")
DEFAULT_OUT = Path(__file__).resolve().parent / "weights" / "default.json"
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "router_quality.json"
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


class DataError(ValueError):
    """A data file is missing, unreadable or lacks the columns a loader needs."""


@dataclass(frozen=True)
class Example:
    """One labelled prompt: the conversation and both models' performance in [0, 1]."""

    messages: Messages
    strong: float
    weak: float
    source: str


# ------------------------------------------------------------------ loading


def default_data(root: Path = DATA_ROOT) -> list[Path]:
    """The labelled sets shipped in the shared data folder."""
    return [
        root / "routellm" / "mmlu" / "responses",
        root / "routellm" / "gsm8k" / "gsm8k_responses.csv",
        root / "routellm" / "mt_bench",
        root / "arena-hard-auto" / "arena-bench-v1",
    ]


def load(paths: Iterable[Path], strong: str = STRONG, weak: str = WEAK) -> list[Example]:
    """Every example from the given files and folders, the first of duplicate prompts kept."""
    seen: set[Messages] = set()
    examples = []
    for path in paths:
        for example in _load_one(Path(path), strong, weak):
            if example.messages not in seen:
                seen.add(example.messages)
                examples.append(example)
    return examples


def _load_one(path: Path, strong: str, weak: str) -> list[Example]:
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / "judgements.jsonl").exists():
            return _load_mt_bench(path, strong, weak)
        if (path / "model_judgment").is_dir():
            return _load_arena(path)
        files = sorted(path.glob("*.csv")) + sorted(path.glob("*.jsonl"))
        if not files:
            raise DataError(f"{path}: no .csv or .jsonl files")
        return [e for f in files for e in _load_one(f, strong, weak)]
    if path.suffix == ".csv":
        return _load_csv(path, strong, weak)
    if path.suffix in (".jsonl", ".json"):
        return _load_jsonl(path)
    raise DataError(f"{path}: expected a .csv or .jsonl file")


def _source_name(path: Path) -> str:
    for name in ("mmlu", "gsm8k", "mt_bench", "arena"):
        if name in str(path):
            return name
    return path.stem


def _truth(value: str, where: str) -> float:
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return 1.0
    if text in ("false", "0", "no", ""):
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{where}: not a boolean or number: {value[:40]!r}") from None


def _read_text(path: Path) -> str:
    """The file's text, newlines untouched; an unreadable or non-UTF-8 file names itself."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None


def _load_csv(path: Path, strong: str, weak: str) -> list[Example]:
    csv.field_size_limit(1 << 30)
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    columns = reader.fieldnames or []
    if "prompt" not in columns:
        raise DataError(f"{path}: missing column 'prompt'")
    pair = _pick_columns(columns, strong, weak)
    if pair is None:
        raise DataError(f"{path}: needs columns {strong!r} and {weak!r}, or strong/weak/label")
    source = _source_name(path)
    examples = []
    for line, row in enumerate(reader, start=2):
        where = f"{path}:{line}"
        if None in row.values():
            raise DataError(f"{where}: fewer fields than the header's {len(columns)}")
        s, w = _performance(row, pair, where)
        examples.append(Example((("user", row["prompt"]),), s, w, source))
    return examples


def _pick_columns(columns: Sequence[str], strong: str, weak: str) -> tuple[str, str] | None:
    for pair in ((strong, weak), ("strong", "weak"), ("label", "label")):
        if pair[0] in columns and pair[1] in columns:
            return pair
    return None


def _performance(row: dict[str, Any], pair: tuple[str, str], where: str) -> tuple[float, float]:
    if pair == ("label", "label"):
        label = _truth(str(row["label"]), f"{where} label")
        return 1.0, 1.0 - label
    strong, weak = pair
    return _truth(str(row[strong]), f"{where} {strong}"), _truth(str(row[weak]), f"{where} {weak}")


def _messages_of(row: dict[str, Any], where: str) -> Messages:
    if isinstance(row.get("messages"), list):
        messages = []
        for i, message in enumerate(row["messages"]):
            if not isinstance(message, dict):
                raise DataError(f"{where}: messages[{i}]: expected an object")
            messages.append((str(message.get("role", "user")), _text(message.get("content"))))
        return tuple(messages)
    if isinstance(row.get("turns"), list) and row["turns"]:
        return (("user", str(row["turns"][0])),)
    if isinstance(row.get("prompt"), str):
        return (("user", row["prompt"]),)
    raise DataError(f"{where}: needs 'prompt', 'messages' or 'turns'")


def _text(content: object) -> str:
    """OpenAI content: a string, or a list of parts whose text parts are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _jsonl(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Each non-blank line's object with its ``path:line``; a line that is not one is named."""
    rows = []
    for line, text in enumerate(_read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{path}:{line}"
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object")
        rows.append((where, row))
    return rows


def _field(row: dict[str, Any], key: str, where: str) -> Any:
    if key not in row:
        raise DataError(f"{where}: missing field {key!r}")
    return row[key]


def _load_jsonl(path: Path) -> list[Example]:
    examples = []
    source = _source_name(path)
    for where, row in _jsonl(path):
        pair = _pick_columns(list(row), "strong", "weak")
        if pair is None:
            raise DataError(f"{where}: needs 'strong' and 'weak' scores or a 'label'")
        s, w = _performance(row, pair, where)
        examples.append(Example(_messages_of(row, where), s, w, source))
    return examples


def _grade(score: object) -> float | None:
    """A judge's 1–10 grade mapped to [0, 1]; None when missing."""
    if not isinstance(score, int | float) or score < 0:
        return None
    return (min(float(score), 10.0) - 1.0) / 9.0


def _questions(path: Path) -> dict[Any, dict[str, Any]]:
    """A question.jsonl file by question_id."""
    return {_field(q, "question_id", where): q for where, q in _jsonl(path)}


def _load_mt_bench(folder: Path, strong: str, weak: str) -> list[Example]:
    questions = _questions(folder / "question.jsonl")
    grades: dict[tuple[int, str, int], float | None] = {}
    prompts: dict[tuple[int, int], str] = {}
    for where, row in _jsonl(folder / "judgements.jsonl"):
        qid, model = _field(row, "question_id", where), _field(row, "model", where)
        key = (qid, model, int(row.get("turn", 1)))
        grades[key] = _grade(row.get("score"))
        if model == strong:
            prompts[(qid, key[2])] = row.get("user_prompt", "")
    examples = []
    for qid, question in questions.items():
        for turn in (1, 2):
            s, w = grades.get((qid, strong, turn)), grades.get((qid, weak, turn))
            messages = _mt_turn(question, turn, prompts.get((qid, turn), ""))
            if s is not None and w is not None and messages:
                examples.append(Example(messages, s, w, "mt_bench"))
    return examples


def _mt_turn(question: dict[str, Any], turn: int, judged: str) -> Messages:
    """Turn 1 is the question; turn 2 replays the strong model's first answer from its grade."""
    turns = question.get("turns") or []
    if turn == 1:
        return (("user", turns[0]),) if turns else ()
    marker = "### Assistant A:\n"
    if len(turns) < 2 or marker not in judged:
        return ()
    answer = judged.split(marker, 1)[1].split("\n\n### User:\n", 1)[0].strip()
    return (("user", turns[0]), ("assistant", answer), ("user", turns[1]))


def _grades(path: Path) -> dict[Any, float | None]:
    """A model_judgment file: each question's grade."""
    return {_field(r, "question_id", where): _grade(r.get("score")) for where, r in _jsonl(path)}


def _load_arena(folder: Path) -> list[Example]:
    questions = _questions(folder / "question.jsonl")
    strong = _grades(folder / "model_judgment" / f"{ARENA_STRONG}.jsonl")
    weak = _grades(folder / "model_judgment" / f"{ARENA_WEAK}.jsonl")
    examples = []
    for qid, question in questions.items():
        s, w = strong.get(qid), weak.get(qid)
        if s is not None and w is not None and question.get("turns"):
            examples.append(Example((("user", question["turns"][0]),), s, w, "arena"))
    return examples


# ------------------------------------------------------------------ splitting and features


def bucket_of(example: Example, seed: str = SPLIT_SEED) -> int:
    """A stable 0..99 bucket from the prompt text: the split never depends on file order."""
    text = "\x1e".join(f"{r}\x1f{c}" for r, c in example.messages)
    digest = hashlib.sha256(f"{seed}\x1d{text}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") % 100


def is_test(example: Example, seed: str = SPLIT_SEED) -> bool:
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


def featurize_all(examples: Sequence[Example], buckets: int) -> Design:
    """Run the kernel's featurizer over every example."""
    dense = np.empty((len(examples), N_DENSE))
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    for i, example in enumerate(examples):
        dense[i], hashed = kernel.featurize(list(example.messages), 0, 0, buckets)
        nz = np.flatnonzero(hashed)
        rows.append(np.full(nz.size, i, dtype=np.int64))
        cols.append(nz.astype(np.int64))
        vals.append(hashed[nz])
    return Design(
        dense,
        np.concatenate(rows) if rows else np.zeros(0, np.int64),
        np.concatenate(cols) if cols else np.zeros(0, np.int64),
        np.concatenate(vals) if vals else np.zeros(0),
        buckets,
    )


# ------------------------------------------------------------------ fitting


@dataclass(frozen=True)
class Hyper:
    """One point of the hyper-parameter grid."""

    l2_dense: float
    l2_hash: float
    target: str  # "hard": strong right and weak wrong; "soft": (gain + 1) / 2
    balance: float  # each source's total weight grows as n ** balance
    prior: bool = True  # shrink dense weights toward DENSE_PRIOR (else toward 0)


def targets(examples: Sequence[Example], kind: str) -> FloatArray:
    """The label the regression fits: how much routing this prompt to strong gains."""
    gain = np.array([e.strong - e.weak for e in examples])
    if kind == "hard":
        return (gain > 0.25).astype(np.float64)
    return (gain + 1.0) / 2.0


def sample_weights(examples: Sequence[Example], balance: float) -> FloatArray:
    sources = [e.source for e in examples]
    counts = {s: sources.count(s) for s in set(sources)}
    w = np.array([counts[s] ** (balance - 1.0) for s in sources], dtype=np.float64)
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


# ------------------------------------------------------------------ quality


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


# ------------------------------------------------------------------ selection and export


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
    for l2_dense in (0.03, 0.1)
    for l2_hash in (1e-3, 3e-3)
]


def _folds(examples: Sequence[Example], folds: int) -> npt.NDArray[np.int64]:
    return np.array([bucket_of(e, SPLIT_SEED + "/cv") % folds for e in examples])


def _outcomes(examples: Sequence[Example]) -> tuple[FloatArray, FloatArray, npt.NDArray[np.str_]]:
    """(strong performance, weak performance, source) of every example, as arrays."""
    strong = np.array([e.strong for e in examples], dtype=np.float64)
    weak = np.array([e.weak for e in examples], dtype=np.float64)
    return strong, weak, np.array([e.source for e in examples])


def _macro(scores: FloatArray, examples: Sequence[Example]) -> float:
    """Mean APGR over the sources with at least 50 prompts (the criterion for the grid)."""
    strong, weak, sources = _outcomes(examples)
    values = []
    for source in sorted(set(sources.tolist())):
        mask = sources == source
        if mask.sum() >= 50:
            values.append(quality(scores[mask], strong[mask], weak[mask]).apgr)
    return float(np.nanmean(values)) if values else math.nan


def cross_validate(
    examples: Sequence[Example], design: Design, grid: Sequence[Hyper], folds: int = FOLDS
) -> dict[Hyper, float]:
    """Out-of-fold macro APGR of each grid point."""
    fold = _folds(examples, folds)
    return {
        hyper: _macro(_out_of_fold(examples, design, fold, folds, hyper), examples)
        for hyper in grid
    }


def _out_of_fold(
    examples: Sequence[Example],
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
    examples: Sequence[Example],
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


def _examples_split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if not is_test(e)]
    test = [e for e in examples if is_test(e)]
    return train, test


def fit_weights(
    examples: Sequence[Example],
    buckets: int = 1 << 14,
    grid: Sequence[Hyper] = GRID,
    log: Callable[[str], None] = print,
) -> FitResult:
    """Choose hyper-parameters by cross-validation on the non-test part, fit, calibrate."""
    train, test = _examples_split(examples)
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
    meta = {
        "fitted_on": {
            "sources": {s: sum(e.source == s for e in train) for s in sources},
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
    version = f"fit-{time.strftime('%Y%m%d')}-b{buckets}"
    weights = calibrated_weights(model, design, train, version, meta)
    return FitResult(weights, best, {str(h): v for h, v in cv.items()})


def score_examples(examples: Sequence[Example], weights: Weights) -> FloatArray:
    return np.array([kernel.score(list(e.messages), 0, 0, weights).value for e in examples])


def length_of(examples: Sequence[Example]) -> FloatArray:
    return np.array([float(sum(len(c) for _, c in e.messages)) for e in examples])


def report(examples: Sequence[Example], weights: Weights) -> dict[str, Any]:
    """Quality of the scorer, of prompt length and of random routing, per source and pooled."""
    return report_scores(examples, score_examples(examples, weights))


def report_scores(examples: Sequence[Example], scored: FloatArray) -> dict[str, Any]:
    """The quality table for given scorer outputs, beside prompt length and random."""
    length = length_of(examples)
    strong, weak, sources = _outcomes(examples)
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
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def evaluate(examples: Sequence[Example], weights: Weights) -> dict[str, Any]:
    """The held-out test report for ``weights`` on ``examples``."""
    _, test = _examples_split(examples)
    return {
        "weights_version": weights.version,
        "split": f"test = sha256('{SPLIT_SEED}' + prompt) % 100 < {TEST_SHARE}",
        "kernel": kernel.IMPLEMENTATION,
        "test": report(test, weights),
    }


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
    examples: Sequence[Example], hyper: Hyper, buckets: int, folds: int = 5
) -> dict[str, Any]:
    """Every prompt scored by a model fitted (same recipe) on the other folds.

    Less noisy than the 15 % test split for the small sets (MT-Bench, Arena), at the price
    of measuring the recipe rather than the shipped weights.
    """
    design = featurize_all(examples, buckets)
    scores = _out_of_fold(examples, design, _folds(examples, folds), folds, hyper)
    return {"folds": folds, "hyper": str(hyper), "table": report_scores(examples, scores)}


# ------------------------------------------------------------------ command line


def _buckets(text: str) -> int:
    """--buckets: a power of two (the kernel hashes words into that many buckets)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"must be a power of two, got {value}")
    return value


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` through a staged file: readers never see a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    staged.replace(path)


def _fit_command(args: argparse.Namespace, examples: Sequence[Example]) -> int:
    result = fit_weights(examples, args.buckets)
    table = evaluate(examples, result.weights)
    doc = result.weights.to_json()
    doc["validation"] = table["test"]
    _write_json(args.out, doc)
    print(format_table(table["test"]))
    print(f"wrote {args.out} ({result.weights.version})")
    return 0


def _eval_command(args: argparse.Namespace, examples: Sequence[Example]) -> int:
    weights = kernel.load_weights(args.weights)
    table = evaluate(examples, weights)
    print(f"held-out test split ({weights.version}):")
    print(format_table(table["test"]))
    if args.cv:
        table["cross_validated"] = cross_validated(
            examples, hyper_of(weights), max(weights.hash_buckets, 1)
        )
        print(
            "5-fold out-of-fold, every prompt (same recipe, never scored by a model that saw it):"
        )
        print(format_table(table["cross_validated"]["table"]))
    _write_json(args.json, table)
    print(f"wrote {args.json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m native.training", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit_cmd = sub.add_parser("fit", help="fit weights, print held-out quality, write them")
    fit_cmd.add_argument(
        "data", nargs="*", type=Path, help="labelled prompts (default: shared sets)"
    )
    fit_cmd.add_argument("--out", type=Path, default=DEFAULT_OUT)
    fit_cmd.add_argument("--buckets", type=_buckets, default=1 << 14)
    eval_cmd = sub.add_parser("eval", help="held-out quality of a weights file")
    eval_cmd.add_argument("data", nargs="*", type=Path)
    eval_cmd.add_argument("--weights", type=Path, default=None)
    eval_cmd.add_argument("--json", type=Path, default=RESULTS)
    eval_cmd.add_argument(
        "--cv", action="store_true", help="also report 5-fold out-of-fold quality on all data"
    )
    args = parser.parse_args(argv)
    command = _fit_command if args.command == "fit" else _eval_command
    data = args.data or default_data()
    try:
        examples = load(data)
        if not examples:
            raise DataError(f"no labelled prompts in {', '.join(map(str, data))}")
        return command(args, examples)
    except (DataError, kernel.WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
