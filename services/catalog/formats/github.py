"""GitHub Models ``GET https://models.github.ai/catalog/models``: a bare array of models.

Items carry ``id`` (``publisher/model``), ``name``, ``limits.max_input_tokens`` /
``max_output_tokens``, ``supported_input_modalities`` / ``supported_output_modalities``,
``capabilities`` (``tool-calling``, ``reasoning``, ``streaming``…) and ``rate_limit_tier``
(the free-tier bucket: low / high / custom / embeddings), kept in ``extra``. No prices:
GitHub Models is a rate-limited free tier, declared in the providers file.
"""

from __future__ import annotations

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    capabilities_from_words,
    encode_extra,
    first_int,
    first_object,
    mapping,
    modalities,
    read_items,
    record_id,
    require_top_list,
    strings,
    text,
    vision_from_modalities,
)
from services.catalog.records import ModelRecord

NAME = "github"

_USED = frozenset(
    {"id", "name", "limits", "supported_input_modalities", "supported_output_modalities"}
)


def detect(doc: Json) -> bool:
    first = first_object(doc)
    return first is not None and "publisher" in first and ("limits" in first or "registry" in first)


def parse(doc: Json, provider: str) -> Page:
    return read_items(require_top_list(doc, NAME), "id", "$", read_item, provider)


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("id"))
    limits = mapping(item.get("limits"))
    inputs = modalities(item.get("supported_input_modalities"))
    outputs = tuple(
        "embedding" if m == "embeddings" else m
        for m in modalities(item.get("supported_output_modalities"))
    )
    caps = capabilities_from_words(strings(item.get("capabilities")))
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("name")),
        context_window=first_int(limits, "max_input_tokens"),
        max_output_tokens=first_int(limits, "max_output_tokens"),
        input_modalities=inputs,
        output_modalities=outputs,
        capabilities=frozenset(caps | vision_from_modalities(inputs)),
        extra=encode_extra(item, _USED),
    )
