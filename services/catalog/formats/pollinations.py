"""Pollinations ``/text/models`` and ``/image/models``.

Two shapes were recorded: a bare array of model names (``["flux", "turbo"]``, the image list
until 2025) and an array of objects with ``name``, ``aliases``, modalities, capability
booleans (``tools``, ``vision``, ``reasoning``) or a ``capabilities`` list, ``context_length``
and, since late 2025, ``pricing`` in **pollen** (Pollinations' credit currency, not USD): those
prices stay in ``extra`` and the record is unpriced. Older bodies state a ``tier``
(anonymous / seed / flower / nectar); newer ones ``paid_only``. A model the body puts out of
the free tier (``paid_only: true``, or tier flower/nectar) gets ``extra["paid_only"] = "true"``,
which ``freeness`` honours for a free-tier provider.
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
    modalities,
    record_id,
    require_top_list,
    strings,
    text,
    vision_from_modalities,
)
from services.catalog.records import ModelRecord

NAME = "pollinations"

_USED = frozenset({"name", "title", "input_modalities", "output_modalities", "context_length"})
_FLAGS = ("tools", "vision", "reasoning")
_PAID_TIERS = frozenset({"flower", "nectar"})
_MARKERS = ("input_modalities", "tier", "aliases", "is_specialized")


def detect(doc: Json) -> bool:
    if not isinstance(doc, list) or not doc:
        return False
    first = doc[0]
    if isinstance(first, str):
        return all(isinstance(v, str) for v in doc)
    return (
        isinstance(first, Mapping)
        and "name" in first
        and "id" not in first
        and any(k in first for k in _MARKERS)
    )


def parse(doc: Json, provider: str) -> Page:
    page = Page()
    for index, item in enumerate(require_top_list(doc, NAME)):
        record = _read(item, provider)
        if record is None:
            page.warnings.append(f"$[{index}] skipped: neither a model name nor an object with one")
        else:
            page.records.append(record)
    return page


def _read(item: Json, provider: str) -> ModelRecord | None:
    if isinstance(item, str) and item:
        return ModelRecord(id=record_id(provider, item), provider=provider, upstream_id=item)
    if isinstance(item, Mapping) and text(item.get("name")):
        return read_item(item, provider)
    return None


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("name"))
    inputs = modalities(item.get("input_modalities"))
    caps = capabilities_from_words(strings(item.get("capabilities")))
    caps |= {flag for flag in _FLAGS if item.get(flag) is True}
    caps |= vision_from_modalities(inputs)
    extra = encode_extra(item, _USED)
    if item.get("paid_only") is True or text(item.get("tier")) in _PAID_TIERS:
        extra["paid_only"] = "true"
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("title")) or text(item.get("description")),
        context_window=first_int(item, "context_length"),
        input_modalities=inputs,
        output_modalities=modalities(item.get("output_modalities")),
        capabilities=frozenset(caps),
        extra=extra,
    )
