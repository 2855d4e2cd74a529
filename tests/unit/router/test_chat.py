"""OpenAI-compatible bodies out, replies in: real-shaped payloads and malformed ones."""

from __future__ import annotations

from typing import Any

import pytest

from services.router.chat import (
    ChatParams,
    MalformedReply,
    Message,
    parse_chunk,
    parse_completion,
    request_body,
)

COMPLETION = {
    "id": "chatcmpl-9x",
    "object": "chat.completion",
    "created": 1718000000,
    "model": "meta-llama/llama-3.3-70b-instruct:free",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 14, "completion_tokens": 3, "total_tokens": 17},
}


def test_request_body_carries_only_what_was_asked() -> None:
    params = ChatParams(
        messages=(Message("system", "be brief"), Message("user", "hi", name="ann")),
        temperature=0.2,
        max_tokens=64,
        stop=("\n\n",),
        json_mode=True,
    )
    body = request_body(params, "llama-3.3-70b", stream=True)
    assert body == {
        "model": "llama-3.3-70b",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi", "name": "ann"},
        ],
        "stream": True,
        "temperature": 0.2,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "response_format": {"type": "json_object"},
        "stream_options": {"include_usage": True},
    }
    plain = request_body(ChatParams(messages=(Message("user", "hi"),)), "m", stream=False)
    assert plain == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def test_parse_completion() -> None:
    completion = parse_completion(COMPLETION)
    assert completion.id == "chatcmpl-9x"
    assert completion.text == "Paris."
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.prompt_tokens, completion.completion_tokens) == (14, 3)


def test_completion_without_usage_or_content() -> None:
    doc = {
        "choices": [
            {"message": {"role": "assistant", "content": None}, "finish_reason": "tool_calls"}
        ]
    }
    completion = parse_completion(doc)
    assert completion.text == ""
    assert completion.prompt_tokens is None


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"choices": []},
        {"choices": "no"},
        {"choices": [{"message": "text"}]},
        {"choices": [{"message": {"content": 5}}]},
        {"error": {"message": "upstream overloaded"}},
    ],
)
def test_malformed_completions(doc: Any) -> None:
    with pytest.raises(MalformedReply):
        parse_completion(doc)


def test_parse_chunks_of_a_stream() -> None:
    first = parse_chunk(
        {
            "id": "c1",
            "created": 5,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
        }
    )
    assert first.deltas[0].role == "assistant"
    assert not first.has_usage
    last = parse_chunk(
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    )
    assert last.deltas == ()
    assert (last.prompt_tokens, last.completion_tokens) == (9, 2)
    parts = parse_chunk(
        {"choices": [{"delta": {"content": [{"type": "text", "text": "a"}, {"text": "b"}]}}]}
    )
    assert parts.deltas[0].content == "ab"


def test_error_inside_a_stream_is_malformed() -> None:
    with pytest.raises(MalformedReply, match="overloaded"):
        parse_chunk({"error": {"message": "overloaded"}})
