"""Together AI ``GET /v1/models``: a bare JSON array of models with ``pricing`` and ``type``.

Conventions read from the recorded bodies:

- ``pricing.input`` / ``pricing.output`` are USD **per million tokens** (numbers).
- A zero token price is *not* a free model: dedicated-endpoint-only models, and image, video
  and audio models (billed per image/second in other ``pricing`` keys) all list 0/0. So a 0
  becomes an unknown price, except on the free serverless models, which Together marks with
  a ``-Free`` id suffix (their 0 is real, and ``freeness`` reads the suffix).
- ``type`` (chat, language, code, image, video, audio, transcribe, embedding, rerank,
  moderation) gives the modalities; ``context_length`` the window.
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
    mapping,
    per_mtok,
    provider_priced,
    read_items,
    record_id,
    require_top_list,
    text,
)
from services.catalog.records import ModelRecord

NAME = "together"

_USED = frozenset({"id", "display_name", "context_length", "type", "pricing"})
_IN_EXTRA = _USED - {"type"}  # the type is mapped, and kept: it is the model's kind
_TOKEN_PRICES = ("input", "output")
# type → (input modalities, output modalities)
_TYPE_MODALITIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "image": (("text",), ("image",)),
    "video": (("text", "image"), ("video",)),
    "audio": (("text",), ("audio",)),
    "transcribe": (("audio",), ("text",)),
    "embedding": (("text",), ("embedding",)),
    "rerank": (("text",), ("score",)),
}


def detect(doc: Json) -> bool:
    first = first_object(doc)
    if first is None:
        return False
    prices = first.get("pricing")
    return isinstance(prices, Mapping) and "input" in prices and "display_name" in first


def parse(doc: Json, provider: str) -> Page:
    return read_items(require_top_list(doc, NAME), "id", "$", read_item, provider)


def is_free_variant_id(upstream: str) -> bool:
    return upstream.lower().endswith("-free")


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("id"))
    prices = mapping(item.get("pricing"))
    input_price, output_price = (_token_price(prices.get(k), upstream) for k in _TOKEN_PRICES)
    inputs, outputs = _TYPE_MODALITIES.get(text(item.get("type")), (("text",), ("text",)))
    extra = encode_extra(item, _IN_EXTRA)
    leftover = {k: v for k, v in prices.items() if k not in _TOKEN_PRICES}
    if leftover:
        extra["pricing"] = encode_value(leftover)
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("display_name")),
        context_window=first_int(item, "context_length"),
        input_price_per_mtok=input_price,
        output_price_per_mtok=output_price,
        price_source=provider_priced(input_price, output_price),
        input_modalities=inputs,
        output_modalities=outputs,
        extra=extra,
    )


def _token_price(value: Json, upstream: str) -> float | None:
    price = per_mtok(value)
    if price == 0 and not is_free_variant_id(upstream):
        return None  # dedicated-only or non-token-billed: the 0 is not a price
    return price
