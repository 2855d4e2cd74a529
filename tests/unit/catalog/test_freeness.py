"""Free detection: every reason, its order, quotas travelling with free models."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.catalog.freeness import FreePolicy, classify, free_reason, is_local_url
from services.catalog.records import FreeReason, ModelRecord, QuotaLimits, QuotaScope


def _record(
    upstream: str = "m",
    price_in: float | None = None,
    price_out: float | None = None,
    **fields: Any,
) -> ModelRecord:
    base = ModelRecord(
        id=f"p/{upstream}",
        provider="p",
        upstream_id=upstream,
        input_price_per_mtok=price_in,
        output_price_per_mtok=price_out,
    )
    return dataclasses.replace(base, **fields)


QUOTA = QuotaLimits(requests_per_minute=20, requests_per_day=50, scope=QuotaScope.PER_ACCOUNT)


def test_zero_price_is_free_and_carries_the_policy_quota() -> None:
    record = classify(_record(price_in=0.0, price_out=0.0), FreePolicy(free_tier=QUOTA))
    assert record.is_free
    assert record.free_reason is FreeReason.ZERO_PRICE
    assert record.free_tier == QUOTA


def test_unpriced_is_never_free_by_price() -> None:
    record = classify(_record(), FreePolicy(free_tier=QUOTA))
    assert not record.is_free
    assert record.free_reason is FreeReason.NONE
    assert record.free_tier == QuotaLimits()


@pytest.mark.parametrize(
    ("price_in", "price_out", "per_request"),
    [(0.0, None, None), (0.0, 0.5, None), (0.0, 0.0, 0.01)],
)
def test_a_partly_known_or_positive_price_is_not_free(
    price_in: float | None, price_out: float | None, per_request: float | None
) -> None:
    record = _record(price_in=price_in, price_out=price_out, request_price=per_request)
    assert free_reason(record, FreePolicy()) is FreeReason.NONE


def test_zero_token_price_on_a_media_generator_is_not_evidence_of_free() -> None:
    image = _record(price_in=0.0, price_out=0.0, output_modalities=("image",))
    assert free_reason(image, FreePolicy()) is FreeReason.NONE


@pytest.mark.parametrize("upstream", ["meta/llama:free", "meta/Llama-3.3-70B-Turbo-Free", "x-free"])
def test_free_variant_suffixes(upstream: str) -> None:
    assert free_reason(_record(upstream), FreePolicy()) is FreeReason.FREE_VARIANT
    assert free_reason(_record(upstream, 0.0, 0.0), FreePolicy()) is FreeReason.FREE_VARIANT


def test_a_free_suffix_with_a_positive_price_is_not_free() -> None:
    assert free_reason(_record("m:free", 0.1, 0.2), FreePolicy()) is FreeReason.NONE


def test_provider_free_tier_covers_every_model_even_priced_ones() -> None:
    policy = FreePolicy(mode="free_tier", free_tier=QUOTA)
    record = classify(_record(price_in=0.15, price_out=0.6), policy)
    assert record.free_reason is FreeReason.PROVIDER_FREE_TIER
    assert record.free_tier == QUOTA


def test_free_tier_excludes_models_the_body_marks_paid_only() -> None:
    record = _record(extra={"paid_only": "true"})
    assert free_reason(record, FreePolicy(mode="free_tier")) is FreeReason.NONE


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:11434",
        "http://127.0.0.1:8080/v1",
        "http://10.0.0.5:8000",
        "http://192.168.1.20",
        "http://[::1]:1234",
        "http://gpu-box.local:8000",
        "127.0.0.1:1234",
    ],
)
def test_local_runtime_formats_on_private_addresses_are_local_runtimes(url: str) -> None:
    assert is_local_url(url)
    priced = _record(price_in=1.0, price_out=1.0)
    assert free_reason(priced, FreePolicy(), url, local_format=True) is FreeReason.LOCAL_RUNTIME


def test_a_hosted_api_behind_a_local_proxy_is_not_free_by_address() -> None:
    priced = _record(price_in=1.0, price_out=1.0)
    assert free_reason(priced, FreePolicy(), "http://127.0.0.1:8090/openrouter/api/v1") is (
        FreeReason.NONE
    )


@pytest.mark.parametrize("url", ["", "https://api.openai.com/v1", "http://8.8.8.8", "not a url"])
def test_public_addresses_are_not_local(url: str) -> None:
    assert not is_local_url(url)


def test_local_mode_marks_every_model_local() -> None:
    assert free_reason(_record(), FreePolicy(mode="local")) is FreeReason.LOCAL_RUNTIME


def test_allow_list_matches_exact_ids_and_globs_in_every_mode() -> None:
    policy = FreePolicy(mode="none", allow=("gpt-4o-mini", "p/llama-*"))
    assert free_reason(_record("gpt-4o-mini", 1.0, 1.0), policy) is FreeReason.ALLOW_LIST
    assert free_reason(_record("llama-3-8b"), policy) is FreeReason.ALLOW_LIST
    assert free_reason(_record("mistral"), policy) is FreeReason.NONE


def test_mode_none_ignores_prices_and_local_addresses() -> None:
    record = _record("m:free", 0.0, 0.0)
    assert free_reason(record, FreePolicy(mode="none"), "http://127.0.0.1") is FreeReason.NONE


def test_intrinsic_reasons_win_over_the_allow_list() -> None:
    policy = FreePolicy(allow=("*",))
    assert free_reason(_record("m:free"), policy) is FreeReason.FREE_VARIANT


def test_classify_recomputes_from_scratch() -> None:
    stale = _record(price_in=2.0, price_out=2.0, is_free=True, free_reason=FreeReason.ZERO_PRICE)
    record = classify(stale, FreePolicy())
    assert not record.is_free
    assert record.free_reason is FreeReason.NONE


def test_unknown_policy_mode_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match="free policy mode: 'gratis'"):
        FreePolicy(mode="gratis")
