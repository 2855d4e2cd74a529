"""Reading an OpenAI chat-completions request: the one reader of it in the codebase.

`read_request(text)` validates every field against OpenAI's Chat Completions API and
returns a `ChatRequest`: the body to forward (what the client sent, minus the fields the
router sets itself and Freeway's own), and what routing decides on — the conversation's
text, the capabilities a model needs to honour every parameter, the output budget.

Every parameter is honoured or refused: an error names the field the OpenAI way
(`messages[2].content[0].image_url.url`); a valid parameter that Freeway cannot honour
(audio output, stored completions, the deprecated `functions`) is `Unsupported`, a 400
that says so; a parameter OpenAI does not define is refused too, as OpenAI refuses it.
Parameters that only some models honour (tools, images, seed, logprobs, …) become needs:
the request goes only to a model whose catalogue record has them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.shared.errors import InvalidArgument, Unsupported
from services.shared.vocabulary import STRATEGY_BY_NAME, Capability

TOOLS = Capability.TOOLS.bit
VISION = Capability.VISION.bit
JSON_OBJECT = Capability.JSON.bit
REASONING = Capability.REASONING.bit
AUDIO = Capability.AUDIO.bit
JSON_SCHEMA = Capability.JSON_SCHEMA.bit
LOGPROBS = Capability.LOGPROBS.bit
SEED = Capability.SEED.bit
PENALTIES = Capability.PENALTIES.bit
LOGIT_BIAS = Capability.LOGIT_BIAS.bit
MULTIPLE_CHOICES = Capability.MULTIPLE_CHOICES.bit

AUTO = "auto"
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
MAX_STOP = 4
MAX_N = 128
MAX_TOOLS = 128
MAX_TOP_LOGPROBS = 20
MAX_METADATA = 16
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN_ID = re.compile(r"[0-9]{1,10}")

# Tokens a part costs beyond its text, for the context estimate (OpenAI's tile maths, rounded
# up: a high-detail image is at most ~1,100 tokens; audio ~ 10 tokens per second of wav).
IMAGE_TOKENS = {"low": 85, "auto": 1105, "high": 1105}
AUDIO_BYTES_PER_TOKEN = 1600
CHARS_PER_TOKEN = 4

# The fields the router writes itself into every provider request, and Freeway's own.
ROUTER_FIELDS = ("model", "stream", "stream_options", "strategy")

Json = Any


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated chat request: what to forward and what routing decides on."""

    body: dict[str, Json]  # forwarded as is, less ROUTER_FIELDS
    model: str = AUTO  # "auto" or a catalogue id
    messages: tuple[tuple[str, str], ...] = ()  # (role, text): what the kernel scores
    needs: int = 0  # capability bits a model must have
    need_fields: tuple[tuple[int, str], ...] = ()  # (bit, the first field that needs it)
    max_tokens: int | None = None  # the client's output limit (either name)
    extra_tokens: int = 0  # images, audio, tool definitions: context beyond the text
    n: int = 1
    stream: bool | None = None  # None: not stated
    include_usage: bool = False
    strategy: int = 0  # vocabulary.Strategy; 0 = not stated
    json_schema: Mapping[str, Json] | None = field(default=None, compare=False)


def read_request(text: str | bytes) -> ChatRequest:
    """Parse and validate a chat-completions body (JSON text)."""
    return read_body(parse_json(text))


def parse_json(text: str | bytes) -> Json:
    if not text:
        raise InvalidArgument("the request body is empty; expected a JSON object")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the request body is not valid JSON: {exc}") from None


def read_body(body: Json) -> ChatRequest:
    """Validate a decoded chat-completions body."""
    if not isinstance(body, dict):
        raise InvalidArgument(f"the request body must be a JSON object, got {kind(body)}")
    reader = _Reader()
    for name, value in body.items():
        check = _FIELDS.get(name)
        if check is None:
            raise InvalidArgument(
                f"unknown parameter {name!r} (not a Chat Completions parameter)",
                field=name,
                code="unknown_parameter",
            )
        if value is not None or name == "messages":
            check(reader, value)
    reader.finish(body)
    forward = {k: v for k, v in body.items() if k not in ROUTER_FIELDS and v is not None}
    if reader.echoed_reasoning:  # Freeway's own output, which providers do not take back
        forward["messages"] = [_without_reasoning(m) for m in forward["messages"]]
    return ChatRequest(
        body=forward,
        model=reader.model,
        messages=tuple(reader.texts),
        needs=reader.needs,
        need_fields=tuple(reader.need_fields.items()),
        max_tokens=reader.max_tokens,
        extra_tokens=reader.extra_tokens,
        n=reader.n,
        stream=reader.stream,
        include_usage=reader.include_usage,
        strategy=reader.strategy,
        json_schema=reader.json_schema,
    )


def prompt_messages(body: Json) -> tuple[tuple[str, str], ...]:
    """The (role, text) pairs the kernel scores, of a body that may hold only messages
    (labelled prompt files); errors name the field like `read_body`."""
    reader = _Reader()
    if not isinstance(body, dict):
        raise InvalidArgument(f"expected a JSON object, got {kind(body)}")
    reader.messages(body.get("messages"))
    return tuple(reader.texts)


class _Reader:
    """Collects what routing needs while each field is checked."""

    def __init__(self) -> None:
        self.model = AUTO
        self.texts: list[tuple[str, str]] = []
        self.needs = 0
        self.max_tokens: int | None = None
        self.max_tokens_field = ""
        self.extra_tokens = 0
        self.n = 1
        self.stream: bool | None = None
        self.include_usage = False
        self.stream_options = False
        self.strategy = 0
        self.json_schema: Mapping[str, Json] | None = None
        self.tool_names: set[str] = set()
        self.tool_choice: Json = None
        self.tool_only: list[str] = []  # fields that need `tools`
        self.logprobs = False
        self.top_logprobs = False
        self.need_fields: dict[int, str] = {}
        self.echoed_reasoning = False  # an earlier answer's reasoning_content, sent back

    def need(self, bit: int, field: str) -> None:
        """The request needs capability `bit` (first asked for by `field`)."""
        self.needs |= bit
        self.need_fields.setdefault(bit, field)

    # --- the top-level fields -----------------------------------------------------

    def model_(self, value: Json) -> None:
        if not isinstance(value, str):
            raise InvalidArgument(
                f"expected a string such as 'auto', got {kind(value)}", field="model"
            )
        self.model = value or AUTO

    def messages(self, value: Json) -> None:
        if value is None:
            raise InvalidArgument("is required: a non-empty array of messages", field="messages")
        if not isinstance(value, list) or not value:
            raise InvalidArgument(
                f"expected a non-empty array of messages, got {kind(value)}", field="messages"
            )
        for i, message in enumerate(value):
            self.message(message, f"messages[{i}]")

    def message(self, value: Json, where: str) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(f"expected a message object, got {kind(value)}", field=where)
        role = value.get("role")
        check = _ROLES.get(role) if isinstance(role, str) else None
        if check is None:
            if role == "function":
                raise Unsupported(
                    "'function' messages belong to the deprecated `functions` API; "
                    "send tool results as role 'tool' with a tool_call_id",
                    field=f"{where}.role",
                )
            raise InvalidArgument(
                f"expected one of system, developer, user, assistant, tool; got {role!r}",
                field=f"{where}.role",
            )
        role = str(role)
        allowed = _MESSAGE_FIELDS[role]
        for key in value:
            if key not in allowed:
                raise InvalidArgument(
                    f"unknown field {key!r} in a {role} message", field=f"{where}.{key}"
                )
        name = value.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidArgument(f"expected a string, got {kind(name)}", field=f"{where}.name")
        self.texts.append((role, check(self, value, where)))

    def system(self, value: Mapping[str, Json], where: str) -> str:
        return self.text_content(value.get("content"), f"{where}.content", required=True)

    def user(self, value: Mapping[str, Json], where: str) -> str:
        content = value.get("content")
        if isinstance(content, str):
            return content
        if not isinstance(content, list):
            raise InvalidArgument(
                f"expected a string or an array of content parts, got {kind(content)}",
                field=f"{where}.content",
            )
        texts = []
        for i, part in enumerate(content):
            text = self.user_part(part, f"{where}.content[{i}]")
            if text:
                texts.append(text)
        return "\n".join(texts)

    def assistant(self, value: Mapping[str, Json], where: str) -> str:
        reasoning = value.get("reasoning_content")
        if reasoning is not None:
            if not isinstance(reasoning, str):
                raise InvalidArgument(
                    f"expected a string, got {kind(reasoning)}", field=f"{where}.reasoning_content"
                )
            self.echoed_reasoning = True
        calls = value.get("tool_calls")
        if calls is not None:
            self.tool_calls(calls, f"{where}.tool_calls")
        if value.get("function_call") is not None:
            raise Unsupported(
                "`function_call` is the deprecated functions API; use `tool_calls`",
                field=f"{where}.function_call",
            )
        if value.get("audio") is not None:
            raise Unsupported(
                "audio from an earlier answer cannot be sent back: Freeway routes to text models",
                field=f"{where}.audio",
            )
        refusal = value.get("refusal")
        if refusal is not None and not isinstance(refusal, str):
            raise InvalidArgument(
                f"expected a string or null, got {kind(refusal)}", field=f"{where}.refusal"
            )
        content = value.get("content")
        if content is None:
            if not calls and refusal is None:
                raise InvalidArgument(
                    "is required unless the message has tool_calls or a refusal",
                    field=f"{where}.content",
                )
            return refusal or ""
        return self.text_content(content, f"{where}.content", required=True, refusal=True)

    def tool(self, value: Mapping[str, Json], where: str) -> str:
        call_id = value.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidArgument(
                f"is required: the id of the tool call this answers, got {kind(call_id)}",
                field=f"{where}.tool_call_id",
            )
        self.need(TOOLS, where)
        return self.text_content(value.get("content"), f"{where}.content", required=True)

    def text_content(
        self, value: Json, where: str, *, required: bool, refusal: bool = False
    ) -> str:
        """A string, or an array of text parts (and refusal parts in assistant messages)."""
        if isinstance(value, str):
            return value
        if value is None and not required:
            return ""
        if not isinstance(value, list):
            raise InvalidArgument(
                f"expected a string or an array of text parts, got {kind(value)}", field=where
            )
        texts = []
        for i, part in enumerate(value):
            at = f"{where}[{i}]"
            kind_ = _part_type(part, at)
            if kind_ == "text":
                texts.append(_string_field(part, "text", at))
            elif kind_ == "refusal" and refusal:
                texts.append(_string_field(part, "refusal", at))
            else:
                allowed = "'text' or 'refusal'" if refusal else "'text'"
                raise InvalidArgument(
                    f"expected a {allowed} part here, got {kind_!r}", field=f"{at}.type"
                )
        return "\n".join(texts)

    def user_part(self, part: Json, where: str) -> str:
        kind_ = _part_type(part, where)
        if kind_ == "text":
            return _string_field(part, "text", where)
        if kind_ == "image_url":
            self.image(part.get("image_url"), f"{where}.image_url")
            return ""
        if kind_ == "input_audio":
            self.audio(part.get("input_audio"), f"{where}.input_audio")
            return ""
        if kind_ == "file":
            raise Unsupported(
                "file content parts (PDFs) are not routed yet; send the text, or images",
                field=f"{where}.type",
            )
        raise InvalidArgument(
            f"expected 'text', 'image_url', 'input_audio' or 'file', got {kind_!r}",
            field=f"{where}.type",
        )

    def image(self, value: Json, where: str) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(f"expected an object with a url, got {kind(value)}", field=where)
        _only(value, ("url", "detail"), where)
        url = value.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:")):
            raise InvalidArgument(
                "expected an http(s) URL or a data: URL of the image", field=f"{where}.url"
            )
        detail = value.get("detail", "auto")
        if detail not in IMAGE_TOKENS:
            raise InvalidArgument(
                f"expected 'auto', 'low' or 'high', got {detail!r}", field=f"{where}.detail"
            )
        self.need(VISION, where)
        self.extra_tokens += IMAGE_TOKENS[detail]

    def audio(self, value: Json, where: str) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(
                f"expected an object with data and format, got {kind(value)}", field=where
            )
        _only(value, ("data", "format"), where)
        data = value.get("data")
        if not isinstance(data, str) or not data:
            raise InvalidArgument("expected base64-encoded audio", field=f"{where}.data")
        if value.get("format") not in ("wav", "mp3"):
            raise InvalidArgument(
                f"expected 'wav' or 'mp3', got {value.get('format')!r}", field=f"{where}.format"
            )
        self.need(AUDIO, where)
        self.extra_tokens += len(data) * 3 // 4 // AUDIO_BYTES_PER_TOKEN + 1

    def tool_calls(self, value: Json, where: str) -> None:
        if not isinstance(value, list):
            raise InvalidArgument(
                f"expected an array of tool calls, got {kind(value)}", field=where
            )
        for i, call in enumerate(value):
            at = f"{where}[{i}]"
            if not isinstance(call, dict):
                raise InvalidArgument(f"expected a tool call object, got {kind(call)}", field=at)
            _only(call, ("id", "type", "function"), at)
            if not isinstance(call.get("id"), str) or not call["id"]:
                raise InvalidArgument("is required: the call's id", field=f"{at}.id")
            if call.get("type") != "function":
                raise InvalidArgument(
                    f"expected 'function', got {call.get('type')!r}", field=f"{at}.type"
                )
            function = call.get("function")
            if not isinstance(function, dict):
                raise InvalidArgument(
                    f"expected an object with name and arguments, got {kind(function)}",
                    field=f"{at}.function",
                )
            _only(function, ("name", "arguments"), f"{at}.function")
            _string_field(function, "name", f"{at}.function")
            _string_field(function, "arguments", f"{at}.function")
        self.need(TOOLS, where)

    def tools(self, value: Json) -> None:
        if not isinstance(value, list) or not value:
            raise InvalidArgument(
                f"expected a non-empty array of tools, got {kind(value)}", field="tools"
            )
        if len(value) > MAX_TOOLS:
            raise InvalidArgument(f"at most {MAX_TOOLS} tools, got {len(value)}", field="tools")
        for i, tool in enumerate(value):
            at = f"tools[{i}]"
            if not isinstance(tool, dict):
                raise InvalidArgument(f"expected a tool object, got {kind(tool)}", field=at)
            if tool.get("type") != "function":
                if tool.get("type") == "custom":
                    raise Unsupported(
                        "custom (free-form) tools are not routed; use function tools",
                        field=f"{at}.type",
                    )
                raise InvalidArgument(
                    f"expected 'function', got {tool.get('type')!r}", field=f"{at}.type"
                )
            _only(tool, ("type", "function"), at)
            self.function(tool.get("function"), f"{at}.function")
        self.need(TOOLS, "tools")
        self.extra_tokens += len(orjson.dumps(value)) // CHARS_PER_TOKEN

    def function(self, value: Json, where: str) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(f"expected a function object, got {kind(value)}", field=where)
        _only(value, ("name", "description", "parameters", "strict"), where)
        name = value.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidArgument(
                f"expected 1-64 letters, digits, '_' or '-', got {name!r}", field=f"{where}.name"
            )
        if name in self.tool_names:
            raise InvalidArgument(f"two tools are named {name!r}", field=f"{where}.name")
        self.tool_names.add(name)
        description = value.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidArgument(
                f"expected a string, got {kind(description)}", field=f"{where}.description"
            )
        parameters = value.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidArgument(
                f"expected a JSON Schema object, got {kind(parameters)}",
                field=f"{where}.parameters",
            )
        _optional_bool(value.get("strict"), f"{where}.strict")

    def tool_choice_(self, value: Json) -> None:
        if isinstance(value, str):
            if value not in ("none", "auto", "required"):
                raise InvalidArgument(
                    f"expected 'none', 'auto', 'required' or a named function, got {value!r}",
                    field="tool_choice",
                )
        elif isinstance(value, dict):
            if value.get("type") != "function":
                raise InvalidArgument(
                    f"expected 'function', got {value.get('type')!r}", field="tool_choice.type"
                )
            _only(value, ("type", "function"), "tool_choice")
            function = value.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise InvalidArgument(
                    "expected {'name': <a tool's name>}", field="tool_choice.function"
                )
        else:
            raise InvalidArgument(
                f"expected a string or an object, got {kind(value)}", field="tool_choice"
            )
        self.tool_choice = value
        self.tool_only.append("tool_choice")

    def parallel_tool_calls(self, value: Json) -> None:
        _optional_bool(value, "parallel_tool_calls")
        self.tool_only.append("parallel_tool_calls")

    def response_format(self, value: Json) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(f"expected an object, got {kind(value)}", field="response_format")
        kind_ = value.get("type")
        if kind_ == "text":
            _only(value, ("type",), "response_format")
        elif kind_ == "json_object":
            _only(value, ("type",), "response_format")
            self.need(JSON_OBJECT, "response_format")
        elif kind_ == "json_schema":
            _only(value, ("type", "json_schema"), "response_format")
            self.schema(value.get("json_schema"), "response_format.json_schema")
            self.need(JSON_SCHEMA, "response_format")
        else:
            raise InvalidArgument(
                f"expected 'text', 'json_object' or 'json_schema', got {kind_!r}",
                field="response_format.type",
            )

    def schema(self, value: Json, where: str) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(
                f"expected an object with a name and a schema, got {kind(value)}", field=where
            )
        _only(value, ("name", "description", "schema", "strict"), where)
        name = value.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidArgument(
                f"expected 1-64 letters, digits, '_' or '-', got {name!r}", field=f"{where}.name"
            )
        schema = value.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise InvalidArgument(
                f"expected a JSON Schema object, got {kind(schema)}", field=f"{where}.schema"
            )
        _optional_bool(value.get("strict"), f"{where}.strict")
        self.json_schema = schema if schema is not None else {}

    def n_(self, value: Json) -> None:
        self.n = _int(value, "n", 1, MAX_N)
        if self.n > 1:
            self.need(MULTIPLE_CHOICES, "n")

    def seed(self, value: Json) -> None:
        _int(value, "seed", -MAX_INT64 - 1, MAX_INT64)
        self.need(SEED, "seed")

    def logprobs_(self, value: Json) -> None:
        self.logprobs = _optional_bool(value, "logprobs")
        if self.logprobs:
            self.need(LOGPROBS, "logprobs")

    def top_logprobs_(self, value: Json) -> None:
        _int(value, "top_logprobs", 0, MAX_TOP_LOGPROBS)
        self.top_logprobs = True

    def stop(self, value: Json) -> None:
        if isinstance(value, str):
            return
        if isinstance(value, list) and len(value) <= MAX_STOP:
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise InvalidArgument(
                        f"expected a string, got {kind(item)}", field=f"stop[{i}]"
                    )
            return
        raise InvalidArgument(f"expected a string or up to {MAX_STOP} strings", field="stop")

    def logit_bias(self, value: Json) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(
                f"expected an object of token ids to biases, got {kind(value)}", field="logit_bias"
            )
        for token, bias in value.items():
            if not _TOKEN_ID.fullmatch(token):
                raise InvalidArgument(
                    f"expected a token id (digits), got {token!r}", field=f"logit_bias.{token}"
                )
            _number(bias, f"logit_bias.{token}", -100.0, 100.0)
        if value:
            self.need(LOGIT_BIAS, "logit_bias")

    def stream_(self, value: Json) -> None:
        self.stream = _optional_bool(value, "stream")

    def stream_options_(self, value: Json) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(f"expected an object, got {kind(value)}", field="stream_options")
        _only(value, ("include_usage", "include_obfuscation"), "stream_options")
        self.include_usage = _optional_bool(
            value.get("include_usage"), "stream_options.include_usage"
        )
        _optional_bool(value.get("include_obfuscation"), "stream_options.include_obfuscation")
        self.stream_options = True

    def reasoning_effort(self, value: Json) -> None:
        if value not in ("none", "minimal", "low", "medium", "high"):
            raise InvalidArgument(
                f"expected 'none', 'minimal', 'low', 'medium' or 'high', got {value!r}",
                field="reasoning_effort",
            )
        self.need(REASONING, "reasoning_effort")

    def strategy_(self, value: Json) -> None:
        name = value.replace("_", "-") if isinstance(value, str) else None
        strategy = STRATEGY_BY_NAME.get(name) if name is not None else None
        if strategy is None:
            raise InvalidArgument(
                f"expected one of {', '.join(STRATEGY_BY_NAME)}; got {value!r}", field="strategy"
            )
        self.strategy = int(strategy)

    def metadata(self, value: Json) -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(f"expected an object, got {kind(value)}", field="metadata")
        if len(value) > MAX_METADATA:
            raise InvalidArgument(
                f"at most {MAX_METADATA} keys, got {len(value)}", field="metadata"
            )
        for key, item in value.items():
            if len(key) > 64 or not isinstance(item, str) or len(item) > 512:
                raise InvalidArgument(
                    "expected string values of at most 512 characters under keys of at most 64",
                    field=f"metadata.{key[:64]}",
                )

    def service_tier(self, value: Json) -> None:
        if value not in ("auto", "default"):
            raise Unsupported(
                f"only 'auto' and 'default' are honoured, got {value!r}", field="service_tier"
            )

    def store(self, value: Json) -> None:
        if _optional_bool(value, "store"):
            raise Unsupported("Freeway does not store completions", field="store")

    def modalities(self, value: Json) -> None:
        if value != ["text"]:
            raise Unsupported(
                f"only the 'text' output modality is routed, got {value!r}", field="modalities"
            )

    # --- the cross-field rules ----------------------------------------------------

    def finish(self, body: Mapping[str, Json]) -> None:
        if "messages" not in body:
            self.messages(None)
        if self.tool_only and not self.tool_names:
            raise InvalidArgument(
                f"{self.tool_only[0]} is only allowed when tools are specified",
                field=self.tool_only[0],
            )
        choice = self.tool_choice
        if isinstance(choice, dict) and choice["function"]["name"] not in self.tool_names:
            raise InvalidArgument(
                f"names no tool in `tools`: {choice['function']['name']!r}",
                field="tool_choice.function.name",
            )
        if self.top_logprobs and not self.logprobs:
            raise InvalidArgument("needs logprobs: true", field="top_logprobs")
        if self.stream_options and not self.stream:
            raise InvalidArgument("is only allowed when stream is true", field="stream_options")


def _without_reasoning(message: dict[str, Json]) -> dict[str, Json]:
    if "reasoning_content" not in message:
        return message
    return {k: v for k, v in message.items() if k != "reasoning_content"}


def _part_type(part: Json, where: str) -> str:
    if not isinstance(part, dict):
        raise InvalidArgument(f"expected a content part object, got {kind(part)}", field=where)
    kind_ = part.get("type")
    if not isinstance(kind_, str):
        raise InvalidArgument(f"expected a part type, got {kind(kind_)}", field=f"{where}.type")
    return kind_


def _string_field(obj: Mapping[str, Json], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise InvalidArgument(f"expected a string, got {kind(value)}", field=f"{where}.{name}")
    return value


def _only(obj: Mapping[str, Json], allowed: tuple[str, ...], where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise InvalidArgument(f"unknown field {key!r}", field=f"{where}.{key}")


def _int(value: Json, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"expected an integer, got {kind(value)}", field=name)
    if not low <= value <= high:
        raise InvalidArgument(
            f"expected an integer from {low} to {high}, got {_show(value)}", field=name
        )
    return value


def _number(value: Json, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"expected a number, got {kind(value)}", field=name)
    if not low <= value <= high:
        raise InvalidArgument(
            f"expected a number from {low:g} to {high:g}, got {_show(value)}", field=name
        )
    return float(value)


def _optional_bool(value: Json, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidArgument(f"expected true or false, got {kind(value)}", field=name)
    return value


def _show(value: int | float) -> str:
    """A number for an error message (a huge integer by its size: printing it is costly)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)


def kind(value: Json) -> str:
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


_ROLES: dict[str, Callable[[_Reader, Mapping[str, Json], str], str]] = {
    "system": _Reader.system,
    "developer": _Reader.system,
    "user": _Reader.user,
    "assistant": _Reader.assistant,
    "tool": _Reader.tool,
}
_MESSAGE_FIELDS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {
            "role",
            "content",
            "name",
            "refusal",
            "tool_calls",
            "function_call",
            "audio",
            "reasoning_content",
        }
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


Check = Callable[[_Reader, Json], None]


def _number_field(name: str, low: float, high: float, need: int = 0) -> Check:
    def check(reader: _Reader, value: Json) -> None:
        _number(value, name, low, high)
        if need:
            reader.need(need, name)

    return check


def _token_limit(name: str) -> Check:
    def check(reader: _Reader, value: Json) -> None:
        limit = _int(value, name, 1, MAX_INT32)
        if reader.max_tokens is not None and reader.max_tokens != limit:
            raise InvalidArgument(
                f"{reader.max_tokens_field} is {reader.max_tokens} and {name} is {limit}: "
                "send one of them",
                field=name,
            )
        reader.max_tokens, reader.max_tokens_field = limit, name

    return check


def _string(name: str) -> Check:
    def check(reader: _Reader, value: Json) -> None:
        if not isinstance(value, str):
            raise InvalidArgument(f"expected a string, got {kind(value)}", field=name)

    return check


def _refuse(name: str, why: str) -> Check:
    def check(reader: _Reader, value: Json) -> None:
        raise Unsupported(why, field=name)

    return check


_R = _Reader
_FIELDS: dict[str, Check] = {
    "model": _R.model_,
    "messages": _R.messages,
    "tools": _R.tools,
    "tool_choice": _R.tool_choice_,
    "parallel_tool_calls": _R.parallel_tool_calls,
    "response_format": _R.response_format,
    "n": _R.n_,
    "seed": _R.seed,
    "logprobs": _R.logprobs_,
    "top_logprobs": _R.top_logprobs_,
    "stop": _R.stop,
    "temperature": _number_field("temperature", 0.0, 2.0),
    "top_p": _number_field("top_p", 0.0, 1.0),
    "frequency_penalty": _number_field("frequency_penalty", -2.0, 2.0, PENALTIES),
    "presence_penalty": _number_field("presence_penalty", -2.0, 2.0, PENALTIES),
    "logit_bias": _R.logit_bias,
    "max_tokens": _token_limit("max_tokens"),
    "max_completion_tokens": _token_limit("max_completion_tokens"),
    "stream": _R.stream_,
    "stream_options": _R.stream_options_,
    "reasoning_effort": _R.reasoning_effort,
    "strategy": _R.strategy_,
    "user": _string("user"),
    "safety_identifier": _string("safety_identifier"),
    "prompt_cache_key": _string("prompt_cache_key"),
    "metadata": _R.metadata,
    "service_tier": _R.service_tier,
    "store": _R.store,
    "modalities": _R.modalities,
    "audio": _refuse("audio", "audio output is not routed: Freeway answers with text"),
    "prediction": _refuse("prediction", "predicted outputs are not supported"),
    "web_search_options": _refuse(
        "web_search_options", "web search is not routed: no free model offers it"
    ),
    "verbosity": _refuse("verbosity", "verbosity is an OpenAI-only parameter"),
    "functions": _refuse("functions", "`functions` is the deprecated functions API; send `tools`"),
    "function_call": _refuse(
        "function_call", "`function_call` is the deprecated functions API; use tool_choice"
    ),
}
