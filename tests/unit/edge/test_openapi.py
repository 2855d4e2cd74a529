"""The OpenAPI document against the router's one reader of a chat request: every field the
reader knows is in the schema, and the schema has no field the reader refuses as unknown."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.edge import openapi
from services.edge.app import DESCRIBERS
from services.edge.openapi.document import ApiDocument
from services.router import request as reader


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = json.loads(openapi.build(DESCRIBERS))["components"]["schemas"]
    return schemas


def test_the_request_schema_has_every_field_the_reader_knows_and_no_other() -> None:
    schema = _schemas()["ChatCompletionRequest"]
    assert set(schema["properties"]) == set(reader._FIELDS)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["messages"]


@pytest.mark.parametrize("role", sorted(reader._MESSAGE_FIELDS))
def test_each_message_schema_has_the_fields_the_reader_allows_for_its_role(role: str) -> None:
    (schema,) = (
        s for s in _schemas().values() if s.get("properties", {}).get("role") == {"const": role}
    )
    assert set(schema["properties"]) == set(reader._MESSAGE_FIELDS[role])
    assert schema["additionalProperties"] is False


def test_the_schema_lists_every_message_role_the_reader_accepts() -> None:
    items = _schemas()["ChatCompletionRequest"]["properties"]["messages"]["items"]["oneOf"]
    roles = {
        _schemas()[ref["$ref"].rsplit("/", 1)[1]]["properties"]["role"]["const"] for ref in items
    }
    assert roles == set(reader._ROLES)


def test_refused_fields_are_documented_as_null_only() -> None:
    properties = _schemas()["ChatCompletionRequest"]["properties"]
    for name in (
        "audio",
        "prediction",
        "web_search_options",
        "verbosity",
        "functions",
        "function_call",
    ):
        assert properties[name]["type"] == "null", name
        assert "unsupported_parameter" in properties[name]["description"]


def test_an_operation_or_schema_is_described_once() -> None:
    doc = ApiDocument()
    doc.operation("get", "/x", operation_id="x", summary="x", responses={})
    with pytest.raises(ValueError, match="described twice"):
        doc.operation("get", "/x", operation_id="x2", summary="x", responses={})
    doc.schema("Thing", {"type": "object"})
    doc.schema("Thing", {"type": "object"})  # the same schema again is fine
    with pytest.raises(ValueError, match="two different schemas"):
        doc.schema("Thing", {"type": "string"})
