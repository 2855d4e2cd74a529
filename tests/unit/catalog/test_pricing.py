"""Price enrichment from the LiteLLM map and the models.dev catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.catalog.pricing import (
    PriceCatalogue,
    PricingError,
    combine,
    enrich,
    litellm_catalogue,
    load_price_catalogue,
    load_price_files,
    models_dev_api_catalogue,
)
from services.catalog.records import ModelRecord
from tests import corpus

LITELLM_MAP = {
    "sample_spec": {"litellm_provider": "one of …", "input_cost_per_token": 0.0},
    "gpt-4o": {
        "litellm_provider": "openai",
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
        "supports_function_calling": True,
        "supports_vision": True,
    },
    "together_ai/meta-llama/Llama-3-70b": {
        "litellm_provider": "together_ai",
        "input_cost_per_token": 9e-07,
        "output_cost_per_token": 9e-07,
    },
    "gemini/gemini-exp-1206": {
        "litellm_provider": "gemini",
        "input_cost_per_token": 0,
        "output_cost_per_token": 0,
    },
}


def _unpriced(provider: str, upstream: str) -> ModelRecord:
    return ModelRecord(id=f"{provider}/{upstream}", provider=provider, upstream_id=upstream)


@pytest.fixture
def litellm() -> PriceCatalogue:
    return litellm_catalogue(LITELLM_MAP)


@pytest.fixture
def models_dev(tmp_path: Path) -> PriceCatalogue:
    models = tmp_path / "providers" / "groq" / "models"
    (models / "meta-llama").mkdir(parents=True)
    (models / "llama-3.1-8b-instant.toml").write_text(
        'name = "Llama 3.1 8B"\ntool_call = true\nreasoning = false\n'
        "[cost]\ninput = 0.05\noutput = 0.08\n[limit]\ncontext = 131_072\noutput = 8_192\n"
        '[modalities]\ninput = ["text"]\noutput = ["text"]\n'
    )
    (models / "meta-llama" / "llama-4-scout.toml").write_text(
        "[cost]\ninput = 0.11\noutput = 0.34\n"
    )
    (models / "no-cost.toml").write_text('name = "metadata only"\n')
    plans = tmp_path / "providers" / "alibaba-coding-plan" / "models"
    plans.mkdir(parents=True)
    (plans / "qwen3-coder.toml").write_text("[cost]\ninput = 0\noutput = 0\n")
    return load_price_catalogue(tmp_path)


def test_litellm_per_token_prices_become_per_million(litellm: PriceCatalogue) -> None:
    record = enrich(_unpriced("openai", "gpt-4o"), litellm)
    assert (record.input_price_per_mtok, record.output_price_per_mtok) == (2.5, 10.0)
    assert record.price_source == "litellm"
    assert (record.context_window, record.max_output_tokens) == (128000, 16384)
    assert record.capabilities == {"tools", "vision"}


def test_lookup_uses_the_provider_namespace_alias_and_ignores_case(litellm: PriceCatalogue) -> None:
    record = enrich(_unpriced("together", "META-LLAMA/llama-3-70b"), litellm)
    assert record.input_price_per_mtok == 0.9
    assert enrich(_unpriced("groq", "gpt-4o"), litellm).price_source == ""  # not groq's price


def test_catalogue_zero_prices_are_not_taken_as_free(litellm: PriceCatalogue) -> None:
    record = enrich(_unpriced("gemini", "gemini-exp-1206"), litellm)
    assert not record.priced
    assert record.price_source == ""


def test_a_provider_stated_price_always_wins(litellm: PriceCatalogue) -> None:
    stated = ModelRecord(
        id="openai/gpt-4o",
        provider="openai",
        upstream_id="gpt-4o",
        input_price_per_mtok=1.0,
        output_price_per_mtok=2.0,
        price_source="provider",
    )
    assert enrich(stated, litellm) is stated


def test_models_dev_tree_prices_are_already_per_million(models_dev: PriceCatalogue) -> None:
    record = enrich(_unpriced("groq", "llama-3.1-8b-instant"), models_dev)
    assert (record.input_price_per_mtok, record.output_price_per_mtok) == (0.05, 0.08)
    assert record.price_source == "models.dev"
    assert (record.context_window, record.max_output_tokens) == (131072, 8192)
    assert record.capabilities == {"tools"}
    assert len(models_dev) == 3  # the metadata-only file has no [cost] table


def test_last_path_segment_matches_when_unique(models_dev: PriceCatalogue) -> None:
    record = enrich(_unpriced("groq", "llama-4-scout"), models_dev)
    assert record.input_price_per_mtok == 0.11


def test_ambiguous_last_segment_is_not_matched() -> None:
    catalogue = litellm_catalogue(
        {
            "a/x/model": {
                "litellm_provider": "a",
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 1e-6,
            },
            "a/y/model": {
                "litellm_provider": "a",
                "input_cost_per_token": 2e-6,
                "output_cost_per_token": 2e-6,
            },
        }
    )
    assert not enrich(_unpriced("a", "model"), catalogue).priced
    assert enrich(_unpriced("a", "y/model"), catalogue).input_price_per_mtok == 2.0


def test_combined_catalogues_are_asked_in_order(
    litellm: PriceCatalogue, models_dev: PriceCatalogue
) -> None:
    both = combine(models_dev, litellm)
    assert enrich(_unpriced("groq", "llama-3.1-8b-instant"), both).price_source == "models.dev"
    assert enrich(_unpriced("openai", "gpt-4o"), both).price_source == "litellm"


def test_models_dev_api_json(tmp_path: Path) -> None:
    api = {
        "openai": {
            "id": "openai",
            "models": {
                "gpt-x": {
                    "id": "gpt-x",
                    "cost": {"input": 1.25, "output": 10},
                    "limit": {"context": 400000, "output": 128000},
                }
            },
        }
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps(api))
    catalogue = load_price_catalogue(path)
    assert catalogue.source == "models.dev"
    assert enrich(_unpriced("openai", "gpt-x"), catalogue).output_price_per_mtok == 10.0
    assert len(models_dev_api_catalogue(api)) == 1


def test_unreadable_catalogues_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text("{not json")
    with pytest.raises(PricingError, match=r"prices\.json"):
        load_price_catalogue(bad)
    broken = tmp_path / "providers" / "x" / "models"
    broken.mkdir(parents=True)
    (broken / "m.toml").write_text("[cost]\ninput = = 1\n")
    with pytest.raises(PricingError, match=r"m\.toml: invalid TOML"):
        load_price_catalogue(tmp_path)


def test_price_files_skip_what_cannot_be_read_and_keep_the_order(tmp_path: Path) -> None:
    litellm_path, empty, api = tmp_path / "litellm.json", tmp_path / "empty.json", tmp_path / "a"
    litellm_path.write_text(json.dumps(LITELLM_MAP))
    empty.write_text("{}")
    api.write_text(
        json.dumps({"openai": {"models": {"gpt-4o": {"cost": {"input": 9, "output": 9}}}}})
    )

    prices, errors = load_price_files([tmp_path / "missing.json", litellm_path, empty, api])
    nothing, none = load_price_files([])

    assert [str(e).split(":")[0] for e in errors] == [str(tmp_path / "missing.json"), str(empty)]
    assert prices is not None
    assert enrich(_unpriced("openai", "gpt-4o"), prices).price_source == "litellm"
    assert (nothing, none) == (None, [])


def test_recorded_catalogues_price_real_models(tmp_path: Path) -> None:
    pricing = corpus.unpack("pricing", tmp_path)
    litellm = load_price_catalogue(
        pricing / "litellm" / "2025-10-21_llm.js-adaf2a0_model_prices_and_context_window.json"
    )
    models_dev = load_price_catalogue(pricing / "models.dev")
    assert enrich(_unpriced("openai", "gpt-4o"), litellm).input_price_per_mtok == 2.5
    record = enrich(_unpriced("groq", "llama-3.1-8b-instant"), models_dev)
    assert record.price_source == "models.dev"
    assert record.priced
    free_plan = enrich(_unpriced("github", "openai/gpt-4.1"), models_dev)  # 0 in the catalogue
    assert not free_plan.priced
