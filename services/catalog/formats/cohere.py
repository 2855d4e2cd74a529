"""Cohere ``GET /v1/models``: ``{"models": [{"name", "endpoints", "context_length", ...}]}``.

``features`` (tools, json_mode, json_schema, reasoning, vision…) and ``supports_vision``
give the capabilities; ``endpoints`` tell chat from embed/rerank/transcription models.
No prices. ``next_page_token`` is the next page.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    capabilities_from_words,
    encode_extra,
    first_int,
    first_object,
    read_items,
    record_id,
    require_list,
    strings,
    text,
)
from services.catalog.records import ModelRecord

NAME = "cohere"

_USED = frozenset({"name", "context_length", "features", "supports_vision"})


def detect(doc: Json) -> bool:
    first = first_object(doc.get("models")) if isinstance(doc, Mapping) else None
    return first is not None and "endpoints" in first and "name" in first


def parse(doc: Json, provider: str) -> Page:
    items = require_list(doc, "models", NAME)
    next_page = text(doc.get("next_page_token")) or None
    return read_items(items, "name", "models", read_item, provider, next_page)


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("name"))
    caps = capabilities_from_words(strings(item.get("features")))
    if item.get("supports_vision") is True:
        caps.add("vision")
    endpoints = set(strings(item.get("endpoints")))
    inputs = ("text", "image") if "vision" in caps or "embed_image" in endpoints else ("text",)
    if "transcriptions" in endpoints:
        inputs = ("audio",)
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        context_window=first_int(item, "context_length"),
        input_modalities=inputs,
        output_modalities=_outputs(endpoints),
        capabilities=frozenset(caps),
        extra=encode_extra(item, _USED),
    )


def _outputs(endpoints: set[str]) -> tuple[str, ...]:
    if endpoints & {"chat", "generate", "summarize", "transcriptions"}:
        return ("text",)
    if endpoints & {"embed", "embed_image"}:
        return ("embedding",)
    if "rerank" in endpoints:
        return ("score",)
    return ("text",)
