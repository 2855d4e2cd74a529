"""Fallback for unknown shapes: find model-like objects anywhere in the body.

A model-like object is a JSON object with a string ``id``, ``model``, ``name``, ``modelId`` or
``slug``. The parser walks the body (breadth first, bounded depth) and takes the list holding
the most such objects; a top-level object whose values are all objects is read as a map of
model name → details, and a list of strings as bare model names. Nothing here guesses prices:
every record is unpriced unless a later enrichment step finds one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    ShapeError,
    encode_extra,
    first_int,
    kind,
    modalities,
    record_id,
    text,
)
from services.catalog.records import ModelRecord

NAME = "generic"

ID_KEYS = ("id", "model", "name", "modelId", "slug", "model_id", "modelKey")
_NAME_KEYS = ("display_name", "displayName", "title", "name")
_CONTEXT_KEYS = (
    "context_length",
    "context_window",
    "max_context_length",
    "maxContextLength",
    "inputTokenLimit",
    "max_input_tokens",
    "n_ctx",
)
_OUTPUT_KEYS = ("max_output_tokens", "max_completion_tokens", "outputTokenLimit", "max_tokens")
_USED = frozenset({*_CONTEXT_KEYS, *_OUTPUT_KEYS, "input_modalities", "output_modalities"})
_MAX_DEPTH = 4


def detect(doc: Json) -> bool:
    return True


def parse(doc: Json, provider: str) -> Page:
    """Records for the best list of model-like objects found; ShapeError when there is none."""
    page = Page()
    if isinstance(doc, list) and doc and all(isinstance(v, str) for v in doc):
        page.records = [_bare(name, provider) for name in dict.fromkeys(doc) if name]
        return page
    items, where = _best_candidates(doc)
    if not items and isinstance(doc, Mapping):
        items, where = _map_of_objects(doc), "top-level map"
    if not items and _only_empty_lists(doc):
        return page  # e.g. {"models": []}: an empty list, which parse_models reports
    if not items:
        raise ShapeError(
            f"no model-like objects found in the {kind(doc)} body "
            f"(looked for objects with one of {', '.join(ID_KEYS)})"
        )
    page.records = _unique(read_item(item, provider) for item in items)
    page.warnings.append(f"generic parser: {len(page.records)} model(s) read from {where}")
    return page


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = model_key(item)
    used = {key for key in ID_KEYS if item.get(key) == upstream} | _USED
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=next((text(item.get(k)) for k in _NAME_KEYS if text(item.get(k))), ""),
        context_window=first_int(item, *_CONTEXT_KEYS),
        max_output_tokens=first_int(item, *_OUTPUT_KEYS),
        input_modalities=modalities(item.get("input_modalities")),
        output_modalities=modalities(item.get("output_modalities")),
        extra=encode_extra(item, used),
    )


def model_key(item: JsonObject) -> str:
    """The first non-empty string under one of the id keys ('' when none)."""
    for key in ID_KEYS:
        value = text(item.get(key))
        if value:
            return value
    return ""


def _bare(name: str, provider: str) -> ModelRecord:
    return ModelRecord(id=record_id(provider, name), provider=provider, upstream_id=name)


def _best_candidates(doc: Json) -> tuple[list[JsonObject], str]:
    """The list (searched to a bounded depth) with the most model-like objects, and its path."""
    best: list[JsonObject] = []
    best_path = ""
    frontier: list[tuple[Json, str]] = [(doc, "$")]
    for _ in range(_MAX_DEPTH):
        next_frontier: list[tuple[Json, str]] = []
        for node, path in frontier:
            if isinstance(node, list):
                models = [v for v in node if isinstance(v, Mapping) and model_key(v)]
                if len(models) > len(best):
                    best, best_path = models, path
                next_frontier.extend((v, f"{path}[]") for v in node[:1] if isinstance(v, Mapping))
            elif isinstance(node, Mapping):
                next_frontier.extend((v, f"{path}.{k}") for k, v in node.items())
        frontier = next_frontier
    return best, best_path


def _only_empty_lists(doc: Json) -> bool:
    if isinstance(doc, list):
        return not doc
    lists = [v for v in doc.values() if isinstance(v, list)] if isinstance(doc, Mapping) else []
    return bool(lists) and not any(lists)


def _map_of_objects(doc: JsonObject) -> list[JsonObject]:
    """``{"name": {...details...}, ...}`` → objects carrying their key as ``id`` when needed."""
    if not doc or not all(isinstance(v, Mapping) for v in doc.values()):
        return []
    return [v if model_key(v) else {"id": k, **v} for k, v in doc.items()]


def _unique(records: Iterable[ModelRecord]) -> list[ModelRecord]:
    seen: dict[str, ModelRecord] = {}
    for record in records:
        if record.upstream_id and record.id not in seen:
            seen[record.id] = record
    return list(seen.values())
