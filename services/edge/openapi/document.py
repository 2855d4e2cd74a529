"""The edge's OpenAPI 3.1 document, put together from the route modules' descriptions.

A route module describes its own operations with a `describe(doc)` function (see
`openapi.chat`, `openapi.catalog`); the app factory passes every describer to `build` once
at start, and `GET /openapi.json` serves the bytes. Shared pieces — OpenAI's error shape,
the bearer key, the 4XX/5XX answers every route can give — are here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

Json = Any
Describer = Callable[["ApiDocument"], None]

DOCUMENT = web.AppKey("openapi_document", bytes)
OPENAPI_VERSION = "3.1.0"
METHODS = ("get", "post", "put", "patch", "delete")

ERROR_SCHEMA: Json = {
    "type": "object",
    "description": "OpenAI's error shape: every 4xx and 5xx of the edge (and of Envoy).",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string", "minLength": 1},
                "type": {"type": "string", "examples": ["invalid_request_error"]},
                "param": {"type": ["string", "null"], "description": "the field at fault"},
                "code": {"type": ["string", "null"], "examples": ["invalid_value"]},
            },
        }
    },
}


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Json) -> Json:
    """`schema` or null (a null field counts as absent)."""
    return {"anyOf": [schema, {"type": "null"}]}


def json_content(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema: Json, **extra: Json) -> Json:
    return {"description": description, "content": json_content(schema), **extra}


@dataclass
class ApiDocument:
    """Operations and component schemas, added by the route modules."""

    title: str = "Freeway"
    version: str = "1"
    paths: dict[str, dict[str, Json]] = field(default_factory=dict)
    schemas: dict[str, Json] = field(default_factory=lambda: {"Error": ERROR_SCHEMA})

    def schema(self, name: str, schema: Json) -> Json:
        """Register a component schema; a reference to it."""
        if self.schemas.get(name, schema) != schema:
            raise ValueError(f"two different schemas are named {name!r}")
        self.schemas[name] = schema
        return ref(name)

    def operation(
        self,
        method: str,
        path: str,
        *,
        operation_id: str,
        summary: str,
        responses: Mapping[str, Json],
        description: str = "",
        parameters: Iterable[Json] = (),
        body: Json | None = None,
        public: bool = False,
        tags: Iterable[str] = (),
    ) -> None:
        """One operation (`path` as aiohttp names it: `/v1/models/{model_id}`). Every
        operation can answer 4XX/5XX in OpenAI's error shape; `public` ones need no key."""
        method = method.lower()
        if method not in METHODS:
            raise ValueError(f"{method!r}: expected one of {', '.join(METHODS)}")
        operations = self.paths.setdefault(path, {})
        if method in operations:
            raise ValueError(f"{method.upper()} {path} is described twice")
        operation: Json = {
            "operationId": operation_id,
            "summary": summary,
            "tags": list(tags),
            "parameters": list(parameters),
            "responses": {**responses, "4XX": ERRORS, "5XX": ERRORS},
        }
        if description:
            operation["description"] = description
        if body is not None:
            operation["requestBody"] = {"required": True, "content": json_content(body)}
        if public:
            operation["security"] = []
        operations[method] = operation

    def render(self) -> Json:
        return {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": self.title,
                "version": self.version,
                "description": "Freeway's OpenAI-compatible gateway API. Every route but "
                "/healthz and /openapi.json needs `Authorization: Bearer <key>`; every "
                'error is `{"error": {"message", "type", "param", "code"}}`.',
            },
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}],
            "paths": self.paths,
            "components": {
                "schemas": self.schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }


ERRORS: Json = {"description": "an error, in OpenAI's shape", "content": json_content(ref("Error"))}


def build(describers: Iterable[Describer]) -> bytes:
    """The document every describer contributed to, as JSON bytes."""
    doc = ApiDocument()
    for describe in describers:
        describe(doc)
    return orjson.dumps(doc.render())


async def openapi_json(request: web.Request) -> web.Response:
    """`GET /openapi.json` (no key): this API's OpenAPI 3.1 document."""
    return web.Response(body=request.app[DOCUMENT], content_type="application/json")


def describe(doc: ApiDocument) -> None:
    """The service routes: health and this document."""
    health = doc.schema(
        "Health",
        {
            "type": "object",
            "required": ["status", "router", "catalog"],
            "properties": {
                "status": {"enum": ["ok", "degraded", "unavailable"]},
                "router": {"type": "string", "examples": ["SERVING"]},
                "catalog": {"type": "string", "examples": ["SERVING"]},
            },
        },
    )
    doc.operation(
        "get",
        "/healthz",
        operation_id="healthz",
        summary="Liveness of the edge and the services behind it",
        description="200 while the router serves (`degraded` when the catalog is down); "
        "503 when the router does not.",
        responses={
            "200": ok("serving", health),
            "503": ok("the router is not serving", health),
        },
        public=True,
        tags=["service"],
    )
    doc.operation(
        "get",
        "/openapi.json",
        operation_id="openapi",
        summary="This OpenAPI 3.1 document",
        responses={"200": ok("the document", {"type": "object", "required": ["openapi"]})},
        public=True,
        tags=["service"],
    )
    doc.operation(
        "get",
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics of this edge (text exposition format 0.0.4)",
        description="No API key; when FREEWAY_METRICS_TOKEN is set, `Authorization: Bearer"
        " <token>`. Served on the edge's own port only: Envoy answers /metrics with 404.",
        responses={
            "200": {
                "description": "the metrics",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
        public=True,
        tags=["service"],
    )
