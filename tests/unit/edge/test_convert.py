"""OpenAI JSON ↔ protos: the conversion, and validation errors that name the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from services.edge import convert
from services.edge.errors import Unsupported
from services.shared.errors import InvalidArgument

USER = [{"role": "user", "content": "hello"}]


def convert_body(body: dict[str, Any]) -> convert.ChatRequest:
    return convert.chat_request(body, "key-1", "rid-1")


def test_minimal_body_routes_to_auto() -> None:
    chat = convert_body({"messages": USER})
    req = chat.proto
    assert req.model == "auto"
    assert [(m.role, m.content) for m in req.messages] == [("user", "hello")]
    assert (req.key_id, req.request_id) == ("key-1", "rid-1")
    assert not req.HasField("temperature")
    assert not req.HasField("max_tokens")
    assert not chat.stream
    assert not chat.include_usage


def test_every_supported_field_is_converted() -> None:
    chat = convert_body(
        {
            "model": "openrouter/meta-llama/llama-3.3-70b-instruct:free",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "name": "ann",
                    "content": [
                        {"type": "text", "text": "part one"},
                        {"type": "text", "text": "part two"},
                    ],
                },
                {"role": "assistant", "content": None},
            ],
            "temperature": 0,
            "top_p": 0.5,
            "max_tokens": 100,
            "stop": "END",
            "user": "u-7",
            "response_format": {"type": "json_object"},
            "strategy": "cost",
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    req = chat.proto
    assert req.model == "openrouter/meta-llama/llama-3.3-70b-instruct:free"
    assert [m.role for m in req.messages] == ["system", "user", "assistant"]
    assert req.messages[1].content == "part one\npart two"
    assert req.messages[1].name == "ann"
    assert req.messages[2].content == ""
    assert req.HasField("temperature")
    assert req.temperature == 0
    assert req.top_p == 0.5
    assert req.max_tokens == 100
    assert list(req.stop) == ["END"]
    assert req.user == "u-7"
    assert req.json_mode
    assert req.strategy == common_pb2.STRATEGY_COST
    assert chat.stream
    assert chat.include_usage


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    req = convert_body({"messages": USER, "max_tokens": 5, "max_completion_tokens": 9}).proto
    assert req.max_tokens == 9


def test_include_usage_only_counts_when_streaming() -> None:
    chat = convert_body({"messages": USER, "stream_options": {"include_usage": True}})
    assert not chat.include_usage


def test_unknown_and_harmless_params_are_ignored() -> None:
    body = {
        "messages": USER,
        "seed": 1,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.1,
        "logit_bias": {"1": 2},
        "metadata": {"a": "b"},
        "store": False,
        "n": 1,
        "tool_choice": "none",
        "tools": [],
        "logprobs": False,
        "modalities": ["text"],
        "response_format": {"type": "text"},
        "strategy": "free_first",
        "shiny_new_param": [1],
    }
    req = convert_body(body).proto
    assert not req.json_mode
    assert req.strategy == common_pb2.STRATEGY_FREE_FIRST


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "messages"),
        ({"messages": None}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [*USER, {"role": "wizard", "content": "x"}]}, "messages[1].role"),
        ({"messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": ["x"]}]}, "messages[0].content[0]"),
        (
            {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
            "messages[0].content[0].text",
        ),
        ({"messages": [{"role": "user", "content": "x", "name": 3}]}, "messages[0].name"),
        ({"messages": USER, "model": 4}, "model"),
        ({"messages": USER, "temperature": 2.5}, "temperature"),
        ({"messages": USER, "temperature": -0.1}, "temperature"),
        ({"messages": USER, "temperature": "hot"}, "temperature"),
        ({"messages": USER, "temperature": True}, "temperature"),
        ({"messages": USER, "top_p": 1.5}, "top_p"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"messages": USER, "max_tokens": 1.5}, "max_tokens"),
        ({"messages": USER, "max_tokens": "10"}, "max_tokens"),
        ({"messages": USER, "max_tokens": 2**31}, "max_tokens"),
        ({"messages": USER, "max_completion_tokens": -1}, "max_completion_tokens"),
        ({"messages": USER, "stream": "yes"}, "stream"),
        ({"messages": USER, "stream": 1}, "stream"),
        ({"messages": USER, "stream": True, "stream_options": []}, "stream_options"),
        (
            {"messages": USER, "stream": True, "stream_options": {"include_usage": "y"}},
            "stream_options.include_usage",
        ),
        ({"messages": USER, "stop": 5}, "stop"),
        ({"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": USER, "stop": ["a", 1]}, "stop[1]"),
        ({"messages": USER, "user": 1}, "user"),
        ({"messages": USER, "response_format": "json"}, "response_format"),
        ({"messages": USER, "response_format": {"type": "yaml"}}, "response_format.type"),
        ({"messages": USER, "strategy": "fastest"}, "strategy"),
        ({"messages": USER, "strategy": ["cost"]}, "strategy"),
        ({"messages": USER, "strategy": {"name": "cost"}}, "strategy"),
    ],
)
def test_invalid_fields_are_named(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        convert_body(body)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert not isinstance(caught.value, Unsupported)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"n": 2}, "n"),
        ({"n": True}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"audio": {"voice": "alloy"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "response_format.type"),
    ],
)
def test_semantic_params_freeway_cannot_honour_are_rejected(
    body: dict[str, Any], field: str
) -> None:
    with pytest.raises(Unsupported) as caught:
        convert_body({"messages": USER, **body})
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "tool", "content": "42", "tool_call_id": "c1"}], "messages[0].role"),
        ([{"role": "assistant", "content": None, "tool_calls": [{}]}], "messages[0].tool_calls"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages[0].content[0].type",
        ),
    ],
)
def test_unsupported_message_kinds_are_rejected(messages: list[Any], field: str) -> None:
    with pytest.raises(Unsupported) as caught:
        convert_body({"messages": messages})
    assert caught.value.field == field


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_body_must_be_an_object(body: Any) -> None:
    with pytest.raises(InvalidArgument, match="JSON object"):
        convert.chat_request(body, "k", "r")


@pytest.mark.parametrize(
    ("raw", "says"), [(b"", "empty"), (b"{nope", "not valid JSON"), (b"\xff\xfe{", "UTF-8")]
)
def test_loads_says_what_is_wrong(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        convert.loads(raw)


def _decision() -> router_pb2.RouteDecision:
    return router_pb2.RouteDecision(
        chosen=router_pb2.Candidate(model_id="groq/llama", provider="groq", is_free=True),
        fallbacks=[router_pb2.Candidate(model_id="openrouter/x:free", provider="openrouter")],
        complexity=0.25,
        features=[router_pb2.FeatureContribution(name="length", value=12, contribution=0.1)],
        strategy=common_pb2.STRATEGY_FREE_FIRST,
        reason="cheapest free model that fits",
        catalog_version=7,
        decision_us=42.0,
    )


def test_completion_json_is_openai_shaped() -> None:
    reply = router_pb2.CompletionResponse(
        id="chatcmpl-1",
        created=1700000000,
        model="groq/llama",
        choices=[
            router_pb2.Choice(
                index=0,
                message=common_pb2.ChatMessage(role="assistant", content="hi"),
                finish_reason="stop",
            )
        ],
        usage=common_pb2.Usage(prompt_tokens=3, completion_tokens=1),
        route=_decision(),
        attempts=2,
    )
    body = json.loads(convert.completion_json(reply))
    assert body["object"] == "chat.completion"
    assert body["model"] == "groq/llama"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    assert body["freeway"] == {
        "provider": "groq",
        "attempts": 2,
        "complexity": 0.25,
        "strategy": "free-first",
    }


def test_chunk_events_split_usage_into_its_own_chunk() -> None:
    chunk = router_pb2.CompletionChunk(
        id="c1",
        created=1,
        model="groq/llama",
        choices=[router_pb2.ChoiceDelta(index=0, finish_reason="stop")],
        usage=common_pb2.Usage(prompt_tokens=3, completion_tokens=5, total_tokens=8),
    )
    with_usage = [json.loads(e) for e in convert.chunk_events(chunk, include_usage=True)]
    assert with_usage[0]["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert with_usage[1]["choices"] == []
    assert with_usage[1]["usage"]["total_tokens"] == 8
    assert all(e["object"] == "chat.completion.chunk" for e in with_usage)
    assert len(convert.chunk_events(chunk, include_usage=False)) == 1


def test_first_chunk_delta_carries_role_and_empty_content() -> None:
    chunk = router_pb2.CompletionChunk(
        id="c1", choices=[router_pb2.ChoiceDelta(index=0, role="assistant")]
    )
    [event] = convert.chunk_events(chunk, include_usage=False)
    delta = json.loads(event)["choices"][0]["delta"]
    assert delta == {"role": "assistant", "content": ""}
    assert json.loads(event)["choices"][0]["finish_reason"] is None


def test_route_json_explains_the_decision() -> None:
    body = json.loads(convert.route_json(_decision()))
    assert body["model"] == "groq/llama"
    assert [f["model"] for f in body["fallbacks"]] == ["openrouter/x:free"]
    assert body["complexity"] == 0.25
    assert body["features"] == [{"name": "length", "value": 12.0, "contribution": 0.1}]
    assert body["strategy"] == "free-first"
    assert body["catalog_version"] == 7


def test_models_json_lists_auto_first_with_freeway_fields() -> None:
    seen = Timestamp(seconds=1_700_000_000)
    free = common_pb2.Model(
        id="openrouter/x:free",
        provider="openrouter",
        upstream_id="x:free",
        is_free=True,
        free_reason=common_pb2.FREE_REASON_FREE_VARIANT,
        context_window=8192,
        input_price_per_mtok=0.0,
        output_price_per_mtok=0.0,
        first_seen=seen,
        capabilities=[common_pb2.CAPABILITY_TOOLS],
    )
    paid = common_pb2.Model(
        id="openai/gpt", provider="openai", display_name="GPT", input_price_per_mtok=2.5
    )
    body = json.loads(convert.models_json([free, paid]))
    assert body["object"] == "list"
    auto, first, second = body["data"]
    assert auto["id"] == "auto"
    assert first == {
        "id": "openrouter/x:free",
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "openrouter",
        "name": "x:free",
        "free": True,
        "context_window": 8192,
        "free_reason": "free_variant",
        "capabilities": ["tools"],
        "pricing": {"input_per_mtok": 0.0, "output_per_mtok": 0.0},
    }
    assert second["pricing"] == {"input_per_mtok": 2.5, "output_per_mtok": None}
    assert "free_reason" not in second
