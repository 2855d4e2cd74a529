"""Anthropic ``GET /v1/models``: ``{"data": [{"type": "model", "id", "display_name", ...}]}``.

Recent bodies state ``max_input_tokens``, ``max_tokens`` and a ``capabilities`` tree of
``{"supported": bool}`` nodes (``image_input``, ``structured_outputs``, ``thinking`` …); older
ones only the id and name. No prices. ``has_more`` + ``last_id`` is the next-page cursor.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    encode_extra,
    first_int,
    first_object,
    mapping,
    read_items,
    record_id,
    require_list,
    text,
)
from services.catalog.formats.openai import next_cursor
from services.catalog.records import ModelRecord

NAME = "anthropic"

_USED = frozenset({"id", "type", "display_name", "max_input_tokens", "max_tokens", "capabilities"})
_CAPABILITY_NODES = {
    "image_input": "vision",
    "structured_outputs": "json",
    "thinking": "reasoning",
    "tool_use": "tools",
}


def detect(doc: Json) -> bool:
    first = first_object(doc.get("data")) if isinstance(doc, Mapping) else None
    return first is not None and first.get("type") == "model" and "display_name" in first


def parse(doc: Json, provider: str) -> Page:
    items = require_list(doc, "data", NAME)
    return read_items(items, "id", "data", read_item, provider, next_cursor(doc))


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("id"))
    nodes = mapping(item.get("capabilities"))
    caps = {cap for node, cap in _CAPABILITY_NODES.items() if _supported(nodes.get(node))}
    inputs = ("text", "image") if "vision" in caps else ("text",)
    if _supported(nodes.get("pdf_input")):
        inputs = (*inputs, "file")
    extra = encode_extra(item, _USED)
    extra.update(encode_extra({k: v for k, v in nodes.items() if k not in _CAPABILITY_NODES}, ()))
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("display_name")),
        context_window=first_int(item, "max_input_tokens"),
        max_output_tokens=first_int(item, "max_tokens"),
        input_modalities=inputs,
        capabilities=frozenset(caps),
        extra=extra,
    )


def _supported(node: Json) -> bool:
    return isinstance(node, Mapping) and node.get("supported") is True
