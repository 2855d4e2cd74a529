from __future__ import annotations

import pytest

from services.catalog.quality import estimate, params_billions, with_qualities
from services.catalog.records import ModelRecord


def _record(
    upstream: str, out_price: float | None = None, quality: float = 0.0, source: str = ""
) -> ModelRecord:
    return ModelRecord(
        id=f"p/{upstream}",
        provider="p",
        upstream_id=upstream,
        output_price_per_mtok=out_price,
        quality=quality,
        quality_source=source,
    )


@pytest.mark.parametrize(
    ("upstream", "billions"),
    [("llama-3.3-70b-versatile", 70), ("qwen/qwen3-32b", 32), ("google/gemma-3n-e2b-it:free", 2),
     ("meta-llama/llama-4-scout-17b-16e-instruct", 17), ("openai/gpt-oss-120b", 120),
     ("mixtral-8x7b-instruct", 8 * 7 * 0.6), ("llama-3.1-8b-instant", 8), ("gpt-4o-mini", None),
     ("claude-3-5-sonnet", None)],
)  # fmt: skip
def test_parameter_counts_from_ids(upstream: str, billions: float | None) -> None:
    assert (
        params_billions(upstream) == pytest.approx(billions)
        if billions
        else (params_billions(upstream) is None)
    )


def test_bigger_models_and_pricier_models_rank_higher() -> None:
    small, large = estimate(_record("llama-3.1-8b")), estimate(_record("llama-3.3-70b"))
    assert small[1] == large[1] == "params"
    assert 0 < small[0] < large[0] < 1
    cheap, dear = estimate(_record("mini", 0.6)), estimate(_record("opus", 75.0))
    assert cheap[1] == dear[1] == "price"
    assert cheap[0] < dear[0]
    assert estimate(_record("mystery")) == (0.0, "")


def test_stated_quality_is_kept_and_free_variants_borrow_from_siblings() -> None:
    stated = _record("x-8b", quality=0.9, source="arena")
    paid, free = _record("deepseek/deepseek-r1", 2.19), _record("deepseek/deepseek-r1:free", 0.0)
    out = {r.upstream_id: r for r in with_qualities([stated, paid, free])}
    assert (out["x-8b"].quality, out["x-8b"].quality_source) == (0.9, "arena")
    assert out["deepseek/deepseek-r1:free"].quality == out["deepseek/deepseek-r1"].quality > 0
    assert out["deepseek/deepseek-r1:free"].quality_source == "estimate:price:sibling"
