"""Format parsers: provider conventions, auto-detection, generic fallback, malformed bodies."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.catalog.formats import (
    FORMATS,
    LOCAL_FORMATS,
    ParseError,
    ParseResult,
    detect_format,
    parse_models,
)
from services.catalog.freeness import FreePolicy, classify
from services.catalog.records import FreeReason, ModelRecord
from tests import corpus


def _one(body: Any, provider: str = "p", fmt: str = "auto") -> ModelRecord:
    result = parse_models(body, provider, fmt)
    assert len(result.records) == 1, result
    return result.records[0]


def _by_id(result: ParseResult) -> dict[str, ModelRecord]:
    return {r.upstream_id: r for r in result.records}


def _fixture(name: str) -> bytes:
    """A recorded maruel/genai body from data/providers, by "<provider>/<file>"."""
    provider, file = name.split("/")
    return corpus.read("providers", f"{provider}/maruel-genai/{file}")


def _openrouter(model_id: str, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": model_id,
        "name": model_id,
        "context_length": 8192,
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
        "top_provider": {"context_length": 8192, "max_completion_tokens": 1024},
        "supported_parameters": [],
    }
    item.update(fields)
    return {"data": [item]}


# --- OpenRouter --------------------------------------------------------------------------


def test_openrouter_prices_are_per_token_strings_converted_to_per_million() -> None:
    record = _one(_openrouter("a/b", pricing={"prompt": "0.00000045", "completion": "0.0000032"}))
    assert record.input_price_per_mtok == 0.45
    assert record.output_price_per_mtok == 3.2
    assert record.price_source == "provider"
    assert (record.context_window, record.max_output_tokens) == (8192, 1024)


def test_openrouter_negative_price_means_variable_so_unknown_and_not_free() -> None:
    result = parse_models(
        _openrouter("openrouter/auto", pricing={"prompt": "-1", "completion": "-1"}), "openrouter"
    )
    record = classify(result.records[0], FreePolicy())
    assert record.input_price_per_mtok is None
    assert record.output_price_per_mtok is None
    assert not record.priced
    assert not record.is_free
    assert json.loads(record.extra["pricing"]) == {"prompt": "-1", "completion": "-1"}
    assert any("openrouter/auto" in w for w in result.warnings)


def test_openrouter_free_suffix_is_a_free_variant() -> None:
    body = _openrouter("meta/llama:free", pricing={"prompt": "0", "completion": "0"})
    record = classify(_one(body, "openrouter"), FreePolicy())
    assert record.is_free
    assert record.free_reason is FreeReason.FREE_VARIANT
    assert record.id == "openrouter/meta/llama:free"


def test_openrouter_zero_priced_router_is_free_by_price_but_audio_output_is_not() -> None:
    router = classify(
        _one(_openrouter("openrouter/free", pricing={"prompt": "0", "completion": "0"})),
        FreePolicy(),
    )
    music = _openrouter(
        "google/lyria",
        pricing={"prompt": "0", "completion": "0"},
        architecture={"input_modalities": ["text"], "output_modalities": ["text", "audio"]},
    )
    assert router.free_reason is FreeReason.ZERO_PRICE
    assert not classify(_one(music), FreePolicy()).is_free


def test_openrouter_supported_parameters_and_modalities_give_capabilities() -> None:
    body = _openrouter(
        "x/y",
        supported_parameters=["tools", "tool_choice", "response_format", "include_reasoning"],
        architecture={"input_modalities": ["text", "image"], "output_modalities": ["text"]},
    )
    record = _one(body)
    assert record.capabilities == {"tools", "json", "reasoning", "vision"}
    assert record.input_modalities == ("text", "image")


def test_openrouter_old_modality_string_and_next_link() -> None:
    body = _openrouter("x/y", architecture={"modality": "text+image->text"})
    body["links"] = {"next": "/api/v1/models?offset=2"}
    result = parse_models(body, "openrouter")
    assert result.records[0].input_modalities == ("text", "image")
    assert result.next_page == "/api/v1/models?offset=2"


def test_openrouter_unmapped_fields_are_kept_json_encoded_in_extra() -> None:
    record = _one(_openrouter("x/y", description="A model.", created=17))
    assert record.extra["description"] == '"A model."'
    assert record.extra["created"] == "17"


def test_openrouter_endpoints_body_takes_the_cheapest_endpoint() -> None:
    body = {
        "data": {
            "id": "g/pro",
            "name": "Pro",
            "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
            "endpoints": [
                {
                    "context_length": 1000,
                    "pricing": {"prompt": "0.000002", "completion": "0.00001"},
                },
                {
                    "context_length": 2000,
                    "pricing": {"prompt": "0.000001", "completion": "0.00001"},
                    "supported_parameters": ["tools"],
                },
            ],
        }
    }
    result = parse_models(body, "openrouter")
    assert result.format == "openrouter_endpoints"
    record = result.records[0]
    assert (record.input_price_per_mtok, record.context_window) == (1.0, 2000)
    assert "tools" in record.capabilities


# --- Together ----------------------------------------------------------------------------


def _together(model_id: str, kind: str, price_in: float, price_out: float) -> dict[str, Any]:
    return {
        "id": model_id,
        "display_name": model_id,
        "type": kind,
        "context_length": 32768,
        "pricing": {"hourly": 0, "input": price_in, "output": price_out, "base": 0, "finetune": 0},
    }


def test_together_zero_token_price_is_unknown_unless_the_model_is_marked_free() -> None:
    body = [
        _together("lab/dedicated-chat", "chat", 0, 0),
        _together("lab/Image-Model", "image", 0, 0),
        _together("meta/Llama-3.3-70B-Instruct-Turbo-Free", "chat", 0, 0),
        _together("meta/Llama-3.3-70B-Instruct-Turbo", "chat", 0.88, 0.88),
    ]
    records = {
        r.upstream_id: classify(r, FreePolicy()) for r in parse_models(body, "together").records
    }
    dedicated, image = records["lab/dedicated-chat"], records["lab/Image-Model"]
    free, paid = (
        records["meta/Llama-3.3-70B-Instruct-Turbo-Free"],
        records["meta/Llama-3.3-70B-Instruct-Turbo"],
    )
    assert not dedicated.priced
    assert not dedicated.is_free
    assert not image.priced
    assert not image.is_free
    assert image.output_modalities == ("image",)
    assert free.is_free
    assert free.free_reason is FreeReason.FREE_VARIANT
    assert free.input_price_per_mtok == 0.0
    assert paid.input_price_per_mtok == 0.88
    assert not paid.is_free


def test_together_recorded_body_marks_only_the_free_suffix_models_free() -> None:
    result = parse_models(
        _fixture("together/2025-08-30_3d6b07ed_togetherai__TestClient_Warmup.body.json"), "together"
    )
    free = sorted(r.upstream_id for r in result.records if classify(r, FreePolicy()).is_free)
    assert result.format == "together"
    assert len(result.records) == 80
    assert free == [
        "black-forest-labs/FLUX.1-schnell-Free",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B-free",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free",
    ]


# --- OpenAI-compatible family ------------------------------------------------------------


def test_openai_list_needs_only_ids_and_leaves_models_unpriced() -> None:
    body = {"object": "list", "data": [{"id": "gpt-x", "object": "model", "owned_by": "openai"}]}
    record = _one(body, "openai")
    assert record.id == "openai/gpt-x"
    assert not record.priced
    assert record.price_source == ""
    assert record.extra == {"owned_by": '"openai"'}


def test_openai_cursor_pagination() -> None:
    body = {"object": "list", "data": [{"id": "a"}], "has_more": True, "last_id": "a"}
    assert parse_models(body, "openai").next_page == "a"


def test_groq_recorded_body_reads_pricing_window_and_features() -> None:
    result = parse_models(
        _fixture("groq/2026-06-22_5aefeb1b_groq__TestClient_Warmup.body.json"), "groq"
    )
    scout = _by_id(result)["meta-llama/llama-4-scout-17b-16e-instruct"]
    assert result.format == "openai"
    assert (scout.input_price_per_mtok, scout.output_price_per_mtok) == (0.11, 0.34)
    assert (scout.context_window, scout.max_output_tokens) == (131072, 8192)
    assert scout.capabilities == {"tools", "json", "vision"}


def test_format_aliases_force_the_openai_parser() -> None:
    assert parse_models({"data": [{"id": "m"}]}, "groq", fmt="groq").format == "openai"
    assert {"groq", "cerebras", "deepseek", "alibaba", "baseten", "xiaomi"} <= set(FORMATS)


# --- the other providers -----------------------------------------------------------------


def test_anthropic_capability_tree() -> None:
    result = parse_models(
        _fixture("anthropic/2026-08-17_23c16cde_anthropic__TestClient_Warmup.body.json"),
        "anthropic",
    )
    opus = _by_id(result)["claude-opus-5"]
    assert result.format == "anthropic"
    assert (opus.context_window, opus.max_output_tokens) == (1_000_000, 128_000)
    assert opus.capabilities == {"vision", "json", "reasoning"}
    assert "image" in opus.input_modalities


def test_gemini_strips_models_prefix_and_pages() -> None:
    body = {
        "models": [
            {
                "name": "models/gemini-x",
                "displayName": "Gemini X",
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": ["generateContent"],
                "thinking": True,
            },
            {"name": "models/embed-y", "supportedGenerationMethods": ["embedContent"]},
        ],
        "nextPageToken": "tok",
    }
    result = parse_models(body, "gemini")
    models = _by_id(result)
    assert result.format == "gemini"
    assert result.next_page == "tok"
    assert models["gemini-x"].capabilities == {"reasoning"}
    assert models["gemini-x"].context_window == 1048576
    assert models["embed-y"].output_modalities == ("embedding",)


def test_mistral_capability_flags() -> None:
    body = {
        "object": "list",
        "data": [
            {
                "id": "m-large",
                "name": "m-large",
                "max_context_length": 131072,
                "capabilities": {
                    "completion_chat": True,
                    "function_calling": True,
                    "vision": True,
                    "reasoning": False,
                },
            }
        ],
    }
    record = _one(body, "mistral")
    assert record.capabilities == {"tools", "vision"}
    assert record.context_window == 131072


def test_mistral_duplicate_ids_are_merged_with_a_warning() -> None:
    def item(chat: bool, audio: bool) -> dict[str, Any]:
        return {
            "id": "voxtral",
            "capabilities": {"completion_chat": chat, "audio_transcription": audio},
        }

    result = parse_models({"data": [item(True, False), item(False, True)]}, "mistral")
    assert len(result.records) == 1
    assert "audio" in result.records[0].input_modalities
    assert any("voxtral" in w for w in result.warnings)


def test_cloudflare_properties_prices_and_page_numbers() -> None:
    page1 = parse_models(
        _fixture("cloudflare/2026-06-22_5aefeb1b_cloudflare__TestClient_Warmup.body-1.json"),
        "cloudflare",
    )
    page2 = parse_models(
        _fixture("cloudflare/2026-06-22_5aefeb1b_cloudflare__TestClient_Warmup.body-2.json"),
        "cloudflare",
    )
    gpt = _by_id(page1)["@cf/openai/gpt-oss-120b"]
    assert (gpt.input_price_per_mtok, gpt.output_price_per_mtok) == (0.35, 0.75)
    assert gpt.context_window == 128000
    assert gpt.capabilities >= {"tools", "reasoning"}
    assert page1.next_page == "2"
    assert page2.records == []
    assert page2.next_page is None
    assert any("no models" in w for w in page2.warnings)


def test_cohere_features_and_endpoints() -> None:
    body = {
        "models": [
            {
                "name": "command-a",
                "endpoints": ["chat"],
                "context_length": 256000,
                "features": ["tools", "json_mode", "reasoning"],
                "supports_vision": True,
            },
            {"name": "embed-v4", "endpoints": ["embed"], "context_length": 512, "features": None},
        ],
        "next_page_token": "n2",
    }
    result = parse_models(body, "cohere")
    models = _by_id(result)
    assert models["command-a"].capabilities == {"tools", "json", "reasoning", "vision"}
    assert models["embed-v4"].output_modalities == ("embedding",)
    assert result.next_page == "n2"


def test_github_models_limits_and_capabilities() -> None:
    body = [
        {
            "id": "openai/gpt-4.1",
            "name": "GPT-4.1",
            "publisher": "OpenAI",
            "registry": "azure-openai",
            "rate_limit_tier": "high",
            "supported_input_modalities": ["text", "image"],
            "supported_output_modalities": ["text"],
            "capabilities": ["tool-calling", "streaming"],
            "limits": {"max_input_tokens": 1048576, "max_output_tokens": 32768},
        }
    ]
    record = _one(body, "github")
    assert record.capabilities == {"tools", "vision"}
    assert (record.context_window, record.max_output_tokens) == (1048576, 32768)
    assert record.extra["rate_limit_tier"] == '"high"'


def test_huggingface_pipeline_tag_gives_modalities() -> None:
    body = [
        {
            "_id": "1",
            "id": "org/vlm",
            "modelId": "org/vlm",
            "pipeline_tag": "image-text-to-text",
            "tags": [],
        }
    ]
    record = _one(body, "huggingface")
    assert record.input_modalities == ("text", "image")
    assert record.capabilities == {"vision"}


def test_pollinations_prices_in_pollen_stay_unpriced_and_bare_names_parse() -> None:
    text_models = parse_models(
        _fixture("pollinations/2025-12-18_595633fe_pollinations__TestClient_Warmup.body-2.json"),
        "pollinations",
    )
    assert text_models.format == "pollinations"
    assert len(text_models.records) == 21
    assert not any(r.priced for r in text_models.records)
    assert "pollen" in text_models.records[0].extra["pricing"]
    names = parse_models(b'["flux","turbo"]', "pollinations")
    assert [r.upstream_id for r in names.records] == ["flux", "turbo"]


def test_pollinations_paid_only_models_are_left_out_of_a_free_tier() -> None:
    body = [
        {"name": "open", "input_modalities": ["text"], "paid_only": False},
        {"name": "premium", "input_modalities": ["text"], "paid_only": True},
        {"name": "old", "input_modalities": ["text"], "tier": "flower"},
    ]
    policy = FreePolicy(mode="free_tier")
    free = {
        r.upstream_id: classify(r, policy).is_free
        for r in parse_models(body, "pollinations").records
    }
    assert free == {"open": True, "premium": False, "old": False}


# --- local runtimes ----------------------------------------------------------------------


def test_llamacpp_meta_window_and_multimodal() -> None:
    result = parse_models(
        _fixture("llamacpp/2026-05-28_bd7a2b9d_llamacpp__TestClient_ListModels.body.json"),
        "llamacpp",
    )
    record = result.records[0]
    assert result.format == "llamacpp"
    assert result.format in LOCAL_FORMATS
    assert record.upstream_id == "unsloth/Qwen3.5-2B-GGUF"
    assert record.context_window == 16384
    assert record.capabilities == {"vision"}


def test_ollama_tags() -> None:
    body = {
        "models": [
            {
                "name": "llama3.1:8b",
                "model": "llama3.1:8b",
                "size": 1,
                "digest": "d",
                "modified_at": "2025-01-01T00:00:00Z",
                "details": {"family": "llama"},
            }
        ]
    }
    record = classify(_one(body, "ollama"), FreePolicy(mode="local"))
    assert record.id == "ollama/llama3.1:8b"
    assert record.free_reason is FreeReason.LOCAL_RUNTIME
    assert json.loads(record.extra["details"]) == {"family": "llama"}


def test_ollama_show_map_reads_the_window_from_model_info() -> None:
    body = {
        "qwen3:latest": {
            "modelfile": "...",
            "capabilities": ["completion", "tools", "thinking"],
            "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
        }
    }
    record = _one(body, "ollama")
    assert record.context_window == 40960
    assert record.capabilities == {"tools", "reasoning"}


def test_lmstudio_rest_list_and_sdk_map() -> None:
    rest = {
        "object": "list",
        "data": [
            {
                "id": "qwen2-vl",
                "object": "model",
                "type": "vlm",
                "arch": "qwen2_vl",
                "compatibility_type": "gguf",
                "state": "loaded",
                "max_context_length": 32768,
                "capabilities": ["tool_use"],
            }
        ],
    }
    sdk = {
        "m/devstral": {
            "type": "llm",
            "modelKey": "m/devstral",
            "displayName": "Devstral",
            "vision": False,
            "trainedForToolUse": True,
            "maxContextLength": 131072,
        }
    }
    loaded, listed = _one(rest, "lmstudio"), _one(sdk, "lmstudio")
    assert loaded.capabilities == {"vision", "tools"}
    assert loaded.context_window == 32768
    assert listed.display_name == "Devstral"
    assert listed.capabilities == {"tools"}
    assert detect_format(rest) == detect_format(sdk) == "lmstudio"


# --- detection, fallback, errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_openrouter("a/b"), "openrouter"),
        ({"object": "list", "data": [{"id": "gpt"}]}, "openai"),
        ({"data": [{"type": "model", "id": "claude", "display_name": "Claude"}]}, "anthropic"),
        ({"models": [{"name": "models/g", "supportedGenerationMethods": []}]}, "gemini"),
        ({"models": [{"name": "c", "endpoints": ["chat"]}]}, "cohere"),
        ({"models": [{"name": "o", "model": "o", "digest": "x"}]}, "ollama"),
        ({"success": True, "result": [{"name": "@cf/x"}]}, "cloudflare"),
        ([{"id": "h", "modelId": "h", "pipeline_tag": "text-generation"}], "huggingface"),
        (["flux"], "pollinations"),
        ({"items": [{"model": "a"}]}, "generic"),
    ],
)
def test_auto_detection_by_shape(body: Any, expected: str) -> None:
    assert detect_format(body) == expected


def test_unknown_shape_falls_back_to_generic_and_says_so() -> None:
    body = {
        "catalog": {"entries": [{"slug": "a", "context_window": 4096}, {"slug": "b"}, {"note": 1}]}
    }
    result = parse_models(json.dumps(body), "acme")
    assert result.generic
    assert result.format == "generic"
    assert [r.id for r in result.records] == ["acme/a", "acme/b"]
    assert result.records[0].context_window == 4096
    assert not result.records[0].priced
    assert any("generic parser" in w for w in result.warnings)


def test_generic_reads_a_map_of_model_objects() -> None:
    result = parse_models({"alpha": {"size": 1}, "beta": {"size": 2}}, "acme")
    assert result.generic
    assert [r.upstream_id for r in result.records] == ["alpha", "beta"]


def test_a_body_with_no_model_like_object_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no model-like objects"):
        parse_models({"status": "ok", "count": 3}, "acme")


def test_an_empty_model_list_is_reported_not_silent() -> None:
    result = parse_models(b'{"object":"list","data":[]}', "openai")
    assert result.records == []
    assert result.format == "openai"
    assert result.warnings == ["openai: the body lists no models"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body is empty"),
        (b"   \n", "body is empty"),
        (b"<html>502 Bad Gateway</html>", "not valid JSON: Expecting value at line 1 column 1"),
        (b'{"data": [', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"42", "JSON number, not a model list"),
        (b'"models"', "JSON string, not a model list"),
        (b'{"error": {"message": "Invalid API key"}}', "error response.*Invalid API key"),
        (b'{"success": false, "errors": [{"code": 10000}], "result": null}', "success=false"),
    ],
)
def test_malformed_bodies_raise_a_clear_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_models(body, "p")


def test_forcing_a_format_on_the_wrong_shape_names_the_field() -> None:
    with pytest.raises(ParseError, match="openai: field 'data' must be a list, got object"):
        parse_models({"data": {"id": "x"}}, "p", fmt="openai")
    with pytest.raises(ParseError, match="together: expected a JSON array of models, got object"):
        parse_models({"data": []}, "p", fmt="together")


def test_unknown_format_name_and_empty_provider_are_rejected() -> None:
    with pytest.raises(ParseError, match="unknown format 'bogus'"):
        parse_models({"data": []}, "p", fmt="bogus")
    with pytest.raises(ParseError, match="provider name"):
        parse_models({"data": []}, "")


def test_entries_without_an_id_are_skipped_with_a_warning() -> None:
    result = parse_models({"object": "list", "data": [{"id": "ok"}, {"name": "no id"}, 7]}, "p")
    assert [r.upstream_id for r in result.records] == ["ok"]
    assert result.warnings == ["data[1] skipped: no string 'id'", "data[2] skipped: no string 'id'"]


def test_odd_field_values_never_crash_a_parser() -> None:
    body = _openrouter(
        "x/y",
        context_length="lots",
        pricing={"prompt": None, "completion": {}},
        top_provider=None,
        architecture=[],
        supported_parameters="tools",
    )
    record = _one(body)
    assert record.context_window == 0
    assert not record.priced
    assert record.capabilities == {"tools"}


def test_nock_recording_with_a_gzip_body_is_unwrapped() -> None:
    inner = json.dumps({"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]}).encode()
    nock = [
        {
            "scope": "https://api.x",
            "method": "GET",
            "path": "/v1/models",
            "status": 200,
            "response": [gzip.compress(inner).hex()],
        }
    ]
    result = parse_models(nock, "x")
    assert result.format == "openai"
    assert len(result.records) == 2
    assert any("nock" in w for w in result.warnings)


def test_already_decoded_json_and_text_bodies_parse_alike() -> None:
    body = {"object": "list", "data": [{"id": "m"}]}
    assert parse_models(body, "p") == parse_models(json.dumps(body), "p")
    assert parse_models(json.dumps(body).encode(), "p").records == parse_models(body, "p").records


def test_nock_recordings_are_detected_as_such() -> None:
    nock = [{"scope": "https://x", "method": "GET", "path": "/m", "response": {"data": []}}]
    assert detect_format(nock) == "nock"
    assert parse_models(nock, "x").format == "openai"


def test_an_empty_list_of_an_unknown_shape_is_empty_not_an_error() -> None:
    result = parse_models({"models": []}, "x")
    assert result.records == []
    assert result.generic
    assert any("lists no models" in w for w in result.warnings)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "name", "data", "models", "pricing", "prompt", "result", "x"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from(["auto", *FORMATS]))
def test_any_json_body_gives_a_result_or_a_parse_error(body: Any, fmt: str) -> None:
    try:
        result = parse_models(json.dumps(body), "p", fmt)
    except ParseError as exc:
        message = str(exc)
        assert "Error:" not in message, f"a parser crashed instead of reading the body: {message}"
        return
    assert all(r.id.startswith("p/") for r in result.records)
    assert result.records or result.warnings


def test_mistral_models_without_chat_completion_are_never_chat_models() -> None:
    from services.catalog.formats import mistral
    from services.shared.vocabulary import is_chat_model

    def record(flags: dict[str, bool], model_id: str) -> Any:
        return mistral.read_item({"id": model_id, "capabilities": flags}, "mistral")

    chat = record({"completion_chat": True, "function_calling": True}, "mistral-small")
    assert is_chat_model(chat.input_modalities, chat.output_modalities)
    for flags, model_id, output in (
        ({}, "codestral-embed", "embedding"),
        ({"classification": True}, "mistral-moderation", "classification"),
        ({"ocr": True}, "mistral-ocr", "document"),
        ({"audio_transcription": True}, "voxtral-mini", "transcript"),
        ({"audio_speech": True}, "voxtral-mini-tts", "audio"),
    ):
        other = record(flags, model_id)
        assert other.output_modalities == (output,), model_id
        assert not is_chat_model(other.input_modalities, other.output_modalities)
