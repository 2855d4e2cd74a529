"""Deterministic OpenAI-shaped chat completions: the reply echoes the last user message."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
SUMMARY_WORDS = 12

_ids = itertools.count(1)


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


class BadRequest(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatCall:
    """What the simulator needs from a chat request body."""

    model: str
    messages: Sequence[Mapping[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None


def parse_call(body: Any) -> ChatCall:
    if not isinstance(body, dict):
        raise BadRequest("body", "expected a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model", "you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages", "expected a non-empty array of messages")
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise BadRequest(f"messages[{i}].role", "expected a message with a valid role")
    options = body.get("stream_options")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    return ChatCall(
        model=model,
        messages=messages,
        stream=body.get("stream") is True,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
    )


def reply_text(call: ChatCall) -> str:
    last = next((m for m in reversed(call.messages) if m.get("role") == "user"), None)
    words = content_text(last.get("content")).split() if last else []
    summary = " ".join(words[:SUMMARY_WORDS]) + (" …" if len(words) > SUMMARY_WORDS else "")
    return f"Simulated reply from {call.model}: {summary or '(no user message)'}"


def prompt_tokens(call: ChatCall) -> int:
    # Providers count a few tokens of framing per message.
    return sum(4 + estimate_tokens(content_text(m.get("content"))) for m in call.messages)


@dataclass(frozen=True)
class Answer:
    id: str
    created: int
    text: str
    finish_reason: str
    usage: dict[str, int]


def answer(call: ChatCall, text: str | None = None) -> Answer:
    text = reply_text(call) if text is None else text
    finish = "stop"
    if call.max_tokens is not None and estimate_tokens(text) > call.max_tokens:
        text, finish = text[: call.max_tokens * 4], "length"
    prompt, completion = prompt_tokens(call), estimate_tokens(text)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return Answer(f"chatcmpl-sim-{next(_ids)}", int(time.time()), text, finish, usage)


def completion_body(call: ChatCall, ans: Answer) -> bytes:
    return dumps(
        {
            "id": ans.id,
            "object": "chat.completion",
            "created": ans.created,
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ans.text},
                    "logprobs": None,
                    "finish_reason": ans.finish_reason,
                }
            ],
            "usage": ans.usage,
        }
    )


def stream_events(call: ChatCall, ans: Answer) -> list[bytes]:
    """Every SSE event of the stream, `data: [DONE]` included, each ending in a blank line.
    The chunks differ only in their delta: the rest is encoded once (benchmark upstream)."""
    head = {
        "id": ans.id,
        "object": "chat.completion.chunk",
        "created": ans.created,
        "model": call.model,
    }
    prefix = b"data: " + dumps(head)[:-1] + b',"choices":[{"index":0,"delta":'

    def chunk(delta: dict[str, str], finish: str | None) -> bytes:
        return (
            prefix
            + dumps(delta)
            + b',"logprobs":null,"finish_reason":'
            + dumps(finish)
            + b"}]}\n\n"
        )

    words = ans.text.split(" ")
    pieces = [w + " " for w in words[:-1]] + words[-1:]
    events = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": p}, None) for p in pieces]
    events.append(chunk({}, ans.finish_reason))
    if call.include_usage:
        events.append(_event({**head, "choices": [], "usage": ans.usage}))
    events.append(b"data: [DONE]\n\n")
    return events


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + dumps(payload) + b"\n\n"


def error_body(status: int, message: str, param: str | None = None) -> bytes:
    kinds = {400: "invalid_request_error", 401: "invalid_request_error", 404: "not_found_error"}
    codes = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
    error = {
        "message": message,
        "type": kinds.get(status, "rate_limit_error" if status == 429 else "server_error"),
        "param": param,
        "code": codes.get(status),
    }
    return dumps({"error": error})
