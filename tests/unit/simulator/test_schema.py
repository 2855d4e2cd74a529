"""Instances of JSON schemas: every one validates against its schema (checked by jsonschema,
an implementation independent of ours)."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from services.simulator.schema import Hints, SchemaError, instance


class Address(BaseModel):
    street: str
    number: int | None = None


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]
    home: Address
    past: list[Address]


SCHEMAS: list[Any] = [
    {"type": "object", "properties": {"is_fruit": {"type": "boolean"}}, "required": ["is_fruit"],
     "additionalProperties": False},
    {"type": "string", "enum": ["a", "b"]},
    {"type": "integer", "minimum": 10, "maximum": 12},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "string", "minLength": 12, "maxLength": 14},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "email"},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]},
    {"type": ["string", "null"]},
    {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"x": {"const": 3}},
                                   "required": ["x"]}]},
    {"oneOf": [{"type": "integer"}, {"type": "string"}]},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
               {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
    {"type": "object", "required": ["free"], "additionalProperties": {"type": "integer"}},
    {"properties": {"nested": {"properties": {"deeper": {"type": "array", "items": {
        "type": "object", "properties": {"leaf": {"type": "number"}}, "required": ["leaf"]}}}}}},
    {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}},
                        "required": ["v"]}},
     "type": "object", "properties": {"root": {"$ref": "#/$defs/node"}}, "required": ["root"]},
    {"type": "object", "properties": {"unit": {"type": "string", "default": "celsius"}}},
    Person.model_json_schema(),
    True,
    {},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_an_instance_validates_against_its_schema(schema: Any) -> None:
    for seed in range(5):
        jsonschema.validate(instance(schema, random.Random(seed)), schema)


def test_pydantic_models_parse_their_instances() -> None:
    Person.model_validate(instance(Person.model_json_schema()))


def test_hints_fill_numbers_and_strings_in_order() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "integer"},
                                               "q": {"type": "string"}}}  # fmt: skip
    hints = Hints(numbers=[132413.0, 2.5], words=["what the user asked"])
    assert instance(schema, hints=hints) == {"a": 132413, "b": 2, "q": "what the user asked"}


def test_a_hint_out_of_bounds_is_brought_within_them() -> None:
    hints = Hints(numbers=[500.0])
    assert instance({"type": "integer", "maximum": 7}, hints=hints) == 7


def test_a_broken_reference_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="not found"):
        instance({"$ref": "#/$defs/missing"})
    with pytest.raises(SchemaError, match="local"):
        instance({"$ref": "https://example.com/schema.json"})
