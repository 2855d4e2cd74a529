"""ModelRecord ⇄ plain JSON-ready dicts, for the store and webhook notices.

Lossless: `record_from_dict(record_to_dict(r)) == r`. Prices stay None when unknown (JSON
null), never 0. Unknown keys in stored JSON are ignored so older rows still load after the
record gains a field.
"""

from __future__ import annotations

import json
from typing import Any

from services.catalog.records import FreeReason, ModelRecord, QuotaLimits, QuotaScope


def record_to_dict(record: ModelRecord) -> dict[str, Any]:
    """The record as a JSON-ready dict (sorted capabilities, tuples as lists)."""
    tier = record.free_tier
    return {
        "id": record.id,
        "provider": record.provider,
        "upstream_id": record.upstream_id,
        "display_name": record.display_name,
        "context_window": record.context_window,
        "max_output_tokens": record.max_output_tokens,
        "input_price_per_mtok": record.input_price_per_mtok,
        "output_price_per_mtok": record.output_price_per_mtok,
        "request_price": record.request_price,
        "price_source": record.price_source,
        "is_free": record.is_free,
        "free_reason": record.free_reason.value,
        "input_modalities": list(record.input_modalities),
        "output_modalities": list(record.output_modalities),
        "capabilities": sorted(record.capabilities),
        "quality": record.quality,
        "quality_source": record.quality_source,
        "free_tier": {
            "requests_per_minute": tier.requests_per_minute,
            "requests_per_day": tier.requests_per_day,
            "tokens_per_minute": tier.tokens_per_minute,
            "tokens_per_day": tier.tokens_per_day,
            "scope": tier.scope.value,
        },
        "status": record.status,
        "extra": dict(record.extra),
    }


def record_from_dict(data: dict[str, Any]) -> ModelRecord:
    """Rebuild a record written by `record_to_dict`."""
    tier = data.get("free_tier") or {}
    return ModelRecord(
        id=data["id"],
        provider=data["provider"],
        upstream_id=data["upstream_id"],
        display_name=data.get("display_name", ""),
        context_window=int(data.get("context_window", 0)),
        max_output_tokens=int(data.get("max_output_tokens", 0)),
        input_price_per_mtok=_price(data.get("input_price_per_mtok")),
        output_price_per_mtok=_price(data.get("output_price_per_mtok")),
        request_price=_price(data.get("request_price")),
        price_source=data.get("price_source", ""),
        is_free=bool(data.get("is_free", False)),
        free_reason=FreeReason(data.get("free_reason", "")),
        input_modalities=tuple(data.get("input_modalities", ("text",))),
        output_modalities=tuple(data.get("output_modalities", ("text",))),
        capabilities=frozenset(data.get("capabilities", ())),
        quality=float(data.get("quality", 0.0)),
        quality_source=data.get("quality_source", ""),
        free_tier=QuotaLimits(
            requests_per_minute=int(tier.get("requests_per_minute", 0)),
            requests_per_day=int(tier.get("requests_per_day", 0)),
            tokens_per_minute=int(tier.get("tokens_per_minute", 0)),
            tokens_per_day=int(tier.get("tokens_per_day", 0)),
            scope=QuotaScope(tier.get("scope", "")),
        ),
        status=data.get("status", "active"),
        extra={str(k): str(v) for k, v in (data.get("extra") or {}).items()},
    )


def _price(value: Any) -> float | None:
    return None if value is None else float(value)


def dumps(record: ModelRecord | None) -> str | None:
    """Compact JSON text of a record (None stays None)."""
    if record is None:
        return None
    return json.dumps(record_to_dict(record), separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> ModelRecord | None:
    """The record stored by `dumps` (None stays None)."""
    if text is None:
        return None
    return record_from_dict(json.loads(text))
