"""The catalog's messages as the operators' JSON (`/v1/catalog`, `/v1/catalog/changes`,
`/v1/providers`, `/v1/alerts`): the full normalised record, enums as names, times as
RFC 3339 (null when never), and an unknown price as null — never 0."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from freeway.catalog.v1 import catalog_pb2
from freeway.common.v1 import common_pb2
from services.edge.convert import CAPABILITIES, FREE_REASONS, dumps, price
from services.shared.vocabulary import AlertKind, AlertSeverity

PRICES = ("input_price_per_mtok", "output_price_per_mtok", "request_price")
CHANGE_TYPES: Mapping[int, str] = {
    catalog_pb2.CHANGE_TYPE_ADDED: "added",
    catalog_pb2.CHANGE_TYPE_REMOVED: "removed",
    catalog_pb2.CHANGE_TYPE_CHANGED: "changed",
}
SCOPES: Mapping[int, str] = {
    common_pb2.QUOTA_SCOPE_PER_MODEL: "per_model",
    common_pb2.QUOTA_SCOPE_PER_PROVIDER: "per_provider",
    common_pb2.QUOTA_SCOPE_PER_ACCOUNT: "per_account",
}


def instant(ts: Timestamp) -> str | None:
    """RFC 3339 in UTC, or None for an unset (zero) timestamp."""
    return ts.ToJsonString() if ts.seconds or ts.nanos else None


def unpriced(m: common_pb2.Model) -> bool:
    """No known token price: what the model costs is unknown (it is never read as $0)."""
    return not (m.HasField("input_price_per_mtok") and m.HasField("output_price_per_mtok"))


def record(m: common_pb2.Model, extra: bool = False) -> dict[str, Any]:
    """One model with every field of the normalised record (`extra` on request: it is
    often larger than the rest)."""
    body: dict[str, Any] = {
        "id": m.id,
        "provider": m.provider,
        "upstream_id": m.upstream_id,
        "display_name": m.display_name,
        "context_window": m.context_window,
        "max_output_tokens": m.max_output_tokens,
        **{name: price(m, name) for name in PRICES},
        "price_source": m.price_source or None,
        "unpriced": unpriced(m),
        "is_free": m.is_free,
        "free_reason": FREE_REASONS.get(m.free_reason),
        "capabilities": [CAPABILITIES[c] for c in m.capabilities if c in CAPABILITIES],
        "input_modalities": list(m.input_modalities),
        "output_modalities": list(m.output_modalities),
        "quality": m.quality or None,
        "quality_source": m.quality_source or None,
        "free_tier": _free_tier(m.free_tier),
        "first_seen": instant(m.first_seen),
        "last_seen": instant(m.last_seen),
        "status": m.status,
    }
    if extra:
        body["extra"] = {k: _decoded(v) for k, v in sorted(m.extra.items())}
    return body


def _free_tier(limits: common_pb2.QuotaLimits) -> dict[str, Any]:
    """Free-tier limits; 0 means the provider does not state that limit."""
    return {
        "requests_per_minute": limits.requests_per_minute,
        "requests_per_day": limits.requests_per_day,
        "tokens_per_minute": limits.tokens_per_minute,
        "tokens_per_day": limits.tokens_per_day,
        "scope": SCOPES.get(limits.scope),
    }


def _decoded(value: str) -> Any:
    """`extra` values are JSON-encoded provider fields: shown as the JSON they were."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def catalog_json(version: int, models: Iterable[common_pb2.Model], extra: bool = False) -> bytes:
    """`GET /v1/catalog`."""
    data = [record(m, extra) for m in models]
    return dumps({"object": "list", "version": version, "data": data})


def changes_json(reply: catalog_pb2.ListChangesResponse, extra: bool = False) -> bytes:
    """`GET /v1/catalog/changes`: a page of the catalogue's history."""
    return dumps(
        {
            "object": "list",
            "version": reply.version,
            "history_truncated": reply.history_truncated,
            "more": reply.more,
            "data": [_change(e, extra) for e in reply.events],
        }
    )


def _change(event: catalog_pb2.CatalogEvent, extra: bool) -> dict[str, Any]:
    change = event.change
    return {
        "version": event.version,
        "at": instant(event.at),
        "type": CHANGE_TYPES.get(change.type, "unknown"),
        "model_id": change.model_id,
        "changed_fields": list(change.changed_fields),
        "old": record(change.old, extra) if change.HasField("old") else None,
        "new": record(change.new, extra) if change.HasField("new") else None,
    }


def providers_json(reply: catalog_pb2.ListProvidersResponse) -> bytes:
    """`GET /v1/providers`: every configured provider's polling status and counts."""
    return dumps({"object": "list", "data": [_provider(p) for p in reply.providers]})


def _provider(p: catalog_pb2.ProviderStatus) -> dict[str, Any]:
    return {
        "name": p.name,
        "format": p.format,
        "base_url": p.base_url,
        "healthy": p.healthy,
        "last_success": instant(p.last_success),
        "last_error": p.last_error or None,
        "next_poll": instant(p.next_poll),
        "model_count": p.model_count,
        "free_count": p.free_count,
        "unpriced_count": p.unpriced_count,
    }


def alerts_json(reply: catalog_pb2.ListAlertsResponse) -> bytes:
    """`GET /v1/alerts`: the newest alerts first."""
    return dumps(
        {
            "object": "list",
            "last_seq": reply.last_seq,
            "more": reply.more,
            "data": [alert_json(a) for a in reply.alerts],
        }
    )


def alert_json(alert: catalog_pb2.Alert) -> dict[str, Any]:
    """One alert: kind, severity and topic as names; each value old → new (null: none)."""
    kind = AlertKind(alert.kind) if alert.kind in AlertKind._value2member_map_ else None
    severity = alert.severity
    return {
        "seq": alert.seq,
        "id": alert.id,
        "kind": kind.api_name if kind else "unknown",
        "severity": (
            AlertSeverity(severity).api_name
            if severity in AlertSeverity._value2member_map_
            else "unknown"
        ),
        "topic": kind.topic if kind else "providers",
        "at": instant(alert.at),
        "subject": alert.subject,
        "provider": alert.provider,
        "model_id": alert.model_id or None,
        "message": alert.message,
        "source": alert.source,
        "values": [
            {"field": v.field, "old": _plain(v.old), "new": _plain(v.new)} for v in alert.values
        ],
    }


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind in ("bool_value", "string_value"):
        return getattr(value, kind)
    return None
