"""A quality estimate for models whose provider states none, with its source recorded.

Routing needs some notion of "can this model handle a hard prompt": the kernel sends a
prompt whose complexity score is s to models whose quality is at least s first. Providers
rarely publish one, so this estimates it from what the record does say, in order:

1. ``params``: the parameter count in the id ("llama-3.3-70b" → 70B; "8x7b" → 8×7B with a
   discount for mixture-of-experts; "e2b" → 2B), on a log scale: 1B → 0.0, 10B → 0.33,
   100B → 0.67, 1T → 1.0.
2. ``price``: the output price per million tokens, on a log scale (providers price what
   they believe they can): $0.10 → 0.20, $1 → 0.40, $10 → 0.60, $100 → 0.80.
3. Nothing known: 0.0 with no source (the kernel then treats the model as least capable).

It is a coarse prior, labelled as such (``quality_source``), for an operator or a measured
source (arena scores, evals) to override; a stated quality is never replaced.
"""

from __future__ import annotations

import dataclasses
import math
import re

from services.catalog.records import ModelRecord

_MOE = re.compile(r"(?<![\d.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z])")
_PARAMS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])")
_MOE_DISCOUNT = 0.6  # a mixture of experts answers below its total size


def params_billions(upstream_id: str) -> float | None:
    """The parameter count named in a model id, in billions, or None."""
    lowered = upstream_id.lower()
    if moe := _MOE.search(lowered):
        return int(moe.group(1)) * float(moe.group(2)) * _MOE_DISCOUNT
    sizes = [float(m.group(1)) for m in _PARAMS.finditer(lowered)]
    sizes = [s for s in sizes if s > 0]
    return max(sizes) if sizes else None


def _clamp(value: float) -> float:
    return round(min(max(value, 0.0), 1.0), 4)


def estimate(record: ModelRecord) -> tuple[float, str]:
    """(quality in [0, 1], source) for `record`; (0.0, "") when nothing tells."""
    params = params_billions(record.upstream_id)
    if params is not None:
        return _clamp(math.log10(max(params, 1.0)) / 3.0), "params"
    price = record.output_price_per_mtok
    if price is not None and price > 0:
        return _clamp(0.4 + 0.2 * math.log10(price)), "price"
    return 0.0, ""


def with_quality(record: ModelRecord) -> ModelRecord:
    """`record` with an estimated quality, unless it already carries one."""
    if record.quality > 0 or record.quality_source:
        return record
    quality, source = estimate(record)
    if not source:
        return record
    return dataclasses.replace(record, quality=quality, quality_source=f"estimate:{source}")


def with_qualities(records: list[ModelRecord]) -> list[ModelRecord]:
    """Estimate every record; a free variant ("x:free") with nothing to go on takes the
    estimate of its paid sibling ("x") from the same list."""
    estimated = [with_quality(r) for r in records]
    by_upstream = {r.upstream_id: r for r in estimated}
    return [_from_sibling(r, by_upstream) for r in estimated]


def _from_sibling(record: ModelRecord, by_upstream: dict[str, ModelRecord]) -> ModelRecord:
    if record.quality_source or not record.upstream_id.endswith(":free"):
        return record
    sibling = by_upstream.get(record.upstream_id.removesuffix(":free"))
    if sibling is None or not sibling.quality_source:
        return record
    return dataclasses.replace(
        record, quality=sibling.quality, quality_source=f"{sibling.quality_source}:sibling"
    )
