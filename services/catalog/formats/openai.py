"""OpenAI-compatible ``GET /v1/models``: ``{"object": "list", "data": [{"id": ...}, ...]}``.

Used as is by OpenAI, Groq, Cerebras, DeepSeek, Xiaomi MiMo, Alibaba DashScope (compatible
mode), Baseten and vLLM. Several of them add richer fields to the same items (Groq and Baseten:
``pricing`` per token as strings, ``context_length``/``context_window``, modalities,
``supported_features``); every field we know is mapped, every other one is kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    capabilities_from_words,
    encode_extra,
    encode_value,
    first_int,
    first_object,
    mapping,
    modalities,
    modalities_from_id,
    per_token_to_mtok,
    provider_priced,
    read_items,
    record_id,
    require_list,
    strings,
    text,
    usd,
    vision_from_modalities,
)
from services.catalog.records import ModelRecord

NAME = "openai"

_CONTEXT_KEYS = ("context_length", "context_window", "max_context_length", "max_model_len")
_OUTPUT_KEYS = ("max_completion_tokens", "max_output_length", "max_output_tokens")
_USED = frozenset(
    {
        "id",
        "object",
        "name",
        "display_name",
        "pricing",
        "input_modalities",
        "output_modalities",
        "supported_features",
        "supported_parameters",
        *_CONTEXT_KEYS,
        *_OUTPUT_KEYS,
    }
)
# Per-token price keys mapped into the record; other pricing components stay in extra.
_PRICE_KEYS = frozenset({"prompt", "completion", "request"})


def detect(doc: Json) -> bool:
    """An object whose ``data`` is a list of objects with an ``id``."""
    if not isinstance(doc, Mapping):
        return False
    data = doc.get("data")
    if isinstance(data, list) and not data:
        return True  # an empty OpenAI-style list: nothing to parse, reported as empty
    first = first_object(data)
    return first is not None and "id" in first


def parse(doc: Json, provider: str) -> Page:
    items = require_list(doc, "data", NAME)
    return read_items(items, "id", "data", read_item, provider, next_cursor(doc))


def next_cursor(doc: JsonObject) -> str | None:
    """OpenAI/Anthropic-style cursor: ``has_more`` with ``last_id`` → the id to continue after."""
    if doc.get("has_more") is True:
        last = text(doc.get("last_id"))
        return last or None
    return None


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    """One OpenAI-compatible model object (with the richer optional fields some providers add)."""
    upstream = text(item.get("id"))
    inputs = modalities(item.get("input_modalities"))
    outputs = modalities(item.get("output_modalities"))
    told = modalities_from_id(upstream)
    if told and "input_modalities" not in item and "output_modalities" not in item:
        inputs, outputs = told
    prices = mapping(item.get("pricing"))
    words = (*strings(item.get("supported_features")), *strings(item.get("supported_parameters")))
    extra = encode_extra(item, _USED)
    leftover = {k: v for k, v in prices.items() if k not in _PRICE_KEYS}
    if leftover:
        extra["pricing"] = encode_value(leftover)
    input_price = per_token_to_mtok(prices.get("prompt"))
    output_price = per_token_to_mtok(prices.get("completion"))
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("display_name")) or text(item.get("name")),
        context_window=first_int(item, *_CONTEXT_KEYS),
        max_output_tokens=first_int(item, *_OUTPUT_KEYS),
        input_price_per_mtok=input_price,
        output_price_per_mtok=output_price,
        request_price=usd(prices.get("request")),
        price_source=provider_priced(input_price, output_price),
        input_modalities=inputs,
        output_modalities=outputs,
        capabilities=frozenset(capabilities_from_words(words) | vision_from_modalities(inputs)),
        extra=extra,
    )
