"""Cloudflare Workers AI ``GET /accounts/{id}/ai/models/search``: the v4 API envelope.

``{"success": true, "result": [...], "result_info": {"page", "per_page", "total_count"}}``.
The upstream id is the model ``name`` (``@cf/meta/llama-3.1-8b-instruct``), which is what
the inference API takes. ``properties`` is a list of ``{"property_id", "value"}``:
``context_window`` (or ``max_input_tokens``), ``function_calling``, ``reasoning``, ``vision``,
and ``price``: a list of ``{"unit", "price", "currency"}`` where the units "per M input
tokens" / "per M output tokens" are already per million tokens and "per inference request"
is per request; other units (per step, per audio minute, per tile…) stay in ``extra``.
Pagination is by page number: the next page is asked while ``page * per_page < total_count``
and the current page was not empty.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    encode_extra,
    encode_value,
    mapping,
    positive_int,
    provider_priced,
    read_items,
    record_id,
    require_list,
    text,
    usd,
    vision_from_modalities,
)
from services.catalog.records import ModelRecord

NAME = "cloudflare"

_USED = frozenset({"name", "task", "properties"})
_FLAGS = {"function_calling": "tools", "reasoning": "reasoning", "vision": "vision"}
_TEXT = ("text",)
_TASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Text-to-Image": (_TEXT, ("image",)),
    "Text Embeddings": (_TEXT, ("embedding",)),
    "Automatic Speech Recognition": (("audio",), _TEXT),
    "Image-to-Text": (("image",), _TEXT),
    "Text-to-Speech": (_TEXT, ("audio",)),
    "Image Classification": (("image",), _TEXT),
    "Object Detection": (("image",), _TEXT),
    "Dumb Pipe": (("audio",), _TEXT),
}


def detect(doc: Json) -> bool:
    return isinstance(doc, Mapping) and isinstance(doc.get("result"), list) and "success" in doc


def parse(doc: Json, provider: str) -> Page:
    items = require_list(doc, "result", NAME)
    next_page = _next_page(doc.get("result_info"), bool(items))
    return read_items(items, "name", "result", read_item, provider, next_page)


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("name"))
    props = _properties(item.get("properties"))
    task_name = text(mapping(item.get("task")).get("name"))
    inputs, outputs = _TASKS.get(task_name, (_TEXT, _TEXT))
    caps = {cap for flag, cap in _FLAGS.items() if _truthy(props.get(flag))}
    if "vision" in caps and "image" not in inputs:
        inputs = (*inputs, "image")
    prices = _prices(props.get("price"))
    extra = encode_extra(item, _USED)
    extra.update(encode_extra(props, ("context_window", *_FLAGS)))
    if task_name:
        extra["task"] = encode_value(task_name)
    input_price = prices.get("per m input tokens")
    output_price = prices.get("per m output tokens")
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=upstream.rsplit("/", 1)[-1],
        context_window=positive_int(props.get("context_window"))
        or positive_int(props.get("max_input_tokens")),
        input_price_per_mtok=input_price,
        output_price_per_mtok=output_price,
        request_price=prices.get("per inference request"),
        price_source=provider_priced(input_price, output_price),
        input_modalities=inputs,
        output_modalities=outputs,
        capabilities=frozenset(caps | vision_from_modalities(inputs)),
        extra=extra,
    )


def _properties(value: Json) -> dict[str, Json]:
    if not isinstance(value, list):
        return {}
    return {
        text(p.get("property_id")): p.get("value")
        for p in value
        if isinstance(p, Mapping) and text(p.get("property_id"))
    }


def _prices(value: Json) -> dict[str, float]:
    """Unit (lower case) → USD amount, for USD entries only."""
    found: dict[str, float] = {}
    for entry in value if isinstance(value, list) else ():
        if not isinstance(entry, Mapping) or text(entry.get("currency")).upper() != "USD":
            continue
        unit = text(entry.get("unit")).lower()
        amount = usd(entry.get("price"))  # "per M … tokens" units are already per million
        if unit and amount is not None:
            found[unit] = amount
    return found


def _truthy(value: Json) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _next_page(info: Json, page_had_items: bool) -> str | None:
    if not isinstance(info, Mapping) or not page_had_items:
        return None
    page, per_page = positive_int(info.get("page")), positive_int(info.get("per_page"))
    total = positive_int(info.get("total_count"))
    if page and per_page and page * per_page < total:
        return str(page + 1)
    return None
