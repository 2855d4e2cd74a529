"""Google Gemini ``GET /v1beta/models``: ``{"models": [{"name": "models/…", ...}]}``.

``inputTokenLimit`` / ``outputTokenLimit`` give the window; ``supportedGenerationMethods``
tells chat (``generateContent``) from embedding (``embedContent``) and image/video
generation (``predict`` / ``predictLongRunning``); ``thinking: true`` means reasoning.
No prices in the body. ``nextPageToken`` is the next page.
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
    read_items,
    record_id,
    require_list,
    strings,
    text,
)
from services.catalog.records import ModelRecord

NAME = "gemini"

_USED = frozenset({"name", "displayName", "inputTokenLimit", "outputTokenLimit", "thinking"})


def detect(doc: Json) -> bool:
    first = first_object(doc.get("models")) if isinstance(doc, Mapping) else None
    if first is None:
        return False
    return "supportedGenerationMethods" in first or text(first.get("name")).startswith("models/")


def parse(doc: Json, provider: str) -> Page:
    items = require_list(doc, "models", NAME)
    next_page = text(doc.get("nextPageToken")) or None
    return read_items(items, "name", "models", read_item, provider, next_page)


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("name")).removeprefix("models/")
    methods = set(strings(item.get("supportedGenerationMethods")))
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("displayName")),
        context_window=first_int(item, "inputTokenLimit"),
        max_output_tokens=first_int(item, "outputTokenLimit"),
        output_modalities=_outputs(upstream, methods),
        capabilities=frozenset({"reasoning"} if item.get("thinking") is True else ()),
        extra=encode_extra(item, _USED),
    )


def _outputs(upstream: str, methods: set[str]) -> tuple[str, ...]:
    if "generateContent" in methods or "bidiGenerateContent" in methods:
        return ("text",)
    if methods & {"embedContent", "embedText", "asyncBatchEmbedContent"}:
        return ("embedding",)
    if methods & {"predict", "predictLongRunning"}:
        return ("video",) if upstream.startswith("veo") else ("image",)
    return ("text",)
