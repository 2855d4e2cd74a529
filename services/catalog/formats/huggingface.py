"""Hugging Face Hub ``GET /api/models?inference=warm``: a bare array of Hub model entries.

Entries carry ``id``/``modelId``, ``pipeline_tag``, ``tags``, ``library_name`` and popularity
counters; no context window and no prices (Inference Providers bill per provider). The
``pipeline_tag`` gives the modalities; ``image-text-to-text`` means vision.
"""

from __future__ import annotations

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    encode_extra,
    first_object,
    read_items,
    record_id,
    require_top_list,
    text,
    vision_from_modalities,
)
from services.catalog.records import ModelRecord

NAME = "huggingface"

_USED = frozenset({"id", "modelId"})  # pipeline_tag stays in extra too: it is the model's task
_TEXT = ("text",)
# pipeline_tag → (input modalities, output modalities); unknown tags default to text → text.
_PIPELINES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "image-text-to-text": (("text", "image"), _TEXT),
    "visual-question-answering": (("text", "image"), _TEXT),
    "video-text-to-text": (("text", "video"), _TEXT),
    "audio-text-to-text": (("text", "audio"), _TEXT),
    "image-to-text": (("image",), _TEXT),
    "text-to-image": (_TEXT, ("image",)),
    "image-to-image": (("image", "text"), ("image",)),
    "text-to-video": (_TEXT, ("video",)),
    "image-to-video": (("image", "text"), ("video",)),
    "text-to-speech": (_TEXT, ("audio",)),
    "text-to-audio": (_TEXT, ("audio",)),
    "automatic-speech-recognition": (("audio",), _TEXT),
    "feature-extraction": (_TEXT, ("embedding",)),
    "sentence-similarity": (_TEXT, ("embedding",)),
}


def detect(doc: Json) -> bool:
    first = first_object(doc)
    return first is not None and "modelId" in first and ("pipeline_tag" in first or "_id" in first)


def parse(doc: Json, provider: str) -> Page:
    return read_items(require_top_list(doc, NAME), "id", "$", read_item, provider)


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("id"))
    pipeline = text(item.get("pipeline_tag"))
    inputs, outputs = _PIPELINES.get(pipeline, (_TEXT, _TEXT))
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        input_modalities=inputs,
        output_modalities=outputs,
        capabilities=frozenset(vision_from_modalities(inputs)),
        extra=encode_extra(item, _USED),
    )
