"""The edge's JSON: request pass-through, decision headers, SSE framing, routes, models."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from services.edge import convert
from services.shared.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "stream"),
    [
        (b'{"messages": []}', False),
        (b'{"messages": [], "stream": true}', True),
        (b'{"messages": [], "stream": false}', False),
        (b'{"messages": [{"role": "user", "content": "say \\"stream\\""}]}', False),
        (b'{"stream": "yes"}', False),  # the router says what is wrong with it
        (b'[{"stream": true}]', False),
        (b'{"stream": true', False),  # not JSON: the router says so
    ],
)
def test_the_edge_only_looks_for_stream(raw: bytes, stream: bool) -> None:
    assert convert.wants_stream(raw) is stream


def test_the_body_goes_on_as_text_or_a_400() -> None:
    assert convert.request_text('{"a": "é"}'.encode()) == '{"a": "é"}'
    with pytest.raises(InvalidArgument, match="not UTF-8"):
        convert.request_text(b'{"a": "\xff"}')
    with pytest.raises(InvalidArgument, match="empty"):
        convert.request_text(b"")


def test_outcome_headers_show_the_decision_and_unknown_costs_as_unknown() -> None:
    outcome = router_pb2.Outcome(
        model="groq/llama",
        provider="groq",
        strategy=common_pb2.STRATEGY_FREE_FIRST,
        complexity=0.25,
        attempts=2,
        cost_usd=0.0,
        saved_usd=0.00125,
    )
    assert convert.outcome_headers(outcome, stream=False) == {
        "x-freeway-model": "groq/llama",
        "x-freeway-provider": "groq",
        "x-freeway-strategy": "free-first",
        "x-freeway-complexity": "0.2500",
        "x-freeway-attempts": "2",
        "x-freeway-cache": "miss",
        "x-freeway-cost-usd": "0.00000000",
        "x-freeway-saved-usd": "0.00125000",
    }
    unknown = router_pb2.Outcome(model="x/paid", provider="x")
    headers = convert.outcome_headers(unknown, stream=False)
    assert (headers["x-freeway-cost-usd"], headers["x-freeway-saved-usd"]) == ("unknown", "unknown")
    assert "x-freeway-cost-usd" not in convert.outcome_headers(outcome, stream=True)


def test_sse_events_frame_each_chunk() -> None:
    assert convert.sse_events(['{"a":1}', '{"b":"é"}']) == (
        'data: {"a":1}\n\ndata: {"b":"é"}\n\n'.encode()
    )
    assert convert.sse_events([]) == b""


def _decision() -> router_pb2.RouteDecision:
    return router_pb2.RouteDecision(
        chosen=router_pb2.Candidate(
            model_id="groq/llama", provider="groq", is_free=True, input_price_per_mtok=0.0
        ),
        fallbacks=[router_pb2.Candidate(model_id="openrouter/x:free", provider="openrouter")],
        complexity=0.25,
        features=[router_pb2.FeatureContribution(name="length", value=12.0, contribution=0.1)],
        strategy=common_pb2.STRATEGY_FREE_FIRST,
        catalog_version=7,
        needs=[common_pb2.CAPABILITY_TOOLS, common_pb2.CAPABILITY_JSON_SCHEMA],
        prompt_tokens=12,
        min_context=268,
    )


def test_route_json_explains_the_decision() -> None:
    body = json.loads(convert.route_json(_decision()))
    assert body["model"] == "groq/llama"
    assert [f["model"] for f in body["fallbacks"]] == ["openrouter/x:free"]
    assert body["complexity"] == 0.25
    assert body["features"] == [{"name": "length", "value": 12.0, "contribution": 0.1}]
    assert body["strategy"] == "free-first"
    assert body["catalog_version"] == 7
    assert body["needs"] == ["tools", "json_schema"]
    assert (body["prompt_tokens"], body["min_context"]) == (12, 268)
    assert body["chosen"]["input_price_per_mtok"] == 0.0
    # an unknown price is null, never 0
    assert body["chosen"]["output_price_per_mtok"] is None
    assert body["fallbacks"][0]["input_price_per_mtok"] is None


def test_models_json_lists_only_chat_models() -> None:
    speech = common_pb2.Model(
        id="groq/playai-tts", input_modalities=["text"], output_modalities=["audio"]
    )
    whisper = common_pb2.Model(
        id="groq/whisper", input_modalities=["audio"], output_modalities=["text"]
    )
    chat = common_pb2.Model(id="groq/llama", input_modalities=["text"], output_modalities=["text"])
    body = json.loads(convert.models_json([speech, whisper, chat]))
    assert [m["id"] for m in body["data"]] == ["auto", "groq/llama"]


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


def test_the_cache_header_says_on_off_or_auto() -> None:
    assert convert.cache_mode(None) == router_pb2.CACHE_MODE_DEFAULT
    assert convert.cache_mode("On") == router_pb2.CACHE_MODE_ON
    assert convert.cache_mode(" off ") == router_pb2.CACHE_MODE_OFF
    with pytest.raises(InvalidArgument, match="x-freeway-cache"):
        convert.cache_mode("maybe")
    hit = router_pb2.Outcome(model="a/b", cache_hit=True)
    assert convert.outcome_headers(hit, stream=True)["x-freeway-cache"] == "hit"
    assert convert.outcome_headers(router_pb2.Outcome(), stream=False)["x-freeway-cache"] == "miss"
