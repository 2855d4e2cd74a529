"""What both kernel twins share: constants, feature names, cue words, weights, catalogue.

Nothing here runs per decision. Both twins (``_kernel_py`` and ``_kernel_c``) import this
module, so a ``Weights`` or a ``Catalogue`` built once can be handed to either of them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Same numbers as the proto enum freeway.common.v1.Strategy (0 = server default = free-first).
STRATEGY_UNSPECIFIED = 0
STRATEGY_FREE_FIRST = 1
STRATEGY_COST = 2
STRATEGY_QUALITY = 3
STRATEGY_LATENCY = 4
STRATEGY_HYBRID = 5
STRATEGY_CASCADE = 6

# Capability bits: bit = 1 << (proto Capability - 1).
CAP_TOOLS = 1
CAP_VISION = 2
CAP_JSON = 4
CAP_REASONING = 8

BREAKER_CLOSED = 0
BREAKER_HALF_OPEN = 1
BREAKER_OPEN = 2

DEFAULT_HYBRID = (0.4, 0.4, 0.1, 0.1)
# Candidates whose ranking metric is within NEAR_EQUAL * max(1, |best|) of the best are
# near-equal, and the first pick among them is spread by load (power of two choices).
NEAR_EQUAL = 0.02
# A request that states no max_output_tokens is scored as if it asked for this many.
DEFAULT_MAX_OUTPUT = 1024

DENSE_FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_tokens",
    "log_last_user_chars",
    "code_fences",
    "code_indent",
    "code_syntax",
    "code_keywords",
    "math_digits",
    "math_operators",
    "math_latex",
    "math_keywords",
    "reasoning_cues",
    "simple_cues",
    "creative_cues",
    "constraint_cues",
    "questions",
    "list_items",
    "conv_turns",
    "has_system",
    "non_ascii_share",
    "cjk_share",
    "log_max_output",
    "needs_tools",
    "needs_vision",
    "needs_json",
    "needs_reasoning",
    "avg_word_len",
    "long_word_share",
    "log_lines",
)
# The last entry sums the hashed word and word-pair features into one explained term.
FEATURE_NAMES: tuple[str, ...] = (*DENSE_FEATURE_NAMES, "lexical")
N_DENSE = len(DENSE_FEATURE_NAMES)

# Cue-word categories; each cue word belongs to exactly one.
CUE_REASONING = 1
CUE_SIMPLE = 2
CUE_CREATIVE = 3
CUE_CODE = 4
CUE_MATH = 5
CUE_CONSTRAINT = 6

_CUES: dict[int, str] = {
    CUE_REASONING: (
        "analyze analyse analysis prove proof design implement implementation explain why "
        "compare contrast evaluate derive optimize optimise debug justify critique reason "
        "reasoning architecture tradeoff tradeoffs algorithm strategy step steps plan assess "
        "discuss argue infer determine estimate investigate refactor diagnose hypothesis"
    ),
    CUE_SIMPLE: (
        "list define definition summarize summarise summary translate translation what who "
        "when where name rewrite paraphrase spell synonym meaning capital grammar hello hi "
        "thanks thank tell give"
    ),
    CUE_CREATIVE: (
        "write story poem essay compose blog email letter imagine pretend roleplay character "
        "creative draft song lyrics joke persuasive slogan"
    ),
    CUE_CODE: (
        "def return import class function const var let void int printf println console "
        "lambda async await struct fn impl elif include public private static null nullptr "
        "self python javascript typescript java rust sql code script bug compile api regex "
        "html css bash"
    ),
    CUE_MATH: (
        "equation equations integral derivative probability sum prime matrix theorem sqrt "
        "log polynomial solve calculate compute percent average ratio fraction factor "
        "triangle geometry algebra vector modulo"
    ),
    CUE_CONSTRAINT: (
        "must should exactly least most only without ensure format words limit never always "
        "each every exclude maximum minimum require required sentences paragraphs bullet "
        "table json"
    ),
}
CUE_WORDS: dict[str, int] = {word: cat for cat, words in _CUES.items() for word in words.split()}


def _check_int64(name: str, value: int) -> None:
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(f"{name}: out of range, got {value!r}")


def _check_needs(needs: int) -> None:
    if not 0 <= needs <= 0xFFFFFFFF:
        raise ValueError(f"needs: must be a 32-bit capability mask, got {needs!r}")


def check_score(max_output_tokens: int, needs: int) -> None:
    """Validate score()'s integer arguments, naming the bad one."""
    _check_int64("max_output_tokens", max_output_tokens)
    _check_needs(needs)


def check_select(
    score: float,
    needs: int,
    min_context: int,
    max_price: float,
    strategy: int,
    hybrid: tuple[float, float, float, float] | None,
) -> tuple[float, int, tuple[float, float, float, float]]:
    """Validate select()'s arguments; return (score, strategy, hybrid weights).

    UNSPECIFIED means free-first; a bad value raises ValueError naming the argument.
    """
    score = float(score)
    if not math.isfinite(score):
        raise ValueError(f"score: must be a finite number, got {score!r}")
    _check_needs(needs)
    _check_int64("min_context", min_context)
    if math.isnan(max_price):
        raise ValueError("max_price: must be a number (inf for no limit), got nan")
    if strategy == STRATEGY_UNSPECIFIED:
        strategy = STRATEGY_FREE_FIRST
    if not STRATEGY_FREE_FIRST <= strategy <= STRATEGY_CASCADE:
        raise ValueError(f"strategy: unknown value {strategy!r}")
    return score, strategy, _hybrid_weights(hybrid)


def _hybrid_weights(
    hybrid: tuple[float, float, float, float] | None,
) -> tuple[float, float, float, float]:
    if hybrid is None:
        return DEFAULT_HYBRID
    values = tuple(float(v) for v in hybrid)
    if len(values) != 4 or not all(math.isfinite(v) and v >= 0.0 for v in values):
        raise ValueError(f"hybrid: expected four finite weights >= 0, got {hybrid!r}")
    return values[0], values[1], values[2], values[3]


_HERE = Path(__file__).resolve().parent
DEFAULT_WEIGHTS_PATH = _HERE / "weights" / "default.json"


class WeightsError(ValueError):
    """A weights file is missing a field or holds a value of the wrong shape."""


@dataclass(frozen=True)
class Score:
    """A prompt's complexity: ``value`` in [0, 1] and why.

    ``features`` holds each feature's value (the last, ``lexical``, is the summed hashed
    term) and ``contributions`` each feature's share of the logit, in FEATURE_NAMES order.
    """

    value: float
    features: npt.NDArray[np.float64]
    contributions: npt.NDArray[np.float64]


class Weights:
    """A fitted linear model over the features, immutable once loaded.

    contribution_i = weight_i * ((feature_i - center_i) / scale_i); the lexical term is
    sum(sign * hash_weights[bucket]) / sqrt(hashed tokens); score = logistic(bias + sum).
    ``packed`` lays the numbers out for the kernels in one read-only float64 array:
    [bias, center[N_DENSE], scale[N_DENSE], weight[N_DENSE], hash_weights[hash_buckets]].
    """

    __slots__ = ("hash_buckets", "meta", "packed", "version")

    version: str
    hash_buckets: int
    packed: npt.NDArray[np.float64]
    meta: dict[str, Any]

    def __init__(
        self,
        version: str,
        bias: float,
        center: npt.ArrayLike,
        scale: npt.ArrayLike,
        weights: npt.ArrayLike,
        hash_weights: npt.ArrayLike,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if not math.isfinite(bias):
            raise WeightsError(f"bias: must be a finite number, got {bias!r}")
        center = _vector("center", center, N_DENSE)
        scale = _vector("scale", scale, N_DENSE)
        weights = _vector("weights", weights, N_DENSE)
        hashed = _vector("hash_weights", hash_weights)
        buckets = hashed.size
        if buckets and buckets & (buckets - 1):
            raise WeightsError(f"hash_weights: length {buckets} is not a power of two")
        if buckets > 1 << 20:
            raise WeightsError(f"hash_weights: {buckets} buckets is more than 2**20")
        if np.any(scale <= 0):
            raise WeightsError("scale: every entry must be > 0")
        packed = np.concatenate([[float(bias)], center, scale, weights, hashed])
        packed.flags.writeable = False
        _set = object.__setattr__
        _set(self, "version", str(version))
        _set(self, "hash_buckets", int(buckets))
        _set(self, "packed", packed)
        _set(self, "meta", dict(meta or {}))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Weights is immutable (tried to set {name!r})")

    @property
    def bias(self) -> float:
        return float(self.packed[0])

    @property
    def center(self) -> npt.NDArray[np.float64]:
        return self.packed[1 : 1 + N_DENSE]

    @property
    def scale(self) -> npt.NDArray[np.float64]:
        return self.packed[1 + N_DENSE : 1 + 2 * N_DENSE]

    @property
    def weights(self) -> npt.NDArray[np.float64]:
        return self.packed[1 + 2 * N_DENSE : 1 + 3 * N_DENSE]

    @property
    def hash_weights(self) -> npt.NDArray[np.float64]:
        return self.packed[1 + 3 * N_DENSE :]

    def to_json(self) -> dict[str, Any]:
        """The versioned file form that ``load_weights`` reads back."""
        return {
            **self.meta,
            "version": self.version,
            "features": list(DENSE_FEATURE_NAMES),
            "bias": self.bias,
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "hash_buckets": self.hash_buckets,
            "hash_weights": self.hash_weights.tolist(),
        }


def _vector(name: str, value: npt.ArrayLike, size: int | None = None) -> npt.NDArray[np.float64]:
    """``value`` as a flat float64 array of finite numbers (of ``size`` entries when given)."""
    try:
        array = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{name}: not a list of numbers") from exc
    if size is not None and array.size != size:
        raise WeightsError(f"{name}: expected {size} values, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise WeightsError(f"{name}: values must be finite")
    return array


def load_weights(path: str | os.PathLike[str] | None = None) -> Weights:
    """Read a versioned weights file (None → native/weights/default.json)."""
    source = Path(path) if path is not None else DEFAULT_WEIGHTS_PATH
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WeightsError(f"weights file {source}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise WeightsError(f"weights file {source}: invalid JSON ({exc.msg})") from exc
    return weights_from_json(data, str(source))


def weights_from_json(data: object, where: str = "weights") -> Weights:
    """Build Weights from the parsed file form, naming the bad field on error."""
    if not isinstance(data, dict):
        raise WeightsError(f"{where}: expected a JSON object")
    missing = [k for k in ("version", "features", "bias", "weights") if k not in data]
    if missing:
        raise WeightsError(f"{where}: missing field {missing[0]!r}")
    if data["features"] != list(DENSE_FEATURE_NAMES):
        raise WeightsError(f"{where}: features does not match this kernel's FEATURE_NAMES")
    if not isinstance(data["version"], str):
        raise WeightsError(f"{where}: version must be a string")
    bias = data["bias"]
    if not isinstance(bias, int | float) or isinstance(bias, bool) or not math.isfinite(bias):
        raise WeightsError(f"{where}: bias must be a finite number")
    for name in ("center", "scale", "weights", "hash_weights"):
        if name in data and not isinstance(data[name], list):
            raise WeightsError(f"{where}: {name} must be a list of numbers")
    hash_weights = data.get("hash_weights", [])
    buckets = data.get("hash_buckets", len(hash_weights))
    if not isinstance(buckets, int) or isinstance(buckets, bool) or buckets != len(hash_weights):
        raise WeightsError(f"{where}: hash_buckets does not match len(hash_weights)")
    known = {"version", "features", "bias", "center", "scale", "weights", "hash_weights"}
    meta = {k: v for k, v in data.items() if k not in known | {"hash_buckets"}}
    try:
        return Weights(
            version=data["version"],
            bias=float(bias),
            center=data.get("center", [0.0] * N_DENSE),
            scale=data.get("scale", [1.0] * N_DENSE),
            weights=data["weights"],
            hash_weights=hash_weights,
            meta=meta,
        )
    except WeightsError as exc:
        raise WeightsError(f"{where}: {exc}") from None


# Catalogue columns live in four blocks so a kernel reaches all of them with four buffers.
_F64_COLUMNS = (
    "price_in",
    "price_out",
    "quality",
    "latency_ms",
    "error_rate",
    "quota_left",
    "load",
)
_I64_COLUMNS = ("context", "max_output")
_U8_COLUMNS = ("breaker", "free", "allowed")
_COLUMNS = (*_F64_COLUMNS, *_I64_COLUMNS, "caps", *_U8_COLUMNS)


class Catalogue:
    """The catalogue snapshot as columnar arrays of length ``n``, written in place.

    Columns (write into them, e.g. ``cat.price_in[:] = ...``; they cannot be replaced):
    price_in, price_out (USD per Mtok, NaN = unknown, never taken as free), quality [0, 1]
    (NaN = unknown, taken as 0), context, max_output (int64), caps (uint32 capability bits),
    latency_ms, error_rate, breaker (uint8 BREAKER_*), free (uint8, 1 = free), quota_left
    (inf = unknown/unlimited, 0 = exhausted), load (in-flight requests), allowed (uint8,
    1 = passes the caller's allow/deny lists).
    """

    __slots__ = ("_caps", "_f64", "_i64", "_u8", "n", *_COLUMNS)

    n: int
    price_in: npt.NDArray[np.float64]
    price_out: npt.NDArray[np.float64]
    quality: npt.NDArray[np.float64]
    latency_ms: npt.NDArray[np.float64]
    error_rate: npt.NDArray[np.float64]
    quota_left: npt.NDArray[np.float64]
    load: npt.NDArray[np.float64]
    context: npt.NDArray[np.int64]
    max_output: npt.NDArray[np.int64]
    caps: npt.NDArray[np.uint32]
    breaker: npt.NDArray[np.uint8]
    free: npt.NDArray[np.uint8]
    allowed: npt.NDArray[np.uint8]

    def __init__(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"n: must be >= 0, got {n}")
        _set = object.__setattr__
        _set(self, "n", int(n))
        blocks: dict[str, npt.NDArray[Any]] = {
            "_f64": np.zeros((len(_F64_COLUMNS), n), dtype=np.float64),
            "_i64": np.zeros((len(_I64_COLUMNS), n), dtype=np.int64),
            "_caps": np.zeros(n, dtype=np.uint32),
            "_u8": np.zeros((len(_U8_COLUMNS), n), dtype=np.uint8),
        }
        blocks["_f64"][_F64_COLUMNS.index("quota_left")] = np.inf
        blocks["_u8"][_U8_COLUMNS.index("allowed")] = 1
        for name, block in blocks.items():
            _set(self, name, block)
        for names, key in ((_F64_COLUMNS, "_f64"), (_I64_COLUMNS, "_i64"), (_U8_COLUMNS, "_u8")):
            for row, name in enumerate(names):
                _set(self, name, blocks[key][row])
        _set(self, "caps", blocks["_caps"])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Catalogue columns are written in place, not replaced ({name!r})")
