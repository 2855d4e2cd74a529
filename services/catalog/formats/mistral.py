"""Mistral ``GET /v1/models``: OpenAI list whose items carry a ``capabilities`` map of booleans.

``function_calling`` → tools, ``vision`` → vision (image input), ``reasoning`` → reasoning,
``audio``/``audio_transcription`` → audio input, ``audio_speech`` → audio output;
``max_context_length`` is the window. No prices.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    encode_extra,
    encode_value,
    first_int,
    first_object,
    read_items,
    record_id,
    require_list,
    text,
)
from services.catalog.records import ModelRecord

NAME = "mistral"

_USED = frozenset({"id", "object", "name", "max_context_length", "capabilities"})
_CAPABILITY_FLAGS = {"function_calling": "tools", "vision": "vision", "reasoning": "reasoning"}


def detect(doc: Json) -> bool:
    first = first_object(doc.get("data")) if isinstance(doc, Mapping) else None
    caps = first.get("capabilities") if first is not None else None
    return isinstance(caps, Mapping) and "completion_chat" in caps


def parse(doc: Json, provider: str) -> Page:
    return read_items(require_list(doc, "data", NAME), "id", "data", read_item, provider)


def _not_chat(upstream: str, flags: set[str]) -> tuple[str, ...]:
    """What a model without `completion_chat` gives (embedding, speech, a classification,
    OCR text of a document): never text to a chat, so it is never routed one."""
    if "audio_speech" in flags:
        return ("audio",)
    if flags & {"audio_transcription", "audio_transcription_realtime"}:
        return ("transcript",)
    if "classification" in flags or "moderation" in upstream:
        return ("classification",)
    if "ocr" in flags or "ocr" in upstream:
        return ("document",)
    return ("embedding",)


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("id"))
    raw = item.get("capabilities")
    flags = {k for k, v in raw.items() if v is True} if isinstance(raw, Mapping) else set()
    inputs = ["text"]
    if "vision" in flags:
        inputs.append("image")
    if flags & {"audio", "audio_transcription", "audio_transcription_realtime"}:
        inputs.append("audio")
    outputs = ("text",) if "completion_chat" in flags else _not_chat(upstream, flags)
    extra = encode_extra(item, _USED)
    extra["capability_flags"] = encode_value(sorted(flags))
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("name")),
        context_window=first_int(item, "max_context_length"),
        input_modalities=tuple(inputs),
        output_modalities=outputs,
        capabilities=frozenset(_CAPABILITY_FLAGS[f] for f in flags if f in _CAPABILITY_FLAGS),
        extra=extra,
    )
