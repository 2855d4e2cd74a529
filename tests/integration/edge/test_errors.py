"""gRPC failures of the router / catalog become HTTP statuses in OpenAI's error shape."""

from __future__ import annotations

import json

import grpc
import pytest

from tests.conftest import free_port
from tests.integration.edge.conftest import (
    AUTH,
    CHAT,
    USER,
    Edge,
    EdgeFactory,
    assert_openai_error,
    sse_data,
)
from tests.integration.edge.fakes import Failure

CODES = [
    (grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid_request_error"),
    (grpc.StatusCode.NOT_FOUND, 404, "invalid_request_error"),
    # The client's key is checked by the edge; a sibling refusing the call refused the
    # edge's own service credential: the gateway's fault, not a 401 for the client.
    (grpc.StatusCode.UNAUTHENTICATED, 502, "server_error"),
    (grpc.StatusCode.PERMISSION_DENIED, 403, "permission_error"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "requests"),
    (grpc.StatusCode.FAILED_PRECONDITION, 503, "server_error"),
    (grpc.StatusCode.UNAVAILABLE, 503, "server_error"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "server_error"),
    (grpc.StatusCode.INTERNAL, 502, "server_error"),
    (grpc.StatusCode.UNKNOWN, 502, "server_error"),
    (grpc.StatusCode.DATA_LOSS, 502, "server_error"),
]


@pytest.mark.parametrize(("code", "status", "kind"), CODES, ids=[c[0].name for c in CODES])
@pytest.mark.parametrize("stream", [False, True])
async def test_router_status_maps_to_http(
    edge: Edge, code: grpc.StatusCode, status: int, kind: str, stream: bool
) -> None:
    edge.router.failure = Failure(code, "model: nothing fits the constraints")
    body = {"messages": USER, "stream": stream}
    resp = await edge.client.post(CHAT, json=body, headers=AUTH)
    error = await assert_openai_error(resp, status)
    assert error["type"] == kind
    assert "nothing fits the constraints" in error["message"]


async def test_a_refused_service_credential_says_so(edge: Edge) -> None:
    edge.router.failure = Failure(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong credential")
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=AUTH)
    error = await assert_openai_error(resp, 502)
    assert error["code"] == "service_credential_refused"
    assert "service credential" in error["message"]


async def test_resource_exhausted_passes_retry_after_on(edge: Edge) -> None:
    edge.router.failure = Failure(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "every free model is rate limited",
        trailing=(("retry-after", "7"),),
    )
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=AUTH)
    await assert_openai_error(resp, 429)
    assert resp.headers["Retry-After"] == "7"


async def test_router_crash_is_502_without_a_traceback(edge: Edge) -> None:
    edge.router.crash = True
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=AUTH)
    error = await assert_openai_error(resp, 502)
    assert "RuntimeError" not in error["message"]
    assert "crashed" not in error["message"]
    assert resp.headers["x-request-id"] in error["message"]


async def test_failure_after_the_stream_started_is_an_error_event(edge: Edge) -> None:
    edge.router.failure = Failure(grpc.StatusCode.UNAVAILABLE, "provider went away", after_chunks=2)
    resp = await edge.client.post(CHAT, json={"messages": USER, "stream": True}, headers=AUTH)
    assert resp.status == 200
    data = await sse_data(resp)
    assert "[DONE]" not in data
    error = json.loads(data[-1])["error"]
    assert error["message"] == "provider went away"
    assert error["type"] == "server_error"
    assert len(data) == 3


async def test_unreachable_router_is_503(make_edge: EdgeFactory, edge: Edge) -> None:
    suite = edge.backends.suite(router_addr=f"127.0.0.1:{free_port()}")
    async with make_edge(suite=suite) as lonely:
        resp = await lonely.client.post(CHAT, json={"messages": USER}, headers=AUTH)
        await assert_openai_error(resp, 503)
        health = await lonely.client.get("/healthz")
        assert health.status == 503


async def test_router_deadline_is_504(make_edge: EdgeFactory, edge: Edge) -> None:
    edge.router.delay_s = 5
    async with make_edge(completion_timeout_s=0.1) as impatient:
        resp = await impatient.client.post(CHAT, json={"messages": USER}, headers=AUTH)
        error = await assert_openai_error(resp, 504)
        assert error["code"] == "timeout"


async def test_catalog_not_found_maps_to_404(edge: Edge) -> None:
    resp = await edge.client.get("/v1/models/openrouter/none", headers=AUTH)
    error = await assert_openai_error(resp, 404)
    assert error["code"] == "not_found"
