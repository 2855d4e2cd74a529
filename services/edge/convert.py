"""OpenAI chat JSON ↔ the router's and catalog's protos.

Requests are validated as they are converted, in one pass: every error is an
InvalidArgument naming the field (`messages[2].content[0].type`), or Unsupported when a
valid OpenAI parameter asks for something Freeway cannot honour yet (tools, n > 1, …).
Unknown parameters are ignored (tolerant reader), as are known ones that do not change
what the answer means (seed, penalties, metadata, …).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from services.edge.errors import Unsupported
from services.shared.errors import InvalidArgument

MAX_INT32 = 2**31 - 1
MAX_STOP = 4
AUTO = "auto"

# OpenAI's "developer" role is the newer name of "system"; providers behind Freeway mostly
# know only "system", so it is sent as that.
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
STRATEGIES: dict[str, int] = {
    "free-first": common_pb2.STRATEGY_FREE_FIRST,
    "cost": common_pb2.STRATEGY_COST,
    "quality": common_pb2.STRATEGY_QUALITY,
    "latency": common_pb2.STRATEGY_LATENCY,
    "hybrid": common_pb2.STRATEGY_HYBRID,
    "cascade": common_pb2.STRATEGY_CASCADE,
}
STRATEGY_NAMES: dict[int, str] = {value: name for name, value in STRATEGIES.items()}
FREE_REASONS: dict[int, str] = {
    common_pb2.FREE_REASON_ZERO_PRICE: "zero_price",
    common_pb2.FREE_REASON_FREE_VARIANT: "free_variant",
    common_pb2.FREE_REASON_PROVIDER_FREE_TIER: "provider_free_tier",
    common_pb2.FREE_REASON_LOCAL_RUNTIME: "local_runtime",
    common_pb2.FREE_REASON_ALLOW_LIST: "allow_list",
}
CAPABILITIES: dict[int, str] = {
    common_pb2.CAPABILITY_TOOLS: "tools",
    common_pb2.CAPABILITY_VISION: "vision",
    common_pb2.CAPABILITY_JSON: "json",
    common_pb2.CAPABILITY_REASONING: "reasoning",
}


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (no spaces: fewer bytes to write on every response)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(raw: bytes) -> Any:
    """The request body as JSON, or InvalidArgument saying where it broke."""
    if not raw:
        raise InvalidArgument("the request body is empty; expected a JSON object")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidArgument("the request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


# --- requests ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated chat request: the proto for the router plus what only the edge uses."""

    proto: router_pb2.CompletionRequest
    stream: bool
    include_usage: bool


def chat_request(body: Any, key_id: str, request_id: str) -> ChatRequest:
    """Validate an OpenAI chat-completions body and convert it to a CompletionRequest."""
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    _reject_unsupported(body)
    fields: dict[str, Any] = {
        "model": _model(body.get("model")),
        "messages": _messages(body.get("messages")),
        "key_id": key_id,
        "request_id": request_id,
    }
    for name, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        value = _number(body.get(name), name, low, high)
        if value is not None:
            fields[name] = value
    max_tokens = _max_tokens(body)
    if max_tokens is not None:
        fields["max_tokens"] = max_tokens
    stop = _stop(body.get("stop"))
    if stop:
        fields["stop"] = stop
    user = body.get("user")
    if user is not None:
        fields["user"] = _string(user, "user")
    if _json_mode(body.get("response_format")):
        fields["json_mode"] = True
    strategy = body.get("strategy")
    if strategy is not None:
        fields["strategy"] = _strategy(strategy)
    stream = _optional_bool(body.get("stream"), "stream")
    return ChatRequest(
        router_pb2.CompletionRequest(**fields),
        stream,
        stream and _include_usage(body.get("stream_options")),
    )


def _model(value: Any) -> str:
    if value is None:
        return AUTO
    if not isinstance(value, str):
        raise InvalidArgument(
            f"expected a string such as 'auto', got {_kind(value)}", field="model"
        )
    return value or AUTO


def _messages(value: Any) -> list[common_pb2.ChatMessage]:
    if value is None:
        raise InvalidArgument("is required: a non-empty array of messages", field="messages")
    if not isinstance(value, list) or not value:
        raise InvalidArgument(
            f"expected a non-empty array of messages, got {_kind(value)}", field="messages"
        )
    return [_message(m, f"messages[{i}]") for i, m in enumerate(value)]


def _message(value: Any, where: str) -> common_pb2.ChatMessage:
    if not isinstance(value, dict):
        raise InvalidArgument(f"expected a message object, got {_kind(value)}", field=where)
    role = value.get("role")
    if not isinstance(role, str) or role not in ROLES:
        if role in ("tool", "function"):
            raise Unsupported(
                f"{role!r} messages answer tool calls, which Freeway does not support yet",
                field=f"{where}.role",
            )
        raise InvalidArgument(
            f"expected one of system, developer, user, assistant; got {role!r}",
            field=f"{where}.role",
        )
    if value.get("tool_calls") or value.get("function_call"):
        raise Unsupported("tool calls are not supported yet", field=f"{where}.tool_calls")
    content = _content(value.get("content"), role, f"{where}.content")
    name = value.get("name")
    if name is None:
        return common_pb2.ChatMessage(role=ROLES[role], content=content)
    return common_pb2.ChatMessage(
        role=ROLES[role], content=content, name=_string(name, f"{where}.name")
    )


def _content(value: Any, role: str, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text_part(part, f"{where}[{i}]") for i, part in enumerate(value))
    if value is None and role == "assistant":
        return ""
    raise InvalidArgument(
        f"expected a string or an array of text parts, got {_kind(value)}", field=where
    )


def _text_part(part: Any, where: str) -> str:
    if not isinstance(part, dict):
        raise InvalidArgument(f"expected a content part object, got {_kind(part)}", field=where)
    kind = part.get("type")
    if kind != "text":
        if isinstance(kind, str) and kind:
            raise Unsupported(
                f"only 'text' content parts are supported yet, got {kind!r}", field=f"{where}.type"
            )
        raise InvalidArgument(f"expected 'text', got {kind!r}", field=f"{where}.type")
    text = part.get("text")
    if not isinstance(text, str):
        raise InvalidArgument(f"expected a string, got {_kind(text)}", field=f"{where}.text")
    return text


def _number(value: Any, name: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"expected a number, got {_kind(value)}", field=name)
    if not low <= value <= high:
        raise InvalidArgument(
            f"expected a number from {low:g} to {high:g}, got {value}", field=name
        )
    return float(value)


def _max_tokens(body: dict[str, Any]) -> int | None:
    # max_completion_tokens is OpenAI's newer name; when both are sent it wins.
    name = (
        "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    )
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_INT32:
        raise InvalidArgument(f"expected a positive integer, got {value!r}", field=name)
    return value


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and len(value) <= MAX_STOP:
        return [_string(s, f"stop[{i}]") for i, s in enumerate(value)]
    raise InvalidArgument(f"expected a string or up to {MAX_STOP} strings", field="stop")


def _json_mode(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, dict):
        raise InvalidArgument(f"expected an object, got {_kind(value)}", field="response_format")
    kind = value.get("type")
    if kind == "json_object":
        return True
    if kind == "text":
        return False
    if kind == "json_schema":
        raise Unsupported(
            "'json_schema' is not supported yet; use 'json_object'", field="response_format.type"
        )
    raise InvalidArgument(
        f"expected 'text' or 'json_object', got {kind!r}", field="response_format.type"
    )


def _strategy(value: Any) -> int:
    name = value.replace("_", "-") if isinstance(value, str) else None
    if name not in STRATEGIES:
        raise InvalidArgument(
            f"expected one of {', '.join(STRATEGIES)}; got {value!r}", field="strategy"
        )
    return STRATEGIES[name]


def _include_usage(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, dict):
        raise InvalidArgument(f"expected an object, got {_kind(value)}", field="stream_options")
    return _optional_bool(value.get("include_usage"), "stream_options.include_usage")


def _optional_bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidArgument(f"expected true or false, got {value!r}", field=name)
    return value


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"expected a string, got {_kind(value)}", field=name)
    return value


def _reject_unsupported(body: dict[str, Any]) -> None:
    """Parameters whose answer Freeway cannot give yet: a clear 400, never a silent change."""
    for name in ("tools", "functions"):
        if body.get(name):
            raise Unsupported("tool calling is not supported yet", field=name)
    choice = body.get("tool_choice")
    if choice is not None and choice not in ("none", "auto"):
        raise Unsupported("tool calling is not supported yet", field="tool_choice")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise Unsupported(f"only n=1 is supported, got {n!r}", field="n")
    if body.get("logprobs") not in (None, False):
        raise Unsupported("log probabilities are not supported yet", field="logprobs")
    if body.get("top_logprobs") is not None:
        raise Unsupported("log probabilities are not supported yet", field="top_logprobs")
    if body.get("audio") is not None:
        raise Unsupported("audio output is not supported", field="audio")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise Unsupported("only the 'text' output modality is supported", field="modalities")


def _kind(value: Any) -> str:
    """How a JSON value is named in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    return "an object"


# --- responses ---------------------------------------------------------------------


def strategy_name(value: int) -> str:
    """The strategy's API name; UNSPECIFIED is the server default, free-first."""
    return STRATEGY_NAMES.get(value, "free-first")


def _usage(usage: common_pb2.Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    }


def completion_json(reply: router_pb2.CompletionResponse) -> bytes:
    """A CompletionResponse as an OpenAI `chat.completion` object."""
    body: dict[str, Any] = {
        "id": reply.id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "choices": [
            {
                "index": c.index,
                "message": {"role": c.message.role or "assistant", "content": c.message.content},
                "logprobs": None,
                "finish_reason": c.finish_reason or "stop",
            }
            for c in reply.choices
        ],
        "usage": _usage(reply.usage),
    }
    if reply.HasField("route"):
        body["freeway"] = {
            "provider": reply.route.chosen.provider,
            "attempts": reply.attempts,
            "complexity": round(reply.route.complexity, 4),
            "strategy": strategy_name(reply.route.strategy),
        }
    return dumps(body)


def chunk_events(chunk: router_pb2.CompletionChunk, include_usage: bool) -> list[bytes]:
    """The SSE payloads (JSON, without `data: `) for one router chunk: its choices as a
    `chat.completion.chunk`, then its usage as a separate chunk with no choices, as OpenAI
    sends it when `stream_options.include_usage` is set."""
    head: dict[str, Any] = {
        "id": chunk.id,
        "object": "chat.completion.chunk",
        "created": chunk.created,
        "model": chunk.model,
    }
    events = []
    if chunk.choices:
        events.append(dumps({**head, "choices": [_delta(c) for c in chunk.choices]}))
    if include_usage and chunk.HasField("usage"):
        events.append(dumps({**head, "choices": [], "usage": _usage(chunk.usage)}))
    return events


def has_text(chunk: router_pb2.CompletionChunk) -> bool:
    """Whether the chunk carries text the client is waiting for."""
    return any(c.content for c in chunk.choices)


def _delta(choice: router_pb2.ChoiceDelta) -> dict[str, Any]:
    delta: dict[str, str] = {}
    if choice.role:
        delta["role"] = choice.role
    if choice.content or choice.role:
        delta["content"] = choice.content
    return {
        "index": choice.index,
        "delta": delta,
        "logprobs": None,
        "finish_reason": choice.finish_reason or None,
    }


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
            "catalog_version": decision.catalog_version,
            "decision_us": decision.decision_us,
        }
    )


def _candidate(c: router_pb2.Candidate) -> dict[str, Any]:
    return {
        "model": c.model_id,
        "provider": c.provider,
        "free": c.is_free,
        "input_price_per_mtok": c.input_price_per_mtok,
        "output_price_per_mtok": c.output_price_per_mtok,
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
    """An OpenAI model list: the pseudo-model "auto" first, then the catalogue's models."""
    return dumps({"object": "list", "data": [AUTO_MODEL, *(model_entry(m) for m in models)]})


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
