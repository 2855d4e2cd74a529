"""OpenAI-compatible chat: the request body we send and the replies we accept, as plain data.

Replies are validated here: anything that is not a chat completion (or chunk) raises
`MalformedReply`, which execution treats as a retryable failure of that model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class MalformedReply(ValueError):
    """The provider answered 2xx with something that is not a chat completion."""


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str
    name: str = ""


@dataclass(frozen=True)
class ChatParams:
    """The generation part of a request: what every provider receives."""

    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    user: str = ""
    json_mode: bool = False


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    role: str
    content: str
    finish_reason: str


@dataclass(frozen=True)
class Completion:
    id: str
    created: int
    choices: tuple[Choice, ...]
    prompt_tokens: int | None = None  # None when the provider did not say
    completion_tokens: int | None = None

    @property
    def text(self) -> str:
        return "".join(choice.content for choice in self.choices)


@dataclass(frozen=True, slots=True)
class Delta:
    index: int
    role: str
    content: str
    finish_reason: str


@dataclass(frozen=True)
class StreamEvent:
    """One parsed `data:` chunk of a provider's stream."""

    id: str
    created: int
    deltas: tuple[Delta, ...]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def has_usage(self) -> bool:
        return self.prompt_tokens is not None or self.completion_tokens is not None


def request_body(params: ChatParams, upstream_id: str, stream: bool) -> dict[str, Any]:
    """The OpenAI chat-completions body for `upstream_id`."""
    body: dict[str, Any] = {
        "model": upstream_id,
        "messages": [_message(m) for m in params.messages],
        "stream": stream,
    }
    optional = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "stop": list(params.stop) or None,
        "user": params.user or None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if params.json_mode:
        body["response_format"] = {"type": "json_object"}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _message(message: Message) -> dict[str, str]:
    out = {"role": message.role, "content": message.content}
    if message.name:
        out["name"] = message.name
    return out


def parse_completion(doc: Any) -> Completion:
    """A non-streamed chat completion; MalformedReply when `doc` is not one."""
    body = _object(doc, "body")
    _reject_error(body)
    choices = _list(body.get("choices"), "choices")
    if not choices:
        raise MalformedReply("choices: empty")
    parsed = tuple(_choice(item, i) for i, item in enumerate(choices))
    prompt, completion = _usage(body.get("usage"))
    return Completion(_text(body.get("id")), _int(body.get("created")), parsed, prompt, completion)


def parse_chunk(doc: Any) -> StreamEvent:
    """One streamed chunk (`chat.completion.chunk`); MalformedReply when `doc` is not one."""
    body = _object(doc, "chunk")
    _reject_error(body)
    choices = _list(body.get("choices", []), "choices")
    deltas = tuple(_delta(item, i) for i, item in enumerate(choices))
    prompt, completion = _usage(body.get("usage"))
    return StreamEvent(_text(body.get("id")), _int(body.get("created")), deltas, prompt, completion)


def _choice(item: Any, position: int) -> Choice:
    choice = _object(item, f"choices[{position}]")
    message = _object(choice.get("message"), f"choices[{position}].message")
    return Choice(
        index=_int(choice.get("index", position)),
        role=_text(message.get("role")) or "assistant",
        content=_content(message.get("content")),
        finish_reason=_text(choice.get("finish_reason")),
    )


def _delta(item: Any, position: int) -> Delta:
    choice = _object(item, f"choices[{position}]")
    delta = choice.get("delta") or {}
    delta = _object(delta, f"choices[{position}].delta")
    return Delta(
        index=_int(choice.get("index", position)),
        role=_text(delta.get("role")),
        content=_content(delta.get("content")),
        finish_reason=_text(choice.get("finish_reason")),
    )


def _content(value: Any) -> str:
    """Message content: a string, null, or a list of parts whose text parts are joined."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            part.get("text", "")
            for part in value
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    raise MalformedReply(f"content: expected a string, got {type(value).__name__}")


def _usage(value: Any) -> tuple[int | None, int | None]:
    if not isinstance(value, Mapping):
        return None, None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    return (
        prompt if isinstance(prompt, int) and prompt >= 0 else None,
        completion if isinstance(completion, int) and completion >= 0 else None,
    )


def _reject_error(body: Mapping[str, Any]) -> None:
    """A 2xx body carrying `{"error": ...}` (some providers stream their errors this way)."""
    error = body.get("error")
    if error:
        message = error.get("message") if isinstance(error, Mapping) else error
        raise MalformedReply(f"provider error in a 2xx reply: {str(message)[:300]}")


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedReply(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedReply(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
