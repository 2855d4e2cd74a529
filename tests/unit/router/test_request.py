"""The one reader of an OpenAI chat request: every parameter honoured or refused by name."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.router.request import (
    AUDIO,
    JSON_OBJECT,
    JSON_SCHEMA,
    LOGIT_BIAS,
    LOGPROBS,
    MULTIPLE_CHOICES,
    PENALTIES,
    REASONING,
    SEED,
    TOOLS,
    VISION,
    prompt_messages,
    read_body,
    read_request,
)
from services.shared.errors import InvalidArgument, Unsupported
from services.shared.vocabulary import Strategy

USER = {"role": "user", "content": "hi"}
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}}
AUDIO_PART = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
    },
}
# Every parameter of the Chat Completions API that Freeway honours, at once.
EVERYTHING: dict[str, Any] = {
    "model": "auto",
    "messages": [
        {"role": "developer", "content": "Be brief.", "name": "ops"},
        {"role": "user", "content": [{"type": "text", "text": "What is here?"}, IMAGE, AUDIO_PART]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}], "refusal": "no"},
        USER,
    ],
    "tools": [TOOL],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "response_format": SCHEMA,
    "n": 2,
    "seed": 7,
    "logprobs": True,
    "top_logprobs": 3,
    "stop": ["\n\n", "END"],
    "temperature": 0.2,
    "top_p": 0.9,
    "frequency_penalty": 0.5,
    "presence_penalty": -0.5,
    "logit_bias": {"50256": -100},
    "max_completion_tokens": 256,
    "user": "u-1",
    "metadata": {"team": "a"},
    "stream": True,
    "stream_options": {"include_usage": True},
    "reasoning_effort": "low",
    "service_tier": "auto",
    "store": False,
    "modalities": ["text"],
    "strategy": "cost",
}


def body(**fields: Any) -> dict[str, Any]:
    return {"messages": [USER], **fields}


def test_minimal_body_routes_to_auto() -> None:
    chat = read_body(body())
    assert chat.model == "auto"
    assert chat.messages == (("user", "hi"),)
    assert chat.needs == 0
    assert chat.body == {"messages": [USER]}
    assert chat.stream is None
    assert chat.n == 1


def test_every_parameter_is_read_and_forwarded_exactly() -> None:
    chat = read_request(orjson.dumps(EVERYTHING))
    forwarded = {
        k: v
        for k, v in EVERYTHING.items()
        if k not in ("model", "stream", "stream_options", "strategy")
    }
    assert chat.body == forwarded  # nothing dropped, nothing changed
    assert chat.needs == (
        TOOLS | VISION | AUDIO | JSON_SCHEMA | MULTIPLE_CHOICES | SEED | LOGPROBS
        | PENALTIES | LOGIT_BIAS | REASONING
    )  # fmt: skip
    assert chat.stream is True
    assert chat.include_usage is True
    assert chat.max_tokens == 256
    assert chat.n == 2
    assert chat.strategy == Strategy.COST
    assert chat.json_schema == SCHEMA["json_schema"]["schema"]  # type: ignore[index]
    assert [role for role, _ in chat.messages] == [
        "developer", "user", "assistant", "tool", "assistant", "user",
    ]  # fmt: skip
    assert chat.messages[1] == ("user", "What is here?")
    assert chat.extra_tokens > 85  # the image, the audio and the tool definitions
    fields = dict(chat.need_fields)
    assert fields[VISION] == "messages[1].content[1].image_url"
    assert fields[AUDIO] == "messages[1].content[2].input_audio"
    assert fields[TOOLS] == "messages[2].tool_calls"
    assert fields[SEED] == "seed"


def test_json_object_and_max_tokens() -> None:
    chat = read_body(body(response_format={"type": "json_object"}, max_tokens=10))
    assert chat.needs == JSON_OBJECT
    assert chat.max_tokens == 10
    assert read_body(body(response_format={"type": "text"})).needs == 0


def test_both_token_limits_must_agree() -> None:
    assert read_body(body(max_tokens=5, max_completion_tokens=5)).max_tokens == 5
    with pytest.raises(InvalidArgument, match="max_tokens is 5 and max_completion_tokens is 6"):
        read_body(body(max_tokens=5, max_completion_tokens=6))


def test_n_of_one_and_empty_logit_bias_need_nothing() -> None:
    assert read_body(body(n=1, logit_bias={}, logprobs=False)).needs == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "https://x", "detail": "huge"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.detail",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "x", "format": "ogg"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].input_audio.format",
        ),
        ({"messages": [{"role": "user", "content": "x", "colour": "red"}]}, "messages[0].colour"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "assistant", "content": None}]}, "messages[0].content"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].type",
        ),
        ({"tools": []}, "tools"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
            "tools[0].function.name",
        ),
        ({"tools": [TOOL, TOOL]}, "tools[1].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tools": [TOOL], "tool_choice": "maybe"}, "tool_choice"),
        (
            {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}},
            "tool_choice.function.name",
        ),
        ({"parallel_tool_calls": True}, "parallel_tool_calls"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
            "response_format.json_schema.name",
        ),
        ({"n": 0}, "n"),
        ({"n": 1.5}, "n"),
        ({"seed": "7"}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [1]}, "stop[0]"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"frequency_penalty": 2.5}, "frequency_penalty"),
        ({"logit_bias": {"abc": 1}}, "logit_bias.abc"),
        ({"logit_bias": {"1": 101}}, "logit_bias.1"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 10**5000}, "max_tokens"),
        ({"max_completion_tokens": -1}, "max_completion_tokens"),
        ({"user": 5}, "user"),
        ({"metadata": {"k": 5}}, "metadata.k"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"stream": True, "stream_options": {"other": 1}}, "stream_options.other"),
        ({"reasoning_effort": "max"}, "reasoning_effort"),
        ({"strategy": "fastest"}, "strategy"),
        ({"model": 5}, "model"),
        ({"temperatur": 0.5}, "temperatur"),
    ],
)
def test_invalid_fields_are_named(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        read_body(body(**fields))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"function_call": "auto"}, "function_call"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"store": True}, "store"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"service_tier": "priority"}, "service_tier"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]},
            "messages[0].content[0].type",
        ),
    ],
)
def test_parameters_freeway_cannot_honour_are_refused_by_name(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(Unsupported) as caught:
        read_body(body(**fields))
    assert caught.value.field == field
    assert caught.value.code == "unsupported_parameter"


def test_unknown_parameters_are_refused_as_openai_refuses_them() -> None:
    with pytest.raises(InvalidArgument) as caught:
        read_body(body(top_k=40))
    assert caught.value.code == "unknown_parameter"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"", "empty"),
        (b"{", "not valid JSON"),
        (b'{"messages": "\\ud800"}', "not valid JSON"),  # a lone surrogate
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),  # nesting past the parser's depth
        (b"[]", "must be a JSON object"),
        (b'"hi"', "must be a JSON object"),
    ],
)
def test_bodies_that_are_not_requests_say_why(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        read_request(raw)


def test_null_parameters_are_absent() -> None:
    chat = read_body(body(temperature=None, tools=None, seed=None))
    assert chat.body == {"messages": [USER]}


def test_prompt_messages_read_labelled_prompt_lines_the_same_way() -> None:
    assert prompt_messages({"messages": [USER, {"role": "assistant", "content": "yo"}]}) == (
        ("user", "hi"),
        ("assistant", "yo"),
    )
    with pytest.raises(InvalidArgument):
        prompt_messages({"messages": [{"role": "user", "content": 3}]})


def test_reasoning_an_answer_carried_is_accepted_back_and_not_forwarded() -> None:
    """Freeway answers with `reasoning_content`; clients send the message back as it was."""
    said = {"role": "assistant", "content": "4", "reasoning_content": "2 + 2 is 4"}
    chat = read_body({"messages": [USER, said, USER]})
    assert chat.body["messages"][1] == {"role": "assistant", "content": "4"}
    with pytest.raises(InvalidArgument) as caught:
        read_body({"messages": [{**said, "reasoning_content": 5}]})
    assert caught.value.field == "messages[0].reasoning_content"
