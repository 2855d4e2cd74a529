"""OpenRouter ``GET /api/v1/models`` and ``/api/v1/models/{author}/{slug}/endpoints``.

Conventions read from the recorded bodies:

- ``pricing.prompt`` / ``pricing.completion`` are USD **per token**, as decimal strings;
  ``pricing.request`` is USD per request.
- A negative price (``"-1"`` on ``openrouter/auto`` and the other routers) means "variable,
  decided per request": it becomes an unknown price (never $0, never free) and the raw value
  is kept in ``extra["pricing"]``.
- Free variants carry a ``:free`` id suffix (with zero prices); ``freeness.classify`` reads it.
- ``architecture.input_modalities`` / ``output_modalities`` (older bodies: only the
  ``modality`` string ``"text+image->text"``), ``context_length``, ``top_provider``
  ``.max_completion_tokens``, and ``supported_parameters`` (tools / response_format /
  structured_outputs / reasoning) give modalities and capabilities.
- ``links.next`` (when not null) is the next page to fetch.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    ShapeError,
    capabilities_from_words,
    encode_extra,
    encode_value,
    first_int,
    first_object,
    kind,
    mapping,
    modalities,
    per_token_to_mtok,
    provider_priced,
    read_items,
    record_id,
    require_list,
    strings,
    text,
    usd,
    vision_from_modalities,
)
from services.catalog.records import ModelRecord

NAME = "openrouter"
ENDPOINTS = "openrouter_endpoints"

_USED = frozenset(
    {
        "id",
        "name",
        "context_length",
        "architecture",
        "pricing",
        "top_provider",
        "supported_parameters",
        "endpoints",
    }
)
_PRICE_KEYS = ("prompt", "completion", "request")
_MARKERS = ("architecture", "top_provider", "canonical_slug", "per_request_limits")


def detect(doc: Json) -> bool:
    """``data`` objects carrying OpenRouter's ``architecture`` / ``top_provider`` fields."""
    if not isinstance(doc, Mapping):
        return False
    first = first_object(doc.get("data"))
    return first is not None and any(key in first for key in _MARKERS)


def parse(doc: Json, provider: str) -> Page:
    items = require_list(doc, "data", NAME)
    page = read_items(items, "id", "data", read_item, provider, _next_link(doc))
    variable = [r.upstream_id for r in page.records if "pricing" in r.extra and not r.priced]
    if variable:
        page.warnings.append(f"variable or missing price (unpriced): {', '.join(variable)}")
    return page


def detect_endpoints(doc: Json) -> bool:
    """``{"data": {"id": ..., "endpoints": [...]}}``: one model's per-provider endpoints."""
    data = doc.get("data") if isinstance(doc, Mapping) else None
    return isinstance(data, Mapping) and isinstance(data.get("endpoints"), list)


def parse_endpoints(doc: Json, provider: str) -> Page:
    """One record for the model: the cheapest endpoint's prices, the largest context."""
    data = doc.get("data") if isinstance(doc, Mapping) else None
    if not isinstance(data, Mapping) or not text(data.get("id")):
        raise ShapeError(f"{ENDPOINTS}: field 'data' must be a model object with an 'id'")
    endpoints = data.get("endpoints")
    if not isinstance(endpoints, list):
        got = kind(endpoints)
        raise ShapeError(f"{ENDPOINTS}: field 'data.endpoints' must be a list, got {got}")
    usable = [e for e in endpoints if isinstance(e, Mapping)]
    merged = dict(data)
    if usable:
        cheapest = min(usable, key=_endpoint_cost)
        merged["pricing"] = cheapest.get("pricing")
        merged["context_length"] = max(first_int(e, "context_length") for e in usable)
        merged["top_provider"] = {"max_completion_tokens": cheapest.get("max_completion_tokens")}
        merged["supported_parameters"] = sorted(
            {p for e in usable for p in strings(e.get("supported_parameters"))}
        )
    page = Page(records=[read_item(merged, provider)])
    if not usable:
        page.warnings.append(f"{data['id']}: no endpoints listed")
    return page


def read_item(item: JsonObject, provider: str) -> ModelRecord:
    """One OpenRouter model object."""
    upstream = text(item.get("id"))
    arch = mapping(item.get("architecture"))
    inputs, outputs = _modalities(arch)
    prices = mapping(item.get("pricing"))
    top = mapping(item.get("top_provider"))
    words = strings(item.get("supported_parameters"))
    caps = capabilities_from_words(words) | vision_from_modalities(inputs)
    if isinstance(item.get("reasoning"), Mapping):
        caps.add("reasoning")
    input_price = per_token_to_mtok(prices.get("prompt"))
    output_price = per_token_to_mtok(prices.get("completion"))
    extra = encode_extra(item, _USED)
    extra.update(_pricing_extra(prices))
    extra.update(encode_extra(arch, ("input_modalities", "output_modalities")))
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("name")),
        context_window=first_int(item, "context_length") or first_int(top, "context_length"),
        max_output_tokens=first_int(top, "max_completion_tokens"),
        input_price_per_mtok=input_price,
        output_price_per_mtok=output_price,
        request_price=usd(prices.get("request")),
        price_source=provider_priced(input_price, output_price),
        input_modalities=inputs,
        output_modalities=outputs,
        capabilities=frozenset(caps),
        extra=extra,
    )


def _modalities(arch: JsonObject) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Input/output modalities, from the lists or else from the ``"in+in->out"`` string."""
    if "input_modalities" in arch or "output_modalities" in arch:
        return modalities(arch.get("input_modalities")), modalities(arch.get("output_modalities"))
    spec = text(arch.get("modality"))
    if "->" not in spec:
        return ("text",), ("text",)
    left, right = spec.split("->", 1)
    return modalities(left.split("+")), modalities(right.split("+"))


def _pricing_extra(prices: JsonObject) -> dict[str, str]:
    """Price components not mapped (cache, image, web search…) and any variable (<0) price."""
    negative = any(per_token_to_mtok(prices.get(k)) is None for k in _PRICE_KEYS if k in prices)
    kept = dict(prices) if negative else {k: v for k, v in prices.items() if k not in _PRICE_KEYS}
    return {"pricing": encode_value(kept)} if kept else {}


def _endpoint_cost(endpoint: JsonObject) -> float:
    prices = mapping(endpoint.get("pricing"))
    prompt = per_token_to_mtok(prices.get("prompt"))
    completion = per_token_to_mtok(prices.get("completion"))
    if prompt is None or completion is None:
        return float("inf")
    return prompt + completion


def _next_link(doc: JsonObject) -> str | None:
    links = mapping(doc.get("links"))
    return text(links.get("next")) or None
