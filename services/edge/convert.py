"""The edge's JSON: what the router's and catalog's protos look like to OpenAI clients.

A chat request is not read here: the router reads it (the one reader, which validates
every field) from the body as sent. The edge only looks for `stream`, to pick the RPC, and
passes the body on. Answers arrive as the OpenAI JSON the client receives (the router
built it), beside typed accounting that becomes the `x-freeway-*` headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from services.shared.errors import InvalidArgument
from services.shared.vocabulary import CAPABILITY_BY_NAME, is_chat_model, strategy_name

AUTO = "auto"

FREE_REASONS: dict[int, str] = {
    common_pb2.FREE_REASON_ZERO_PRICE: "zero_price",
    common_pb2.FREE_REASON_FREE_VARIANT: "free_variant",
    common_pb2.FREE_REASON_PROVIDER_FREE_TIER: "provider_free_tier",
    common_pb2.FREE_REASON_LOCAL_RUNTIME: "local_runtime",
    common_pb2.FREE_REASON_ALLOW_LIST: "allow_list",
}
CAPABILITIES: dict[int, str] = {int(c): name for name, c in CAPABILITY_BY_NAME.items()}
_STREAM_KEY = b'"stream"'
CACHE_HEADER = "x-freeway-cache"
_CACHE_MODES = {
    "on": router_pb2.CACHE_MODE_ON,
    "off": router_pb2.CACHE_MODE_OFF,
    "auto": router_pb2.CACHE_MODE_DEFAULT,
}


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(value)


def request_text(raw: bytes) -> str:
    """The body as text for the router (which reads and validates it)."""
    if not raw:
        raise InvalidArgument("the request body is empty; expected a JSON object")
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"the request body is not UTF-8 (byte {exc.start})") from None


def wants_stream(raw: bytes) -> bool:
    """Whether the body asks for `"stream": true` (parsed only when it names `stream`;
    a body that is not a JSON object goes to the router, which says what is wrong)."""
    if _STREAM_KEY not in raw:
        return False
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and body.get("stream") is True


def cache_mode(value: str | None) -> router_pb2.CacheMode:
    """The request's `x-freeway-cache` header (on | off | auto) as the router's CacheMode."""
    if value is None:
        return router_pb2.CACHE_MODE_DEFAULT
    mode = _CACHE_MODES.get(value.strip().lower())
    if mode is None:
        raise InvalidArgument(
            f"expected on, off or auto, got {value[:40]!r}", field=f"header {CACHE_HEADER}"
        )
    return mode


def outcome_headers(outcome: router_pb2.Outcome, stream: bool) -> dict[str, str]:
    """The routing decision for the client: who answered, how, at what cost, what it saved.
    A stream's cost is not known when its headers leave (it is in its last chunk)."""
    headers = {
        "x-freeway-model": outcome.model,
        "x-freeway-provider": outcome.provider,
        "x-freeway-strategy": strategy_name(outcome.strategy),
        "x-freeway-complexity": f"{outcome.complexity:.4f}",
        "x-freeway-attempts": str(outcome.attempts),
        CACHE_HEADER: "hit" if outcome.cache_hit else "miss",
    }
    if not stream:
        headers["x-freeway-cost-usd"] = _usd(outcome, "cost_usd")
        headers["x-freeway-saved-usd"] = _usd(outcome, "saved_usd")
    return headers


def _usd(outcome: router_pb2.Outcome, name: str) -> str:
    """Dollars to 8 decimals, or "unknown" when the price is not known (never 0)."""
    return f"{getattr(outcome, name):.8f}" if outcome.HasField(name) else "unknown"


def sse_events(events: Sequence[str]) -> bytes:
    """Server-sent events for the router's chunk texts (one `data:` event each)."""
    if not events:
        return b""
    return ("data: " + "\n\ndata: ".join(events) + "\n\n").encode()


def route_json(decision: router_pb2.RouteDecision) -> bytes:
    """A RouteDecision for `POST /v1/route`: the model, its fallbacks, and why."""
    return dumps(
        {
            "object": "freeway.route",
            "model": decision.chosen.model_id,
            "chosen": _candidate(decision.chosen),
            "fallbacks": [_candidate(c) for c in decision.fallbacks],
            "complexity": decision.complexity,
            "features": [
                {"name": f.name, "value": f.value, "contribution": f.contribution}
                for f in decision.features
            ],
            "strategy": strategy_name(decision.strategy),
            "reason": decision.reason,
            "needs": [CAPABILITIES[c] for c in decision.needs if c in CAPABILITIES],
            "prompt_tokens": decision.prompt_tokens,
            "min_context": decision.min_context,
            "catalog_version": decision.catalog_version,
            "weights_version": decision.weights_version,
            "decision_us": decision.decision_us,
        }
    )


def _candidate(c: router_pb2.Candidate) -> dict[str, Any]:
    return {
        "model": c.model_id,
        "provider": c.provider,
        "free": c.is_free,
        "input_price_per_mtok": c.input_price_per_mtok
        if c.HasField("input_price_per_mtok")
        else None,
        "output_price_per_mtok": c.output_price_per_mtok
        if c.HasField("output_price_per_mtok")
        else None,
        "quality": c.quality,
        "context_window": c.context_window,
    }


AUTO_MODEL: dict[str, Any] = {
    "id": AUTO,
    "object": "model",
    "created": 0,
    "owned_by": "freeway",
    "name": "Freeway router: the cheapest free model that can handle each request",
    "free": True,
}


def models_json(models: Iterable[common_pb2.Model]) -> bytes:
    """An OpenAI model list: the pseudo-model "auto" first, then the catalogue's chat
    models (speech, embedding, image and classifier models are in `/v1/catalog`)."""
    chat = (
        model_entry(m) for m in models if is_chat_model(m.input_modalities, m.output_modalities)
    )
    return dumps({"object": "list", "data": [AUTO_MODEL, *chat]})


def model_json(model: common_pb2.Model) -> bytes:
    return dumps(model_entry(model))


def model_entry(m: common_pb2.Model) -> dict[str, Any]:
    """One catalogue model in OpenAI's shape, plus Freeway's fields."""
    entry: dict[str, Any] = {
        "id": m.id,
        "object": "model",
        "created": m.first_seen.seconds,
        "owned_by": m.provider,
        "name": m.display_name or m.upstream_id,
        "free": m.is_free,
        "context_window": m.context_window,
    }
    if m.is_free:
        entry["free_reason"] = FREE_REASONS.get(m.free_reason, "")
    if m.max_output_tokens:
        entry["max_output_tokens"] = m.max_output_tokens
    if m.HasField("input_price_per_mtok") or m.HasField("output_price_per_mtok"):
        entry["pricing"] = _pricing(m)
    if m.capabilities:
        entry["capabilities"] = [CAPABILITIES[c] for c in m.capabilities if c in CAPABILITIES]
    return entry


def _pricing(m: common_pb2.Model) -> dict[str, float | None]:
    return {
        "input_per_mtok": price(m, "input_price_per_mtok"),
        "output_per_mtok": price(m, "output_price_per_mtok"),
    }


def price(m: common_pb2.Model, name: str) -> float | None:
    """A price field of `m`, or None when unknown (an unknown price is never read as 0)."""
    return float(getattr(m, name)) if m.HasField(name) else None
