"""`POST /v1/chat/completions` and `POST /v1/route`: the whole Chat Completions request
the router accepts, as its one reader (`services/router/request.py`) checks it.

Kept in step with the reader by tests/integration/edge/test_openapi.py: every field the
reader knows is here and nothing else. Rules that span fields (tool_choice needs tools,
top_logprobs needs logprobs, stream_options needs stream, one token limit) are the
reader's; the schema states each field alone. A field the reader refuses (audio output,
the deprecated functions API, …) is here as null only: any other value is a 400
`unsupported_parameter`. A null field counts as absent.
"""

from __future__ import annotations

from services.edge.openapi.document import ApiDocument, Json, json_content, nullable, ok, ref
from services.shared.vocabulary import STRATEGY_BY_NAME

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
NAME_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


def _string(description: str = "", **extra: Json) -> Json:
    schema: Json = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _integer(low: int, high: int, description: str = "") -> Json:
    return {"type": "integer", "minimum": low, "maximum": high, "description": description}


def _number(low: float, high: float, description: str = "") -> Json:
    return {"type": "number", "minimum": low, "maximum": high, "description": description}


def _refused(why: str) -> Json:
    return {"type": "null", "description": f"Refused (400 unsupported_parameter): {why}."}


def _object(properties: dict[str, Json], required: tuple[str, ...] = (), **extra: Json) -> Json:
    return {
        "type": "object",
        "required": list(required),
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


def _part(kind: str, properties: dict[str, Json], required: tuple[str, ...]) -> Json:
    """A content part; the reader looks only at `type` and its own field."""
    return {
        "type": "object",
        "required": ["type", *required],
        "properties": {"type": {"const": kind}, **properties},
    }


TEXT_PART = _part("text", {"text": _string()}, ("text",))
REFUSAL_PART = _part("refusal", {"refusal": _string()}, ("refusal",))
IMAGE_PART = _part(
    "image_url",
    {
        "image_url": _object(
            {
                "url": _string("An http(s) URL or a data: URL.", pattern="^(https?://|data:)"),
                "detail": {"enum": ["auto", "low", "high"], "default": "auto"},
            },
            ("url",),
        )
    },
    ("image_url",),
)
AUDIO_PART = _part(
    "input_audio",
    {
        "input_audio": _object(
            {
                "data": _string("Base64-encoded audio.", minLength=1),
                "format": {"enum": ["wav", "mp3"]},
            },
            ("data", "format"),
        )
    },
    ("input_audio",),
)
FILE_PART = _part(
    "file",
    {"file": _refused("file parts (PDFs) are not routed yet")},
    (),
)


def _content(parts: list[Json], *, string: bool = True) -> Json:
    array = {"type": "array", "items": {"oneOf": parts}}
    return {"oneOf": [_string(), array]} if string else array


NAME = nullable(_string("A participant's name."))
TOOL_CALL = _object(
    {
        "id": _string(minLength=1),
        "type": {"const": "function"},
        "function": _object(
            {"name": _string(), "arguments": _string("JSON text.")}, ("name", "arguments")
        ),
    },
    ("id", "type", "function"),
)


def _message(role: str, properties: dict[str, Json], required: tuple[str, ...]) -> Json:
    return _object({"role": {"const": role}, **properties}, ("role", *required))


MESSAGES: dict[str, Json] = {
    "SystemMessage": _message(
        "system", {"content": _content([TEXT_PART]), "name": NAME}, ("content",)
    ),
    "DeveloperMessage": _message(
        "developer", {"content": _content([TEXT_PART]), "name": NAME}, ("content",)
    ),
    "UserMessage": _message(
        "user",
        {"content": _content([TEXT_PART, IMAGE_PART, AUDIO_PART, FILE_PART]), "name": NAME},
        ("content",),
    ),
    "AssistantMessage": _message(
        "assistant",
        {
            "content": nullable(_content([TEXT_PART, REFUSAL_PART])),
            "name": NAME,
            "refusal": nullable(_string()),
            "tool_calls": nullable({"type": "array", "items": TOOL_CALL}),
            "function_call": _refused("the deprecated functions API; use tool_calls"),
            "audio": _refused("audio from an earlier answer cannot be sent back"),
            "reasoning_content": nullable(
                {
                    "type": "string",
                    "description": "An earlier answer's reasoning, as Freeway returned it: "
                    "accepted back, and not sent to providers (they do not take it back).",
                }
            ),
        },
        (),
    ),
    "ToolMessage": _message(
        "tool",
        {"content": _content([TEXT_PART]), "tool_call_id": _string(minLength=1)},
        ("content", "tool_call_id"),
    ),
}

TOOL = _object(
    {
        "type": {"const": "function", "description": "custom tools are refused"},
        "function": _object(
            {
                "name": _string(pattern=NAME_PATTERN),
                "description": nullable(_string()),
                "parameters": nullable({"type": "object", "description": "a JSON Schema"}),
                "strict": nullable({"type": "boolean"}),
            },
            ("name",),
        ),
    },
    ("type", "function"),
)

RESPONSE_FORMAT: Json = {
    "oneOf": [
        _object({"type": {"const": "text"}}, ("type",)),
        _object({"type": {"const": "json_object"}}, ("type",)),
        _object(
            {
                "type": {"const": "json_schema"},
                "json_schema": _object(
                    {
                        "name": _string(pattern=NAME_PATTERN),
                        "description": {},
                        "schema": nullable({"type": "object"}),
                        "strict": nullable({"type": "boolean"}),
                    },
                    ("name",),
                ),
            },
            ("type", "json_schema"),
        ),
    ]
}

STRATEGIES = sorted({*STRATEGY_BY_NAME, *(n.replace("-", "_") for n in STRATEGY_BY_NAME)})


def chat_request(doc: ApiDocument) -> Json:
    """The request body's schema (registered with its parts)."""
    messages = [doc.schema(name, schema) for name, schema in MESSAGES.items()]
    fields: dict[str, Json] = {
        "model": _string("'auto' (routed) or a catalogue id (pinned).", default="auto"),
        "messages": {"type": "array", "minItems": 1, "items": {"oneOf": messages}},
        "tools": {"type": "array", "minItems": 1, "maxItems": 128, "items": TOOL},
        "tool_choice": {
            "oneOf": [
                {"enum": ["none", "auto", "required"]},
                {
                    "type": "object",
                    "required": ["type", "function"],
                    "properties": {
                        "type": {"const": "function"},
                        "function": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": _string("one of `tools`")},
                        },
                    },
                    "additionalProperties": False,
                },
            ],
            "description": "Only with `tools`.",
        },
        "parallel_tool_calls": {"type": "boolean", "description": "Only with `tools`."},
        "response_format": RESPONSE_FORMAT,
        "n": _integer(1, 128, "Choices; above 1 a need (multiple_choices)."),
        "seed": _integer(-MAX_INT64 - 1, MAX_INT64, "A need (seed)."),
        "logprobs": {"type": "boolean", "description": "A need (logprobs) when true."},
        "top_logprobs": _integer(0, 20, "Only with logprobs: true."),
        "stop": {
            "oneOf": [_string(), {"type": "array", "maxItems": 4, "items": _string()}],
        },
        "temperature": _number(0, 2),
        "top_p": _number(0, 1),
        "frequency_penalty": _number(-2, 2, "A need (penalties)."),
        "presence_penalty": _number(-2, 2, "A need (penalties)."),
        "logit_bias": {
            "type": "object",
            "propertyNames": {"pattern": "^[0-9]{1,10}$"},
            "additionalProperties": _number(-100, 100),
            "description": "Token id → bias; a need (logit_bias).",
        },
        "max_tokens": _integer(1, MAX_INT32, "Or max_completion_tokens (not two values)."),
        "max_completion_tokens": _integer(1, MAX_INT32, "Or max_tokens (not two values)."),
        "stream": {"type": "boolean", "description": "Server-sent events ending in [DONE]."},
        "stream_options": _object(
            {
                "include_usage": nullable({"type": "boolean"}),
                "include_obfuscation": nullable({"type": "boolean"}),
            },
            description="Only with stream: true.",
        ),
        "reasoning_effort": {"enum": ["none", "minimal", "low", "medium", "high"]},
        "strategy": {"enum": STRATEGIES, "description": "Freeway's: how `auto` ranks models."},
        "user": _string("Advisory."),
        "safety_identifier": _string("Advisory."),
        "prompt_cache_key": _string("Advisory."),
        "metadata": {
            "type": "object",
            "maxProperties": 16,
            "propertyNames": {"maxLength": 64},
            "additionalProperties": _string(maxLength=512),
        },
        "service_tier": {"enum": ["auto", "default"]},
        "store": {"const": False, "description": "true is refused: nothing is stored."},
        "modalities": {"const": ["text"], "description": "Only text output is routed."},
        "audio": _refused("audio output is not routed"),
        "prediction": _refused("predicted outputs are not supported"),
        "web_search_options": _refused("web search is not routed"),
        "verbosity": _refused("an OpenAI-only parameter"),
        "functions": _refused("the deprecated functions API; send tools"),
        "function_call": _refused("the deprecated functions API; use tool_choice"),
    }
    properties = {
        name: schema if name == "messages" or schema.get("type") == "null" else nullable(schema)
        for name, schema in fields.items()
    }
    return doc.schema(
        "ChatCompletionRequest",
        {
            "type": "object",
            "required": ["messages"],
            "properties": properties,
            "additionalProperties": False,
            "description": "OpenAI's Chat Completions request; unknown fields are a 400 "
            "unknown_parameter, as OpenAI answers.",
        },
    )


CHAT_COMPLETION: Json = {
    "type": "object",
    "required": ["id", "object", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "message", "finish_reason"],
                "properties": {
                    "index": {"type": "integer"},
                    "message": {"type": "object", "required": ["role"]},
                    "finish_reason": {"type": ["string", "null"]},
                },
            },
        },
        "usage": {"type": "object"},
        "freeway": {"type": "object", "description": "who answered, cost, saving, reason"},
    },
}

# One server-sent event (OpenAPI before 3.2: `schema` describes each event of a stream).
SSE_EVENT: Json = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "description": "a chat.completion.chunk JSON; after a failure an error JSON "
            "(OpenAI's shape); last, [DONE] (never after an error)",
        }
    },
}

OUTCOME_HEADERS: Json = {
    name: {"schema": {"type": "string"}, "description": text}
    for name, text in {
        "x-freeway-model": "the model that answered",
        "x-freeway-provider": "its provider",
        "x-freeway-strategy": "the strategy that ranked it",
        "x-freeway-complexity": "the prompt's complexity score",
        "x-freeway-attempts": "attempts made (fallbacks + 1)",
        "x-freeway-cost-usd": "whole answers: the cost, or 'unknown'",
        "x-freeway-saved-usd": "whole answers: the saving, or 'unknown'",
    }.items()
}

CANDIDATE: Json = {
    "type": "object",
    "required": ["model", "provider", "free"],
    "properties": {
        "model": {"type": "string"},
        "provider": {"type": "string"},
        "free": {"type": "boolean"},
        "input_price_per_mtok": {"type": ["number", "null"]},
        "output_price_per_mtok": {"type": ["number", "null"]},
        "quality": {"type": "number"},
        "context_window": {"type": "integer"},
    },
}

ROUTE_DECISION: Json = {
    "type": "object",
    "required": ["object", "model", "chosen", "fallbacks", "complexity", "strategy"],
    "properties": {
        "object": {"const": "freeway.route"},
        "model": {"type": "string"},
        "chosen": ref("Candidate"),
        "fallbacks": {"type": "array", "items": ref("Candidate")},
        "complexity": {"type": "number"},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "value", "contribution"],
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": "number"},
                    "contribution": {"type": "number"},
                },
            },
        },
        "strategy": {"type": "string"},
        "reason": {"type": "string"},
        "needs": {"type": "array", "items": {"type": "string"}},
        "prompt_tokens": {"type": "integer"},
        "min_context": {"type": "integer"},
        "catalog_version": {"type": "integer"},
        "weights_version": {"type": "string", "description": "scoring weights: version@hash"},
        "decision_us": {"type": "number"},
    },
}


def describe(doc: ApiDocument) -> None:
    body = chat_request(doc)
    completion = doc.schema("ChatCompletion", CHAT_COMPLETION)
    doc.operation(
        "post",
        "/v1/chat/completions",
        operation_id="createChatCompletion",
        summary="A chat completion, routed to the cheapest model that can answer it",
        description="`model: auto` routes; a catalogue id pins a model. `stream: true` "
        "answers server-sent events (chat.completion.chunk JSON, then `data: [DONE]`; "
        "a failure after the start is an error event and no [DONE]).",
        body=body,
        responses={
            "200": {
                "description": "the completion, or its event stream",
                "headers": OUTCOME_HEADERS,
                "content": {
                    **json_content(completion),
                    "text/event-stream": {"schema": SSE_EVENT},
                },
            }
        },
        tags=["chat"],
    )
    doc.schema("Candidate", CANDIDATE)
    doc.operation(
        "post",
        "/v1/route",
        operation_id="route",
        summary="The routing decision for a chat body, without calling a model",
        body=body,
        responses={"200": ok("the decision and why", doc.schema("RouteDecision", ROUTE_DECISION))},
        tags=["chat"],
    )
