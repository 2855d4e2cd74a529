"""What the simulated model answers, whatever the provider: the request read and checked as
OpenAI's API reads it, then text, tool calls or JSON, reasoning, cut by `stop` and token
limits, with token counts. How each provider frames the answer is `render`'s business.

Answers are deterministic: the same request (and `seed`) gives the same answer; another
seed picks another wording; each of `n` choices is worded differently.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.simulator.schema import Hints, SchemaError, instance

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
SUMMARY_WORDS = 12
MAX_N = 128
MAX_STOPS = 4
IMAGE_TOKENS = 85  # what OpenAI bills a low-detail image
WORDINGS = (
    "Simulated reply from {model}: {summary}",
    "{model} (simulated) answers: {summary}",
    "Here is the simulated answer of {model}: {summary}",
    "As {model} (simulated), I read: {summary}",
)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def estimate_tokens(text: str) -> int:
    """About four characters per token, as providers' own rough estimates go."""
    return max(1, (len(text) + 3) // 4) if text else 0


def content_text(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def pieces(text: str) -> list[str]:
    """How a model streams `text`: word by word, each piece keeping its leading space."""
    if not text:
        return []
    words = re.findall(r"\s*\S+|\s+$", text)
    return words or [text]


class BadRequest(ValueError):
    """The request's own fault: a 400 naming the parameter."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Tool:
    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class ChatCall:
    """A chat request as the simulator understands it (the raw body is kept beside)."""

    body: Mapping[str, Any]
    model: str
    messages: Sequence[Mapping[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    n: int
    seed: int | None
    stop: tuple[str, ...]
    tools: tuple[Tool, ...]
    tool_choice: str  # "none" | "auto" | "required" | "function" (named in named_tool)
    named_tool: str | None
    parallel_tool_calls: bool
    response_format: str  # "text" | "json_object" | "json_schema"
    schema: Any
    logprobs: bool
    top_logprobs: int


def parse_call(body: Any, default_model: str | None = None) -> ChatCall:
    """Read and check a chat completion request; BadRequest names the bad parameter.
    `default_model`: what a request naming no model gets (a local server's only model)."""
    if not isinstance(body, dict):
        raise BadRequest("body", "expected a JSON object")
    model = body.get("model", default_model)
    if not isinstance(model, str) or not model:
        raise BadRequest("model", "you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages", "expected a non-empty array of messages")
    for i, message in enumerate(messages):
        _check_message(message, f"messages[{i}]")
    stream = _optional(body, "stream", bool) is True
    options = _optional(body, "stream_options", dict)  # OpenAI refuses it without stream:
    include_usage = bool(options and _optional(options, "include_usage", bool, "stream_options"))
    tools = _tools(body.get("tools"))
    tool_choice, named = _tool_choice(body.get("tool_choice"), tools)
    response_format, schema = _response_format(body.get("response_format"))
    logprobs = _optional(body, "logprobs", bool) is True
    top_logprobs = _integer(body, "top_logprobs", 0, 20) or 0
    if top_logprobs and not logprobs:
        raise BadRequest("top_logprobs", "logprobs must be true when top_logprobs is set")
    for name, low, high in (
        ("temperature", 0, 2),
        ("top_p", 0, 1),
        ("frequency_penalty", -2, 2),
        ("presence_penalty", -2, 2),
    ):
        _number(body, name, low, high)
    _logit_bias(body.get("logit_bias"))
    max_tokens = _integer(body, "max_completion_tokens", 1, None)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1, None)
    return ChatCall(
        body=body,
        model=model,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_tokens,
        n=_integer(body, "n", 1, MAX_N) or 1,
        seed=_integer(body, "seed", None, None),
        stop=_stop(body.get("stop")),
        tools=tools,
        tool_choice=tool_choice,
        named_tool=named,
        parallel_tool_calls=_optional(body, "parallel_tool_calls", bool) is not False,
        response_format=response_format,
        schema=schema,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
    )


def _check_message(message: Any, where: str) -> None:
    role = message.get("role") if isinstance(message, dict) else None
    if not isinstance(role, str) or role not in ROLES:
        raise BadRequest(f"{where}.role", "expected a message with a valid role")
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return
        if role not in ("assistant",):
            raise BadRequest(f"{where}.content", "expected a string or an array of parts")
    elif isinstance(content, list):
        for j, part in enumerate(content):
            _check_part(part, f"{where}.content[{j}]")
    elif not isinstance(content, str):
        raise BadRequest(f"{where}.content", "expected a string or an array of parts")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise BadRequest(f"{where}.tool_call_id", "a tool message needs the tool_call_id")


def _check_part(part: Any, where: str) -> None:
    kind = part.get("type") if isinstance(part, dict) else None
    if not isinstance(kind, str):
        raise BadRequest(f"{where}.type", "expected a content part with a type")
    if kind == "text" and not isinstance(part.get("text"), str):
        raise BadRequest(f"{where}.text", "a text part needs its text")
    if kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise BadRequest(f"{where}.image_url.url", "an image part needs its url")
    if kind == "input_audio":  # OpenAI: {"data", "format"}; Mistral takes the data alone
        audio = part.get("input_audio")
        if not isinstance(audio, str) and not (
            isinstance(audio, dict) and isinstance(audio.get("data"), str)
        ):
            raise BadRequest(f"{where}.input_audio.data", "an audio part needs its data")


def _optional(body: Mapping[str, Any], name: str, kind: type, parent: str | None = None) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        param = f"{parent}.{name}" if parent else name
        raise BadRequest(param, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _integer(body: Mapping[str, Any], name: str, low: int | None, high: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(name, f"expected an integer, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise BadRequest(name, f"expected an integer {bounds}, got {value}")
    return value


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise BadRequest(name, f"expected a number, got {type(value).__name__}")
    if not low <= value <= high:
        raise BadRequest(name, f"expected a number between {low} and {high}, got {value}")


def _logit_bias(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise BadRequest("logit_bias", "expected an object of token ids to biases")
    for token, bias in value.items():
        if not isinstance(bias, int | float) or isinstance(bias, bool) or not -100 <= bias <= 100:
            raise BadRequest(f"logit_bias.{token}", "expected a number between -100 and 100")


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        if len(value) > MAX_STOPS:
            raise BadRequest("stop", f"expected at most {MAX_STOPS} stop sequences")
        return tuple(s for s in value if s)
    raise BadRequest("stop", "expected a string or an array of strings")


def _tools(value: Any) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest("tools", "expected an array of tools")
    tools = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise BadRequest(f"tools[{i}].type", "expected a tool with a type")
        if tool["type"] != "function":
            continue  # a provider's server-side tool: the provider decides (see profiles)
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"tools[{i}].function.name", "a function tool needs its name")
        parameters = function.get("parameters") if isinstance(function, dict) else None
        if parameters is not None and not isinstance(parameters, dict):
            raise BadRequest(f"tools[{i}].function.parameters", "expected a JSON schema object")
        tools.append(Tool(name, parameters or {"type": "object", "properties": {}}))
    return tuple(tools)


def _tool_choice(value: Any, tools: tuple[Tool, ...]) -> tuple[str, str | None]:
    if value is None:
        return ("auto" if tools else "none"), None
    if value in ("none", "auto", "required"):
        if value == "required" and not tools:
            raise BadRequest("tool_choice", "tool_choice 'required' needs tools")
        return str(value), None
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or name not in {t.name for t in tools}:
            raise BadRequest("tool_choice.function.name", f"no tool named {name!r} in tools")
        return "function", name
    raise BadRequest("tool_choice", "expected none, auto, required or a named function")


def _response_format(value: Any) -> tuple[str, Any]:
    if value is None:
        return "text", None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object"):
        return str(kind), None
    if kind == "json_schema":
        spec = value.get("json_schema")
        if spec is None and isinstance(value.get("schema"), dict):
            spec = value  # Together's shorthand: the schema beside the type
        if not isinstance(spec, dict):
            raise BadRequest("response_format.json_schema", "expected the json_schema object")
        schema = spec.get("schema", {"type": "object"})
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema", "expected a JSON schema")
        return "json_schema", schema
    raise BadRequest("response_format.type", "expected text, json_object or json_schema")


# --- the answer ----------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    index: int
    name: str
    arguments: str  # compact JSON text (each provider re-spaces it as it did)


@dataclass(frozen=True)
class Choice:
    index: int
    content: str | None  # None: the answer is tool calls only
    reasoning: str  # "" when the model does not reason
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str  # "stop" | "length" | "tool_calls"
    stop_matched: str | None = None
    logprobs: tuple[Mapping[str, Any], ...] | None = None


@dataclass(frozen=True)
class Usage:
    prompt: int
    completion: int
    reasoning: int = 0
    cached: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class Answer:
    choices: tuple[Choice, ...]
    usage: Usage


def last_user_text(call: ChatCall) -> str:
    last = next((m for m in reversed(call.messages) if m.get("role") == "user"), None)
    return content_text(last.get("content")) if last else ""


def summary(call: ChatCall) -> str:
    words = last_user_text(call).split()
    text = " ".join(words[:SUMMARY_WORDS]) + (" …" if len(words) > SUMMARY_WORDS else "")
    return text or "(no user message)"


def prompt_tokens(call: ChatCall) -> int:
    # Providers count a few tokens of framing per message, and a fixed price per image.
    total = 0
    for message in call.messages:
        content = message.get("content")
        images = (
            sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
            if isinstance(content, list)
            else 0
        )
        total += 4 + estimate_tokens(content_text(content)) + IMAGE_TOKENS * images
    if call.tools:
        total += estimate_tokens(json.dumps(call.body.get("tools")))
    return total


def _rng(call: ChatCall, index: int) -> random.Random:
    digest = hashlib.sha256(dumps([call.model, call.messages, call.seed, index])).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _text(call: ChatCall, index: int, reply: str | None) -> str:
    if reply is not None:
        return reply
    wording = WORDINGS[((call.seed or 0) + index) % len(WORDINGS)]
    return wording.format(model=call.model, summary=summary(call))


def _json_text(call: ChatCall, index: int) -> str:
    if call.response_format == "json_object":
        return json.dumps({"answer": summary(call)}, ensure_ascii=False)
    try:
        value = instance(call.schema, _rng(call, index), _hints(call))
    except SchemaError as exc:
        raise BadRequest("response_format.json_schema.schema", str(exc)) from None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _hints(call: ChatCall) -> Hints:
    text = last_user_text(call)
    numbers = [float(n) for n in NUMBER.findall(text)]
    return Hints(numbers=numbers, words=[summary(call)])


def _calls(call: ChatCall, index: int) -> tuple[ToolCall, ...]:
    """The tool calls the model makes, if any (tool_choice decides, then the conversation)."""
    if not call.tools or call.tool_choice == "none":
        return ()
    if call.tool_choice == "auto" and call.messages[-1].get("role") in ("tool", "function"):
        return ()  # a tool result came back: now the model answers
    by_name = {t.name: t for t in call.tools}
    if call.tool_choice == "function" and call.named_tool is not None:
        chosen = [by_name[call.named_tool]]
    else:
        text = last_user_text(call)
        mentioned = sorted(
            (t for t in call.tools if t.name in text), key=lambda t: text.index(t.name)
        )
        chosen = mentioned if mentioned else [call.tools[0]]
        if not call.parallel_tool_calls:
            chosen = chosen[:1]
    result = []
    for i, tool in enumerate(chosen):
        try:
            arguments = instance(tool.parameters, _rng(call, index * 100 + i), _hints(call))
        except SchemaError as exc:
            raise BadRequest(f"tools.{tool.name}.function.parameters", str(exc)) from None
        text = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
        result.append(ToolCall(i, tool.name, text))
    return tuple(result)


def _logprobs(text: str, top: int) -> tuple[Mapping[str, Any], ...]:
    entries = []
    for i, piece in enumerate(pieces(text)):
        logprob = -round(0.01 + 0.07 * (i % 5), 4)
        alternatives = [piece, piece.upper(), piece.strip() or piece][:top]
        entries.append(
            {
                "token": piece,
                "logprob": logprob,
                "bytes": list(piece.encode()),
                "top_logprobs": [
                    {"token": alt, "logprob": logprob - k, "bytes": list(alt.encode())}
                    for k, alt in enumerate(alternatives)
                ],
            }
        )
    return tuple(entries)


def _choice(call: ChatCall, index: int, reasons: bool, reply: str | None) -> Choice:
    calls = _calls(call, index) if reply is None else ()
    if calls:
        content: str | None = None
    elif call.response_format != "text" and reply is None:
        content = _json_text(call, index)
    else:
        content = _text(call, index, reply)
    reasoning = f"The user asks: {summary(call)} A short, direct answer will do." if reasons else ""
    finish, matched = ("tool_calls" if calls else "stop"), None
    if content is not None:
        cut = [(content.find(s), s) for s in call.stop if s in content]
        if cut:
            at, matched = min(cut)
            content = content[:at]
    if call.max_tokens is not None:
        budget = call.max_tokens
        if estimate_tokens(reasoning) >= budget:  # the reasoning ate the whole budget
            reasoning, content, calls, finish = reasoning[: budget * 4], "", (), "length"
        elif content is not None:
            room = budget - estimate_tokens(reasoning)
            if estimate_tokens(content) > room:
                content, finish, matched = content[: room * 4], "length", None
    logprobs = _logprobs(content or "", call.top_logprobs) if call.logprobs else None
    return Choice(index, content, reasoning, calls, finish, matched, logprobs)


def answer(
    call: ChatCall, *, reasons: bool = False, reply: str | None = None, cached: int = 0
) -> Answer:
    """The model's answer to `call`: `n` choices and the usage they cost."""
    choices = tuple(_choice(call, i, reasons, reply) for i in range(call.n))
    reasoning = sum(estimate_tokens(c.reasoning) for c in choices)
    completion = reasoning + sum(
        estimate_tokens(c.content or "") + sum(estimate_tokens(t.arguments) for t in c.tool_calls)
        for c in choices
    )
    prompt = prompt_tokens(call)
    return Answer(choices, Usage(prompt, completion, reasoning, min(cached, prompt)))


def error_body(status: int, message: str, param: str | None = None) -> bytes:
    """OpenAI's error shape (for providers without a recorded error of their own)."""
    kinds = {400: "invalid_request_error", 401: "invalid_request_error", 404: "not_found_error"}
    codes = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
    error = {
        "message": message,
        "type": kinds.get(status, "rate_limit_error" if status == 429 else "server_error"),
        "param": param,
        "code": codes.get(status),
    }
    return dumps({"error": error})
