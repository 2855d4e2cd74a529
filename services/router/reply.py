"""Providers' answers → the client's OpenAI JSON, checked on the way.

Every reply is parsed and checked to be the answer it claims to be (`MalformedReply`
otherwise, and the next candidate is tried), then rewritten into exactly OpenAI's shape,
whatever dialect the provider speaks (see `data/chat/INDEX.md` for the recorded ones):

* tool calls: an id, `"type": "function"`, the name and string arguments, always; in
  streams the id, type and name only on a call's first fragment and then only argument
  pieces, as OpenAI sends them (providers repeat the id, send `null`s or `""`, or send a
  whole call in one delta), so the SDKs' stream helpers accumulate them unchanged;
* finish reasons in OpenAI's words (`tool_calls` whenever the message calls tools);
* reasoning text as `reasoning_content`, whichever field the provider used;
* usage with `prompt_tokens_details.cached_tokens` and
  `completion_tokens_details.reasoning_tokens` when the provider states them, wherever
  it put them (a last chunk, the finish chunk, running totals, `x_groq`);
* an error object inside an HTTP 200 body or stream is a failure, never an answer; so is a
  stream that ends before every choice said how it finished.

Provider-only fields (`obfuscation`, `x_groq`, `p`, `timings`, …) are dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

Json = Any


class MalformedReply(ValueError):
    """The provider answered 2xx with something that is not the answer asked for."""


class ProviderError(MalformedReply):
    """An error object inside a 2xx reply or stream (the status line could not say it)."""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    stated: bool = False  # False: the provider said nothing; these are Freeway's counts

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def json(self) -> dict[str, Json]:
        out: dict[str, Json] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return out


@dataclass(frozen=True)
class Answer:
    """A whole completion in the client's shape (without Freeway's block), and its facts."""

    body: dict[str, Json]
    usage: Usage | None  # None: the provider stated none
    finish_reasons: tuple[str, ...]
    chars: int  # of generated text and tool arguments (for estimates)


FINISH_REASONS: dict[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
    # other dialects
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "complete": "stop",
    "max_tokens": "length",
    "model_length": "length",
    "tool_use": "tool_calls",
    "tool_call": "tool_calls",
    "safety": "content_filter",
    "recitation": "content_filter",
}
# A provider saying its generation broke: a failure, not an answer.
_BROKEN_FINISH = frozenset({"error", "abort", "aborted", "cancelled"})


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + os.urandom(12).hex()


def read_completion(raw: bytes, model_id: str, completion_id: str, n: int, now: int) -> Answer:
    """A non-streamed reply (the whole body) as the client's `chat.completion`."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedReply(f"not JSON: {exc}") from None
    body = _object(doc, "body")
    _reject_error(body)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedReply("no choices in the reply")
    if len(choices) < n:
        raise MalformedReply(f"asked for {n} choices, got {len(choices)}")
    out_choices = []
    reasons = []
    chars = 0
    for position, item in enumerate(choices):
        choice = _object(item, f"choices[{position}]")
        message = _object(choice.get("message"), f"choices[{position}].message")
        out_message, size = _message(message, position)
        reason = _finish(choice.get("finish_reason"), bool(out_message.get("tool_calls")))
        if reason is None:
            reason = "tool_calls" if out_message.get("tool_calls") else "stop"
        out: dict[str, Json] = {
            "index": _int(choice.get("index"), position),
            "message": out_message,
            "logprobs": _logprobs(choice.get("logprobs")),
            "finish_reason": reason,
        }
        out_choices.append(out)
        reasons.append(reason)
        chars += size
    result: dict[str, Json] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": _created(body.get("created"), now),
        "model": model_id,
        "choices": out_choices,
    }
    fingerprint = body.get("system_fingerprint")
    if isinstance(fingerprint, str):
        result["system_fingerprint"] = fingerprint
    return Answer(result, usage_of(body), tuple(reasons), chars)


def _message(message: Mapping[str, Json], position: int) -> tuple[dict[str, Json], int]:
    where = f"choices[{position}].message"
    content = _content(message.get("content"), f"{where}.content")
    calls = message.get("tool_calls")
    out: dict[str, Json] = {"role": "assistant", "content": content}
    size = len(content or "")
    if calls:
        if not isinstance(calls, list):
            raise MalformedReply(f"{where}.tool_calls: expected a list")
        tool_calls = [_tool_call(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(calls)]
        out["tool_calls"] = tool_calls
        size += sum(len(c["function"]["arguments"]) for c in tool_calls)
        if not content:
            out["content"] = None
    elif content is None:
        out["content"] = ""
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        out["refusal"] = refusal
        size += len(refusal)
    reasoning = _reasoning(message)
    if reasoning:
        out["reasoning_content"] = reasoning
    return out, size


def _tool_call(value: Json, where: str) -> dict[str, Json]:
    call = _object(value, where)
    function = _object(call.get("function"), f"{where}.function")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedReply(f"{where}.function.name: missing")
    call_id = call.get("id")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else new_id("call_"),
        "type": "function",
        "function": {"name": name, "arguments": _arguments(function.get("arguments"))},
    }


def _arguments(value: Json) -> str:
    """Tool-call arguments as the JSON text OpenAI sends (some providers send an object)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "{}"
    return orjson.dumps(value).decode()


def _content(value: Json, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # parts: keep the text ones
        return "".join(
            part["text"]
            for part in value
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    raise MalformedReply(f"{where}: expected a string, got {type(value).__name__}")


def _reasoning(obj: Mapping[str, Json]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    details = obj.get("reasoning_details")
    if isinstance(details, list):
        return "".join(
            d["text"] for d in details if isinstance(d, dict) and isinstance(d.get("text"), str)
        )
    return ""


def _finish(value: Json, calls_tools: bool) -> str | None:
    """OpenAI's finish reason for a provider's; None when not stated (yet)."""
    if not isinstance(value, str) or not value:
        return None
    lowered = value.lower()
    if lowered in _BROKEN_FINISH:
        raise MalformedReply(f"the provider ended the generation with {value!r}")
    reason = FINISH_REASONS.get(lowered, "stop")
    if calls_tools and reason == "stop":
        return "tool_calls"
    return reason


def _logprobs(value: Json) -> Json:
    return value if isinstance(value, dict) else None


def usage_of(doc: Mapping[str, Json]) -> Usage | None:
    """The usage a body or chunk states (OpenAI's place, or Groq's `x_groq.usage`)."""
    usage = doc.get("usage")
    if usage is None or not isinstance(usage, dict):
        x_groq = doc.get("x_groq")
        if x_groq is None:
            return None
        usage = x_groq.get("usage") if isinstance(x_groq, dict) else None
        if not isinstance(usage, dict):
            return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    if prompt is None and completion is None:
        return None
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = _detail(prompt_details, "cached_tokens") or _count(
        usage.get("prompt_cache_hit_tokens")
    )
    reasoning = _detail(completion_details, "reasoning_tokens") or _count(
        usage.get("reasoning_tokens")
    )
    return Usage(prompt or 0, completion or 0, cached or 0, reasoning or 0, stated=True)


def _detail(details: Json, key: str) -> int | None:
    return _count(details.get(key)) if isinstance(details, dict) else None


def _count(value: Json) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


# --- streams -----------------------------------------------------------------------


@dataclass
class _Call:
    id: str
    name: str


@dataclass
class _ChoiceState:
    role_sent: bool = False
    finish: str | None = None
    calls: dict[int, _Call] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)  # kept only when the reader assembles
    refusal: list[str] = field(default_factory=list)
    arguments: dict[int, list[str]] = field(default_factory=dict)


class StreamReader:
    """One attempt's stream: provider chunks in, the client's `chat.completion.chunk`
    JSON texts out. `committed` turns true at the first content (text, a tool call, a
    refusal, reasoning or a finish): until then a failure may still fall back."""

    def __init__(
        self, model_id: str, stream_id: str, created: int, n: int, *, assemble: bool = False
    ) -> None:
        self.model_id = model_id
        self.stream_id = stream_id
        self.created = created
        self.n = n
        self.assemble = assemble  # keep what was said, to check the whole answer
        self.choices: dict[int, _ChoiceState] = {}
        self.usage: Usage | None = None
        self.committed = False
        self.chars = 0
        # Every chunk starts alike: its head is encoded once.
        self._head = orjson.dumps(
            {
                "id": stream_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model_id,
            }
        )[:-1]

    def feed(self, docs: Sequence[Json]) -> list[bytes]:
        """The client chunks for provider chunks (decoded `data:` payloads)."""
        out: list[bytes] = []
        for doc in docs:
            chunk = _object(doc, "chunk")
            if "error" in chunk:
                _reject_error(chunk)
            if "usage" in chunk or "x_groq" in chunk:
                usage = usage_of(chunk)
                if usage is not None:
                    self.usage = usage
            choices = chunk.get("choices")
            if not choices:
                continue
            if not isinstance(choices, list):
                raise MalformedReply("chunk choices: expected a list")
            encoded = None if self.assemble else self._plain(choices)
            if encoded is not None:
                out.append(encoded)
                continue
            deltas = [d for d in (self._delta(c, i) for i, c in enumerate(choices)) if d]
            if deltas:
                out.append(self._encode(deltas))
        return out

    def _plain(self, choices: list[Json]) -> bytes | None:
        """The common chunk, cheaply: one choice already started, whose delta is only
        text (None for anything else, which `_delta` reads in full)."""
        if len(choices) != 1:
            return None
        choice = choices[0]
        if not isinstance(choice, dict) or choice.get("finish_reason") is not None:
            return None
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return None
        for key, value in delta.items():
            if key not in _PLAIN_DELTA or (key in _REASONING_KEYS and value):
                return None
        content = delta.get("content")
        index = choice.get("index", 0)
        state = self.choices.get(index) if type(index) is int else None
        if state is None or not state.role_sent or type(content) is not str or not content:
            return None
        if choice.get("logprobs") is not None:
            return None
        self.chars += len(content)
        return b"".join(
            (self._head, _PLAIN[index], orjson.dumps(content), b'},"finish_reason":null}]}')
        )

    @property
    def finished(self) -> bool:
        """Whether every choice has said how it finished (the answer is whole)."""
        return all(self.choices.get(i, _ChoiceState()).finish is not None for i in range(self.n))

    def finish(self) -> None:
        """The stream ended: every choice must have said how it finished."""
        missing = [i for i in range(self.n) if self.choices.get(i, _ChoiceState()).finish is None]
        if missing:
            raise MalformedReply(
                f"the stream ended without a finish reason for choice {missing[0]} "
                "(cut off mid-answer)"
            )

    def feed_answer(self, raw: bytes) -> list[bytes]:
        """A provider that ignored `stream: true` and answered whole: that answer, as the
        chunks a stream of it would have been (a whole message per choice)."""
        answer = read_completion(raw, self.model_id, self.stream_id, self.n, self.created)
        if answer.usage is not None:
            self.usage = answer.usage
        self.chars += answer.chars
        out = []
        for choice in answer.body["choices"]:
            delta = {k: v for k, v in choice["message"].items() if v is not None}
            if "tool_calls" in delta:
                delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(delta["tool_calls"])]
            state = self.choices.setdefault(choice["index"], _ChoiceState())
            state.role_sent, state.finish = True, choice["finish_reason"]
            if self.assemble:
                _keep(state, choice["message"])
            item: dict[str, Json] = {"index": choice["index"], "delta": delta}
            if choice["logprobs"] is not None:
                item["logprobs"] = choice["logprobs"]
            item["finish_reason"] = choice["finish_reason"]
            out.append(self._encode([item]))
        self.committed = True
        return out

    def usage_chunk(self, usage: Usage, extra: Mapping[str, Json] | None = None) -> bytes:
        """OpenAI's last chunk when `stream_options.include_usage` is set."""
        body: dict[str, Json] = {"choices": [], "usage": usage.json()}
        if extra:
            body.update(extra)
        return self._head + b"," + orjson.dumps(body)[1:]

    def _encode(self, deltas: list[dict[str, Json]]) -> bytes:
        return self._head + b',"choices":' + orjson.dumps(deltas) + b"}"

    def _delta(self, item: Json, position: int) -> dict[str, Json] | None:
        choice = _object(item, f"choices[{position}]")
        index = _int(choice.get("index"), position)
        state = self.choices.get(index)
        if state is None:
            if index < 0 or index >= max(self.n, 1):
                raise MalformedReply(f"a chunk for choice {index}, but {self.n} were asked for")
            state = self.choices[index] = _ChoiceState()
        raw = choice.get("delta")
        delta = _object(raw, f"choices[{position}].delta") if raw is not None else {}
        out: dict[str, Json] = {}
        content = _content(delta.get("content"), "delta.content")
        if content:
            out["content"] = content
            self.chars += len(content)
            if self.assemble:
                state.text.append(content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            out["refusal"] = refusal
            self.chars += len(refusal)
            if self.assemble:
                state.refusal.append(refusal)
        reasoning = _reasoning(delta)
        if reasoning:
            out["reasoning_content"] = reasoning
        calls = delta.get("tool_calls")
        if calls:
            fragments = self._tool_fragments(calls, state)
            if fragments:
                out["tool_calls"] = fragments
        finish = _finish(choice.get("finish_reason"), bool(state.calls))
        logprobs = _logprobs(choice.get("logprobs"))
        if finish is not None and state.finish is not None:
            finish = None  # said twice (OpenRouter): once is the answer
        if not out and finish is None and logprobs is None:
            return None
        if not state.role_sent:
            out = {"role": "assistant", **out}
            if "content" not in out and "tool_calls" not in out:
                out["content"] = ""
            state.role_sent = True
        if finish is not None:
            state.finish = finish
        self.committed = True
        result: dict[str, Json] = {"index": index, "delta": out}
        if logprobs is not None:
            result["logprobs"] = logprobs
        result["finish_reason"] = finish
        return result

    def _tool_fragments(self, calls: Json, state: _ChoiceState) -> list[dict[str, Json]]:
        if not isinstance(calls, list):
            raise MalformedReply("delta.tool_calls: expected a list")
        fragments = []
        for position, item in enumerate(calls):
            call = _object(item, f"delta.tool_calls[{position}]")
            index = _int(call.get("index"), position)
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            arguments = _fragment(function.get("arguments"))
            known = state.calls.get(index)
            if known is None:
                name = function.get("name")
                if not isinstance(name, str) or not name:
                    raise MalformedReply(f"tool call {index} starts without a function name")
                call_id = call.get("id")
                known = state.calls[index] = _Call(
                    call_id if isinstance(call_id, str) and call_id else new_id("call_"), name
                )
                fragment: dict[str, Json] = {
                    "index": index,
                    "id": known.id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            elif arguments:
                fragment = {"index": index, "function": {"arguments": arguments}}
            else:
                continue  # a repeat of the id or name with nothing new
            self.chars += len(arguments)
            if self.assemble:
                state.arguments.setdefault(index, []).append(arguments)
            fragments.append(fragment)
        return fragments

    def messages(self) -> list[tuple[dict[str, Json], str]]:
        """The whole answer of each choice, as a message and its finish reason (for a
        reader that assembles)."""
        out = []
        for index in range(self.n):
            state = self.choices.get(index, _ChoiceState())
            message: dict[str, Json] = {"role": "assistant", "content": "".join(state.text)}
            if state.refusal:
                message["refusal"] = "".join(state.refusal)
            if state.calls:
                message["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": "".join(state.arguments.get(i, [])),
                        },
                    }
                    for i, call in sorted(state.calls.items())
                ]
            out.append((message, state.finish or ""))
        return out


# A text-only delta of an OpenAI-compatible chunk (some providers add these fields).
_PLAIN_DELTA = frozenset({"content", "role", "reasoning_content", "reasoning"})
_REASONING_KEYS = frozenset({"reasoning_content", "reasoning"})
_PLAIN = {i: f',"choices":[{{"index":{i},"delta":{{"content":'.encode() for i in range(128)}


def _keep(state: _ChoiceState, message: dict[str, Json]) -> None:
    """Note a whole message in an assembling reader's choice state."""
    state.text = [message.get("content") or ""]
    if message.get("refusal"):
        state.refusal = [message["refusal"]]
    for i, call in enumerate(message.get("tool_calls") or ()):
        state.calls[i] = _Call(call["id"], call["function"]["name"])
        state.arguments[i] = [call["function"]["arguments"]]


def _fragment(value: Json) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value).decode()  # a whole object at once (Gemini-style)


def decode_chunk(payload: str | bytes) -> Json:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedReply(f"bad stream chunk: {exc}") from None


# --- shared checks -----------------------------------------------------------------


def _reject_error(body: Mapping[str, Json]) -> None:
    """A 2xx body carrying `{"error": ...}` (some providers report failures this way)."""
    error = body.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise ProviderError(f"provider error in a 2xx reply: {str(message)[:300]}")


def _object(value: Json, where: str) -> dict[str, Json]:
    if not isinstance(value, dict):
        raise MalformedReply(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _int(value: Json, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _created(value: Json, now: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else now
