"""The routing kernel: prompt scoring and model selection (STYLE.md §9).

Imports the compiled twin (``native._kernel_c``) unless ``FREEWAY_NO_EXTENSIONS`` is set
to a non-empty value other than ``0``, or the extension is missing; then the pure-Python
reference (``native._kernel_py``), which defines what every function means.
"""

from __future__ import annotations

import os

from native._common import (
    BREAKER_CLOSED,
    BREAKER_HALF_OPEN,
    BREAKER_OPEN,
    CAP_JSON,
    CAP_REASONING,
    CAP_TOOLS,
    CAP_VISION,
    DENSE_FEATURE_NAMES,
    FEATURE_NAMES,
    STRATEGY_CASCADE,
    STRATEGY_COST,
    STRATEGY_FREE_FIRST,
    STRATEGY_HYBRID,
    STRATEGY_LATENCY,
    STRATEGY_QUALITY,
    STRATEGY_UNSPECIFIED,
    Catalogue,
    Score,
    Weights,
    WeightsError,
    load_weights,
    weights_from_json,
)

__all__ = [
    "BREAKER_CLOSED",
    "BREAKER_HALF_OPEN",
    "BREAKER_OPEN",
    "CAP_JSON",
    "CAP_REASONING",
    "CAP_TOOLS",
    "CAP_VISION",
    "DENSE_FEATURE_NAMES",
    "FEATURE_NAMES",
    "IMPLEMENTATION",
    "STRATEGY_CASCADE",
    "STRATEGY_COST",
    "STRATEGY_FREE_FIRST",
    "STRATEGY_HYBRID",
    "STRATEGY_LATENCY",
    "STRATEGY_QUALITY",
    "STRATEGY_UNSPECIFIED",
    "Catalogue",
    "Score",
    "Weights",
    "WeightsError",
    "featurize",
    "load_weights",
    "score",
    "select",
    "weights_from_json",
]

NO_EXTENSIONS = os.environ.get("FREEWAY_NO_EXTENSIONS", "") not in ("", "0")

if NO_EXTENSIONS:
    from native._kernel_py import IMPLEMENTATION, featurize, score, select
else:
    try:
        from native._kernel_c import IMPLEMENTATION, featurize, score, select
    except ImportError:  # not built (e.g. a source checkout without a compiler)
        from native._kernel_py import IMPLEMENTATION, featurize, score, select
