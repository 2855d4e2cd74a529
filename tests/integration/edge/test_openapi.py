"""GET /openapi.json: served without a key, and describing exactly the routes the app
serves (other route modules add theirs through the app's DESCRIBERS)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from services.edge import openapi
from services.edge.app import DESCRIBERS
from tests.integration.edge.conftest import AUTH, CHAT, Edge

pytestmark = pytest.mark.integration


async def test_the_document_is_served_without_a_key(edge: Edge) -> None:
    resp = await edge.client.get("/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    document = await resp.json()
    assert document["openapi"] == "3.1.0"
    assert document == json.loads(openapi.build(DESCRIBERS))


async def test_every_route_the_app_serves_is_in_the_document_and_no_other(edge: Edge) -> None:
    app = edge.client.app
    assert app is not None
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    document = json.loads(openapi.build(DESCRIBERS))
    described = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert served == described


async def test_public_operations_are_the_ones_that_need_no_key(edge: Edge) -> None:
    document = json.loads(openapi.build(DESCRIBERS))
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            resp = await edge.client.request(method, path.replace("{model_id}", "auto"))
            public = operation.get("security") == []
            assert (resp.status != 401) == public, (method, path, resp.status)


def test_every_schema_is_a_valid_json_schema() -> None:
    document = json.loads(openapi.build(DESCRIBERS))
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


FULL_REQUEST = {
    "model": "auto",
    "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {
            "role": "user",
            "name": "ada",
            "content": [
                {"type": "text", "text": "What is this, and what does it say?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                },
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look up",
                "parameters": {"type": "object"},
            },
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "lookup"}},
    "parallel_tool_calls": False,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
    },
    "n": 1,
    "seed": 7,
    "logprobs": True,
    "top_logprobs": 2,
    "stop": ["\n\n"],
    "temperature": 0.2,
    "top_p": 0.9,
    "frequency_penalty": 0.1,
    "presence_penalty": -0.1,
    "logit_bias": {"50256": -100},
    "max_completion_tokens": 64,
    "reasoning_effort": "low",
    "strategy": "free-first",
    "user": "u-1",
    "metadata": {"team": "docs"},
    "service_tier": "auto",
    "store": False,
}


async def test_a_request_using_every_part_is_valid_and_routed(edge: Edge) -> None:
    document = json.loads(openapi.build(DESCRIBERS))
    schema = {
        **document["components"]["schemas"]["ChatCompletionRequest"],
        "$defs": document["components"]["schemas"],
    }
    resolved = json.loads(json.dumps(schema).replace("#/components/schemas/", "#/$defs/"))
    jsonschema.Draft202012Validator(resolved).validate(FULL_REQUEST)
    resp = await edge.client.post("/v1/route", json=FULL_REQUEST, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["object"] == "freeway.route"
    resp = await edge.client.post(CHAT, json=FULL_REQUEST, headers=AUTH)
    assert resp.status == 200, await resp.text()
