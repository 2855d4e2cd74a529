"""The cascade's cheap checks of an answer, and the JSON-schema subset they check."""

from __future__ import annotations

from typing import Any

import pytest

from services.router.checks import answer_check, answer_problem, matches

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
        "pet": {"$ref": "#/$defs/pet"},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
    "$defs": {"pet": {"anyOf": [{"type": "null"}, {"type": "object", "required": ["kind"]}]}},
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "sq",
            "parameters": {
                "type": "object",
                "properties": {"number": {"type": "number"}},
                "required": ["number"],
            },
        },
    }
]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ({"name": "x", "age": 3}, True),
        ({"name": "x", "age": 3.0, "tags": ["a"], "pet": None}, True),
        ({"name": "x", "age": 3, "pet": {"kind": "cat"}}, True),
        ({"name": "x"}, False),  # required
        ({"name": "", "age": 3}, False),  # minLength
        ({"name": "x", "age": -1}, False),  # minimum
        ({"name": "x", "age": True}, False),  # a boolean is not an integer
        ({"name": "x", "age": 3, "colour": "red"}, False),  # additionalProperties
        ({"name": "x", "age": 3, "tags": ["c"]}, False),  # enum
        ({"name": "x", "age": 3, "tags": ["a", "b", "a"]}, False),  # maxItems
        ({"name": "x", "age": 3, "pet": {}}, False),  # $ref → anyOf
        ([], False),
    ],
)
def test_schema_subset(value: Any, ok: bool) -> None:
    assert matches(value, SCHEMA) is ok


def message(content: Any = None, **fields: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, **fields}


@pytest.mark.parametrize(
    ("msg", "finish", "schema", "json_mode", "problem"),
    [
        (message("A fine answer."), "stop", None, False, ""),
        (message(""), "stop", None, False, "empty"),
        (message("   "), "stop", None, False, "empty"),
        (message("I'm sorry, but I can't help with that."), "stop", None, False, "refusal"),
        (message(None, refusal="no"), "stop", None, False, "refusal"),
        (message("The answer is"), "length", None, False, "cut_off"),
        (message("not json"), "stop", None, True, "invalid_json"),
        (message('{"a": 1}'), "stop", None, True, ""),
        (message('{"name": "x"}'), "stop", SCHEMA, True, "schema_mismatch"),
        (message('{"name": "x", "age": 1}'), "stop", SCHEMA, True, ""),
    ],
)
def test_answer_problems(
    msg: dict[str, Any], finish: str, schema: Any, json_mode: bool, problem: str
) -> None:
    assert answer_problem(msg, finish, json_mode=json_mode, schema=schema, tools=None) == problem


def call(arguments: str, name: str = "sq") -> dict[str, Any]:
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize(
    ("calls", "problem"),
    [
        ([call('{"number": 2}')], ""),
        ([call('{"number": 2')], "bad_tool_arguments"),  # cut off
        ([call('{"count": 2}')], "bad_tool_arguments"),  # not the tool's parameters
        ([call("{}", name="other")], "unknown_tool"),
    ],
)
def test_tool_calls_must_parse_and_fit(calls: list[dict[str, Any]], problem: str) -> None:
    msg = message(None, tool_calls=calls)
    assert answer_problem(msg, "tool_calls", json_mode=False, schema=None, tools=TOOLS) == problem


def test_the_check_of_an_answer_is_its_first_choices_problem() -> None:
    check = answer_check(False, None, None)
    assert check([(message("ok"), "stop"), (message(""), "stop")]) == "empty"
    assert check([(message("ok"), "stop")]) == ""
