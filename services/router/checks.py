"""Cheap checks of an answer, for the cascade strategy: is it worth returning, or should
the next (stronger) candidate be asked?

An answer fails when it is empty, a refusal, cut off by the length limit, not JSON in JSON
mode, not matching the request's JSON schema, or when a tool call's arguments do not parse
(or do not match the tool's parameters). Each failure is named by a short reason, which
usage records. The schema check covers what structured outputs and tool parameters use:
`type`, `enum`, `const`, `properties` / `required` / `additionalProperties`, `items` /
`prefixItems` / `minItems` / `maxItems`, `anyOf` / `oneOf` / `allOf`, `$ref` into `$defs`,
string and number bounds. Unknown keywords pass: a check that cannot tell says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

Json = Any
MAX_DEPTH = 32
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
}
_REFUSAL = re.compile(
    r"^\s*(i'?m sorry|i am sorry|sorry, (but )?i|i can(no|')t (help|assist|comply|provide)|"
    r"i (cannot|can not|won'?t|will not|am unable to|'m unable to) (help|assist|comply|provide)|"
    r"as an ai(,| language model))",
    re.IGNORECASE,
)


def answer_problem(
    message: Mapping[str, Json],
    finish_reason: str,
    *,
    json_mode: bool,
    schema: Mapping[str, Json] | None,
    tools: Sequence[Json] | None,
) -> str:
    """Why this answer should be escalated ("" when it passes)."""
    calls = message.get("tool_calls") or []
    content = message.get("content") or ""
    if message.get("refusal"):
        return "refusal"
    if finish_reason == "length":
        return "cut_off"
    if calls:
        return _tool_problem(calls, tools or ())
    if not content.strip():
        return "empty"
    if _REFUSAL.match(content):
        return "refusal"
    if schema is not None or json_mode:
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError:
            return "invalid_json"
        if schema is not None and not matches(value, schema):
            return "schema_mismatch"
    return ""


def answer_check(
    json_mode: bool, schema: Mapping[str, Json] | None, tools: Sequence[Json] | None
) -> Callable[[Sequence[tuple[Mapping[str, Json], str]]], str]:
    """A check of every choice of an answer (message, finish reason): the first problem."""

    def check(choices: Sequence[tuple[Mapping[str, Json], str]]) -> str:
        for message, finish in choices:
            problem = answer_problem(
                message, finish, json_mode=json_mode, schema=schema, tools=tools
            )
            if problem:
                return problem
        return ""

    return check


def _tool_problem(calls: Sequence[Json], tools: Sequence[Json]) -> str:
    parameters = {
        t["function"]["name"]: t["function"].get("parameters")
        for t in tools
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }
    for call in calls:
        function = call.get("function", {}) if isinstance(call, dict) else {}
        name = function.get("name")
        if parameters and name not in parameters:
            return "unknown_tool"
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            return "bad_tool_arguments"
        schema = parameters.get(name)
        if isinstance(schema, dict) and not matches(arguments, schema):
            return "bad_tool_arguments"
    return ""


def matches(value: Json, schema: Json) -> bool:
    """Whether `value` is valid against `schema` (the subset above)."""
    return _Validator(schema).valid(value, schema, 0)


class _Validator:
    def __init__(self, root: Json) -> None:
        self.root = root

    def valid(self, value: Json, schema: Json, depth: int) -> bool:
        if schema is True or schema is None:
            return True
        if schema is False:
            return False
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return True
        if "$ref" in schema:
            target = self._resolve(schema["$ref"])
            if target is None or not self.valid(value, target, depth + 1):
                return False
        if "const" in schema and value != schema["const"]:
            return False
        if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
            return False
        if not self._type(value, schema.get("type")):
            return False
        return self._combined(value, schema, depth) and self._shape(value, schema, depth)

    def _combined(self, value: Json, schema: dict[str, Json], depth: int) -> bool:
        for key, need in (("anyOf", 1), ("oneOf", 1)):
            options = schema.get(key)
            if isinstance(options, list) and options:
                count = sum(self.valid(value, o, depth + 1) for o in options)
                if count < need or (key == "oneOf" and count != 1):
                    return False
        all_of = schema.get("allOf")
        return not isinstance(all_of, list) or all(self.valid(value, s, depth + 1) for s in all_of)

    def _shape(self, value: Json, schema: dict[str, Json], depth: int) -> bool:
        if isinstance(value, dict):
            return self._object(value, schema, depth)
        if isinstance(value, list):
            return self._array(value, schema, depth)
        if isinstance(value, str):
            return _within(len(value), schema.get("minLength"), schema.get("maxLength"))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _within(value, schema.get("minimum"), schema.get("maximum"))
        return True

    def _object(self, value: dict[str, Json], schema: dict[str, Json], depth: int) -> bool:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        if isinstance(required, list) and any(k not in value for k in required):
            return False
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                if not self.valid(item, properties[key], depth + 1):
                    return False
            elif extra is False or (
                isinstance(extra, dict) and not self.valid(item, extra, depth + 1)
            ):
                return False
        return True

    def _array(self, value: list[Json], schema: dict[str, Json], depth: int) -> bool:
        if not _within(len(value), schema.get("minItems"), schema.get("maxItems")):
            return False
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        for item, item_schema in zip(value, prefix, strict=False):
            if not self.valid(item, item_schema, depth + 1):
                return False
        items = schema.get("items")
        rest = value[len(prefix) :]
        return items is None or all(self.valid(item, items, depth + 1) for item in rest)

    def _type(self, value: Json, kind: Json) -> bool:
        if kind is None:
            return True
        kinds = kind if isinstance(kind, list) else [kind]
        return any(_is(value, k) for k in kinds)

    def _resolve(self, ref: Json) -> Json:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return None
        node = self.root
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


def _is(value: Json, kind: Json) -> bool:
    if isinstance(value, bool):
        return bool(kind == "boolean")
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float)
    types = _TYPES.get(kind) if isinstance(kind, str) else None
    return True if types is None else isinstance(value, types)  # an unknown type: passes


def _within(number: float, low: Json, high: Json) -> bool:
    if isinstance(low, int | float) and not isinstance(low, bool) and number < low:
        return False
    return not (isinstance(high, int | float) and not isinstance(high, bool) and number > high)
