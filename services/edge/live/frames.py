"""The JSON of each topic's events, from the gRPC messages that feed them. Compact: a
catalogue change carries only the fields that changed, old → new; a routed request
carries no prompt, answer or error text."""

from __future__ import annotations

from typing import Any

from freeway.analytics.v1 import analytics_pb2
from freeway.catalog.v1 import catalog_pb2
from freeway.router.v1 import router_pb2
from services.edge import catalog_json
from services.edge.usage_json import STATUSES, STRATEGIES, names

_STRATEGY = {n: name for name, n in STRATEGIES.items()}
_STATUS = {n: name for name, n in STATUSES.items()}
_BREAKER = {n: name for name, n in names(router_pb2.BreakerState, "BREAKER_STATE_").items()}
_VOLATILE = frozenset({"first_seen", "last_seen"})  # not changes a reader cares about

WENT_PAID, GONE = "went_paid", "removed"


def catalog_snapshot(event: catalog_pb2.CatalogEvent) -> dict[str, Any]:
    """Where the catalogue stands when the feed (re)connects: its version and counts."""
    models = event.snapshot.models
    return {
        "kind": "snapshot",
        "version": event.version,
        "at": catalog_json.instant(event.at),
        "models": len(models),
        "free": sum(1 for m in models if m.is_free),
    }


def catalog_change(event: catalog_pb2.CatalogEvent) -> dict[str, Any]:
    """One change: the model, what happened, each changed field old → new, and an alert
    when a model went from free to paid or disappeared."""
    change = event.change
    old = catalog_json.record(change.old) if change.HasField("old") else {}
    new = catalog_json.record(change.new) if change.HasField("new") else {}
    kind = catalog_json.CHANGE_TYPES.get(change.type, "unknown")
    fields = {
        name: {"old": old.get(name), "new": new.get(name)}
        for name in sorted(old.keys() | new.keys())
        if name not in _VOLATILE and old.get(name) != new.get(name)
    }
    if kind != "changed":  # an added or removed model: its whole record is the change
        fields = {}
    return {
        "kind": kind,
        "version": event.version,
        "at": catalog_json.instant(event.at),
        "model_id": change.model_id,
        "provider": (new or old).get("provider"),
        "is_free": new.get("is_free", old.get("is_free")),
        "changes": fields,
        "alert": _alert(kind, old, new),
    }


def _alert(kind: str, old: dict[str, Any], new: dict[str, Any]) -> str | None:
    if kind == "removed":
        return GONE
    if kind == "changed" and old.get("is_free") and not new.get("is_free"):
        return WENT_PAID
    return None


def routed_request(n: analytics_pb2.UsageNotice) -> dict[str, Any]:
    return {
        "time": catalog_json.instant(n.time),
        "request_id": n.request_id,
        "key_id": n.key_id,
        "team_id": n.team_id or None,
        "model": n.served_model or n.requested_model,
        "requested_model": n.requested_model,
        "provider": n.provider or None,
        "strategy": _STRATEGY.get(n.strategy),
        "status": _STATUS.get(n.status),
        "latency_ms": round(n.latency_ms, 3),
        "ttft_ms": round(n.ttft_ms, 3) if n.ttft_ms else None,
        "prompt_tokens": n.prompt_tokens,
        "completion_tokens": n.completion_tokens,
        "cost_usd": n.cost_usd if n.HasField("cost_usd") else None,
        "saving_usd": n.saving_usd if n.HasField("saving_usd") else None,
        "attempts": n.attempts,
        "cache_hit": n.cache_hit,
        "stream": n.stream,
        "dropped": n.dropped,
    }


def _aggregate(a: analytics_pb2.LiveAggregate) -> dict[str, Any]:
    return {
        "requests": a.requests,
        "errors": a.errors,
        "tokens": a.tokens,
        "requests_per_s": a.requests_per_s,
        "tokens_per_s": a.tokens_per_s,
        "error_rate": a.error_rate,
        "p50_latency_ms": a.p50_latency_ms,
        "p95_latency_ms": a.p95_latency_ms,
        "p50_ttft_ms": a.p50_ttft_ms,
    }


def live_metrics(m: analytics_pb2.LiveMetrics) -> dict[str, Any]:
    return {
        "time": catalog_json.instant(m.time),
        "window_s": m.window_s,
        "total": _aggregate(m.total),
        "providers": {p.provider: _aggregate(p) for p in m.providers},
    }


def provider_status(p: catalog_pb2.ProviderStatus) -> dict[str, Any]:
    return {
        "name": p.name,
        "healthy": p.healthy,
        "last_success": catalog_json.instant(p.last_success),
        "last_error": p.last_error or None,
        "next_poll": catalog_json.instant(p.next_poll),
        "model_count": p.model_count,
        "free_count": p.free_count,
        "unpriced_count": p.unpriced_count,
    }


def model_health(h: router_pb2.ModelHealth) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_id": h.model_id,
        "provider": h.provider,
        "breaker": _BREAKER.get(h.breaker, "closed"),
        "retry_in_s": round(h.retry_in_s, 1),
        "latency_ms": round(h.latency_ms, 1),
        "error_rate": round(h.error_rate, 4),
        "inflight": h.inflight,
        "quota": None,
    }
    if h.HasField("quota"):
        q, limits = h.quota, h.quota.limits
        body["quota"] = {
            "key": q.quota_key,
            "remaining": round(q.remaining, 4),
            "used": {
                "requests_per_minute": q.requests_minute,
                "requests_per_day": q.requests_day,
                "tokens_per_minute": q.tokens_minute,
                "tokens_per_day": q.tokens_day,
            },
            "limits": {
                "requests_per_minute": limits.requests_per_minute,
                "requests_per_day": limits.requests_per_day,
                "tokens_per_minute": limits.tokens_per_minute,
                "tokens_per_day": limits.tokens_per_day,
            },
        }
    return body
