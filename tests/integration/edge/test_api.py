"""The edge's REST API over real HTTP, against fake router / catalog gRPC servers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.integration.edge.conftest import (
    AUTH,
    CHAT,
    USER,
    Edge,
    EdgeFactory,
    assert_openai_error,
    sse_data,
)
from tests.integration.edge.fakes import SERVED_MODEL

# --- auth ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dGVzdA=="}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_calls_without_a_valid_key_get_401_in_openai_shape(
    edge: Edge, headers: dict[str, str]
) -> None:
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=headers)
    error = await assert_openai_error(resp, 401)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert resp.headers["x-request-id"]
    assert edge.router.seen == []


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/auto", "/v1/nothing-here"])
async def test_every_route_but_health_needs_a_key(edge: Edge, path: str) -> None:
    await assert_openai_error(await edge.client.get(path), 401)


async def test_wrong_key_never_echoes_the_key(edge: Edge) -> None:
    resp = await edge.client.get("/v1/models", headers={"Authorization": "Bearer sk-leak-me"})
    assert "sk-leak-me" not in await resp.text()


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "auto"}, "messages"),
        ({"model": "auto", "messages": "hi"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": {"a": 1}}]}, "messages[0].content"),
        ({"messages": USER, "temperature": 7}, "temperature"),
        ({"messages": USER, "max_tokens": -3}, "max_tokens"),
        ({"messages": USER, "n": 0}, "n"),
        ({"messages": USER, "stream": "true"}, "stream"),
        ({"messages": USER, "model": ["auto"]}, "model"),
        ({"messages": USER, "tools": [{"type": "function"}]}, "tools[0].function"),
        ({"messages": USER, "colour": "blue"}, "colour"),
    ],
)
async def test_malformed_bodies_get_400_naming_the_field(
    edge: Edge, body: dict[str, Any], param: str
) -> None:
    for path in (CHAT, "/v1/route"):
        resp = await edge.client.post(path, json=body, headers=AUTH)
        error = await assert_openai_error(resp, 400, param)
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith(param)
    assert edge.router.seen == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'"text"',
        b"\xff",
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": ' + b"9" * 5000 + b"}",
        b'{"messages": [{"role": "user", "content": "\\ud800"}]}',  # a lone surrogate
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
async def test_bodies_that_are_not_a_json_object_get_400(edge: Edge, raw: bytes) -> None:
    resp = await edge.client.post(
        CHAT, data=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    await assert_openai_error(resp, 400)


async def test_oversized_body_gets_413(make_edge: EdgeFactory) -> None:
    async with make_edge(max_body_bytes=2048) as edge:
        body = {"messages": [{"role": "user", "content": "x" * 4096}]}
        resp = await edge.client.post(CHAT, json=body, headers=AUTH)
        error = await assert_openai_error(resp, 413)
        assert error["code"] == "request_too_large"


async def test_unknown_route_and_method_get_openai_errors(edge: Edge) -> None:
    error = await assert_openai_error(await edge.client.get("/v1/nothing", headers=AUTH), 404)
    assert "/v1/nothing" in error["message"]
    await assert_openai_error(await edge.client.get(CHAT, headers=AUTH), 405)


# --- chat completions ----------------------------------------------------------------


async def test_completion_happy_path(edge: Edge) -> None:
    body = {
        "model": "auto",
        "messages": [{"role": "system", "content": "be nice"}, *USER],
        "temperature": 0.3,
        "max_tokens": 64,
        "seed": 5,
    }
    resp = await edge.client.post(CHAT, json=body, headers=AUTH)
    assert resp.status == 200
    reply = await resp.json()
    assert reply["object"] == "chat.completion"
    assert reply["model"] == SERVED_MODEL
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello there"}
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    assert resp.headers["x-freeway-model"] == SERVED_MODEL
    assert resp.headers["x-freeway-provider"] == "openrouter"
    assert resp.headers["x-freeway-strategy"] == "free-first"
    assert resp.headers["x-freeway-cost-usd"] == "0.00000000"
    assert resp.headers["x-freeway-saved-usd"] == "0.00000420"
    [seen] = edge.router.seen
    assert seen.method == "Complete"
    assert seen.request.key_id == "admin"
    assert json.loads(seen.request.body) == body  # passed on exactly as sent


async def test_stream_happy_path_ends_with_done(edge: Edge) -> None:
    body = {"messages": USER, "stream": True}
    resp = await edge.client.post(CHAT, json=body, headers=AUTH)
    assert resp.status == 200
    assert resp.content_type == "text/event-stream"
    data = await sse_data(resp)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "echo: "}
    assert resp.headers["x-freeway-model"] == SERVED_MODEL
    assert "x-freeway-cost-usd" not in resp.headers  # a stream's cost is in its last chunk
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "echo: hello there"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert edge.router.seen[0].method == "CompleteStream"


async def test_stream_with_include_usage_ends_with_a_usage_chunk(edge: Edge) -> None:
    body = {"messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    data = await sse_data(await edge.client.post(CHAT, json=body, headers=AUTH))
    assert data[-1] == "[DONE]"
    usage_chunk = json.loads(data[-2])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


# --- request id ----------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_request_id_travels_from_envoy_to_the_router_and_back(
    edge: Edge, stream: bool
) -> None:
    headers = {**AUTH, "x-request-id": "envoy-rid-123"}
    resp = await edge.client.post(CHAT, json={"messages": USER, "stream": stream}, headers=headers)
    await resp.read()
    assert resp.headers["x-request-id"] == "envoy-rid-123"
    [seen] = edge.router.seen
    assert seen.request_id == "envoy-rid-123"  # gRPC metadata, read by the router's interceptor
    assert seen.request.request_id == "envoy-rid-123"


async def test_request_id_is_generated_when_absent(edge: Edge) -> None:
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=AUTH)
    rid = resp.headers["x-request-id"]
    assert len(rid) == 32
    assert edge.router.seen[0].request_id == rid
    second = await edge.client.post(CHAT, json={"messages": USER}, headers=AUTH)
    assert second.headers["x-request-id"] != rid


async def test_error_responses_carry_the_request_id(edge: Edge) -> None:
    resp = await edge.client.post(CHAT, data=b"{", headers={**AUTH, "x-request-id": "rid-err"})
    assert resp.status == 400
    assert resp.headers["x-request-id"] == "rid-err"


# --- models, route, health -----------------------------------------------------------


async def test_models_lists_auto_and_the_free_models(edge: Edge) -> None:
    resp = await edge.client.get("/v1/models", headers=AUTH)
    assert resp.status == 200
    listing = await resp.json()
    assert listing["object"] == "list"
    ids = [m["id"] for m in listing["data"]]
    assert ids == ["auto", SERVED_MODEL, "groq/llama-3.1-8b-instant"]
    first = listing["data"][1]
    assert first["object"] == "model"
    assert first["owned_by"] == "openrouter"
    assert first["free"] is True
    assert first["free_reason"] == "free_variant"
    assert first["context_window"] == 131072
    assert edge.catalog.requests[0].free_only


async def test_models_free_only_false_lists_every_model(edge: Edge) -> None:
    listing = await (await edge.client.get("/v1/models?free_only=false", headers=AUTH)).json()
    assert "openai/gpt-4o" in [m["id"] for m in listing["data"]]
    # The free list is still served correctly after the full one was cached.
    free = await (await edge.client.get("/v1/models", headers=AUTH)).json()
    assert "openai/gpt-4o" not in [m["id"] for m in free["data"]]


async def test_models_json_is_rebuilt_when_the_catalogue_version_changes(edge: Edge) -> None:
    async def ids() -> list[str]:
        listing = await (await edge.client.get("/v1/models", headers=AUTH)).json()
        return [m["id"] for m in listing["data"]]

    before = await ids()
    del edge.catalog.models[0]
    assert await ids() == before  # same version: the cached JSON (versions are the contract)
    edge.catalog.version += 1
    assert await ids() == [before[0], *before[2:]]


async def test_models_bad_query_is_400_naming_it(edge: Edge) -> None:
    resp = await edge.client.get("/v1/models?free_only=maybe", headers=AUTH)
    await assert_openai_error(resp, 400, "free_only")


async def test_get_model_by_id_with_slashes(edge: Edge) -> None:
    resp = await edge.client.get(f"/v1/models/{SERVED_MODEL}", headers=AUTH)
    assert (await resp.json())["id"] == SERVED_MODEL
    auto = await (await edge.client.get("/v1/models/auto", headers=AUTH)).json()
    assert auto["owned_by"] == "freeway"
    missing = await edge.client.get("/v1/models/nobody/nothing", headers=AUTH)
    error = await assert_openai_error(missing, 404)
    assert "nobody/nothing" in error["message"]


async def test_route_returns_the_decision_only(edge: Edge) -> None:
    body = {"messages": USER, "strategy": "quality"}
    resp = await edge.client.post("/v1/route", json=body, headers=AUTH)
    assert resp.status == 200
    decision = await resp.json()
    assert decision["model"] == SERVED_MODEL
    assert [f["model"] for f in decision["fallbacks"]] == ["groq/llama-3.1-8b-instant"]
    assert decision["complexity"] == pytest.approx(0.2)
    assert decision["features"][0]["name"] == "length"
    assert decision["strategy"] == "quality"
    assert [s.method for s in edge.router.seen] == ["Route"]


async def test_healthz_needs_no_key_and_reports_both_services(edge: Edge) -> None:
    resp = await edge.client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "router": "SERVING", "catalog": "SERVING"}


async def test_healthz_is_degraded_without_catalog_and_503_without_router(
    edge: Edge,
) -> None:
    await edge.backends.catalog_server.stop(0)
    resp = await edge.client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "degraded"
    await edge.backends.router_server.stop(0)
    resp = await edge.client.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["router"] != "SERVING"


async def test_client_leaving_mid_stream_cancels_the_router_call(edge: Edge) -> None:
    edge.router.chunk_delay_s = 30
    resp = await edge.client.post(CHAT, json={"messages": USER, "stream": True}, headers=AUTH)
    first = await resp.content.readuntil(b"\n\n")
    assert json.loads(first.removeprefix(b"data: "))["object"] == "chat.completion.chunk"
    resp.close()
    await asyncio.wait_for(edge.router.cancelled.wait(), timeout=10)
