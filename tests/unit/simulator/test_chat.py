"""What the simulated model answers, whatever the provider: the request read as OpenAI reads
it, and the answer cut by stop and token limits, with its token counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.simulator.chat import BadRequest, answer, parse_call, pieces

BASE: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "Say is it"}]}


def test_pieces_keep_the_text_whole() -> None:
    for text in ("Hello", "Hello world, how are you?", "  leading", "a\nb\n\nc", ""):
        assert "".join(pieces(text)) == text


def test_stop_cuts_before_the_first_stop_string() -> None:
    result = answer(parse_call({**BASE, "stop": ["is", "zzz"]}))
    [choice] = result.choices
    assert choice.content is not None
    assert "is" not in choice.content
    assert choice.finish_reason == "stop"
    assert choice.stop_matched == "is"


def test_max_tokens_cuts_the_content_and_counts() -> None:
    result = answer(parse_call({**BASE, "max_completion_tokens": 2}))
    assert result.choices[0].finish_reason == "length"
    assert result.usage.completion <= 2


def test_reasoning_counts_first_and_can_eat_the_whole_budget() -> None:
    full = answer(parse_call(BASE), reasons=True)
    assert full.usage.reasoning > 0
    assert full.usage.completion > full.usage.reasoning
    eaten = answer(parse_call({**BASE, "max_tokens": 3}), reasons=True)
    assert eaten.choices[0].content == ""
    assert eaten.choices[0].finish_reason == "length"
    assert eaten.usage.reasoning == eaten.usage.completion == 3


def test_cached_tokens_never_exceed_the_prompt() -> None:
    result = answer(parse_call(BASE), cached=10_000)
    assert result.usage.cached == result.usage.prompt


def test_a_json_schema_answer_is_an_instance_of_it() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    spec = {"name": "x", "schema": schema}
    body = {**BASE, "response_format": {"type": "json_schema", "json_schema": spec}}
    content = answer(parse_call(body)).choices[0].content
    assert isinstance(json.loads(content or "")["n"], int)


def test_the_same_request_and_seed_give_the_same_words() -> None:
    def text(seed: int | None) -> str | None:
        return answer(parse_call({**BASE, "seed": seed})).choices[0].content

    assert text(1) == text(1)
    assert text(1) != text(2)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"n": 129}, "n"),
        ({"seed": "7"}, "seed"),
        ({"logprobs": "yes"}, "logprobs"),
        ({"top_p": 2}, "top_p"),
        ({"presence_penalty": -3}, "presence_penalty"),
        ({"logit_bias": {"50256": 500}}, "logit_bias.50256"),
        ({"stop": 3}, "stop"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        (
            {
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "tool_choice.function.name",
        ),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].image_url.url",
        ),
        ({"messages": [{"role": "tool", "content": "42"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
    ],
)
def test_a_bad_parameter_is_named(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_call({**BASE, **extra})
    assert raised.value.param == param


def test_a_server_that_has_one_model_takes_a_request_naming_none() -> None:
    assert parse_call({"messages": BASE["messages"]}, default_model="only").model == "only"
