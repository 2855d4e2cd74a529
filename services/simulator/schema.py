"""An instance of a JSON schema: what a model answers under `response_format: json_schema`
and what it puts in a tool call's arguments.

Covers what structured-output and tool schemas use (OpenAI's strict subset and Pydantic's
output): `type` (one or a list), `enum`, `const`, `default`, objects with `properties` /
`required` / `additionalProperties`, arrays with `items` / `prefixItems` / `minItems`,
`anyOf` / `oneOf` / `allOf`, `$ref` into `$defs` / `definitions`, string `format`s and
length bounds, number bounds. `hints` fill the first numbers and strings (the numbers of a
user's question land in a calculator tool's arguments).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 12
FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


@dataclass
class Hints:
    """Values taken from the conversation, used up in order."""

    numbers: list[float] = field(default_factory=list)
    words: list[str] = field(default_factory=list)

    def number(self) -> float | None:
        return self.numbers.pop(0) if self.numbers else None

    def word(self) -> str | None:
        return self.words.pop(0) if self.words else None


class SchemaError(ValueError):
    """The schema cannot be instantiated (a broken $ref, a contradiction)."""


def instance(schema: Any, rng: random.Random | None = None, hints: Hints | None = None) -> Any:
    """A value valid against `schema` (a JSON schema as decoded JSON)."""
    return _Builder(schema, rng or random.Random(0), hints or Hints()).build(schema, 0)


class _Builder:
    def __init__(self, root: Any, rng: random.Random, hints: Hints) -> None:
        self.root = root
        self.rng = rng
        self.hints = hints

    def build(self, schema: Any, depth: int) -> Any:
        if schema is True or schema is None or schema == {}:
            return self._word() or "value"
        if schema is False or not isinstance(schema, Mapping):
            raise SchemaError("a schema must be an object or a boolean")
        if depth > MAX_DEPTH:
            return None
        if "$ref" in schema:
            return self.build(self._resolve(str(schema["$ref"])), depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        if "default" in schema and schema["default"] is not None:
            return schema["default"]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                typed = [o for o in options if not (isinstance(o, Mapping) and _is_null(o))]
                return self.build((typed or options)[0], depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.build(_merge(schema["allOf"], self._resolve), depth + 1)
        kind = _kind(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind in ("number", "integer"):
            return self._number(schema, kind)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema)

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        result: dict[str, Any] = {}
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                result[str(name)] = self.build(sub, depth + 1)
        required = schema.get("required")
        for name in required if isinstance(required, list) else ():
            if isinstance(name, str) and name not in result:
                extra = schema.get("additionalProperties")
                result[name] = self.build(extra if isinstance(extra, Mapping) else {}, depth + 1)
        return result

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items: list[Any] = []
        if isinstance(prefix, list):
            items = [self.build(sub, depth + 1) for sub in prefix]
        count = max(int(schema.get("minItems") or 1), len(items))
        top = schema.get("maxItems")
        if isinstance(top, int):
            count = min(count, top)
        item = schema.get("items", {})
        while len(items) < count:
            items.append(self.build(item if item is not False else {}, depth + 1))
        return items[:count]

    def _number(self, schema: Mapping[str, Any], kind: str) -> int | float:
        low, low_open = _bound(schema, "minimum", "exclusiveMinimum")
        high, high_open = _bound(schema, "maximum", "exclusiveMaximum")
        hint = self.hints.number()
        value = hint if hint is not None else float(self.rng.randint(1, 100))
        if kind == "integer":
            lowest = None if low is None else math.floor(low) + 1 if low_open else math.ceil(low)
            highest = (
                None if high is None else math.ceil(high) - 1 if high_open else math.floor(high)
            )
            whole = int(value)
            if lowest is not None and whole < lowest:
                whole = lowest
            if highest is not None and whole > highest:
                whole = highest
            return whole
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            if low is not None and high is not None:
                value = (low + high) / 2
            elif low is not None:
                value = low + 1 if low_open else low
            elif high is not None:
                value = high - 1 if high_open else high
        return int(value) if float(value).is_integer() else value

    def _string(self, schema: Mapping[str, Any]) -> str:
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in FORMATS:
            return FORMATS[fmt]
        text = self._word() or "value"
        low, high = schema.get("minLength"), schema.get("maxLength")
        if isinstance(low, int) and len(text) < low:
            text = text.ljust(low, "x")
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        return text

    def _word(self) -> str | None:
        return self.hints.word()

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaError(f"$ref {ref!r}: only local references are followed")
        node: Any = self.root
        for part in (p for p in ref[1:].split("/") if p):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise SchemaError(f"$ref {ref!r}: not found in the schema")
            node = node[part]
        return node


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return str(kinds[0]) if kinds else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _is_null(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "null"


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    """(the bound, whether it is exclusive)."""
    if isinstance(schema.get(exclusive), int | float) and not isinstance(schema[exclusive], bool):
        return float(schema[exclusive]), True
    if isinstance(schema.get(inclusive), int | float) and not isinstance(schema[inclusive], bool):
        return float(schema[inclusive]), False
    return None, False


def _merge(parts: list[Any], resolve: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in _flatten(parts, resolve):
        for key, value in part.items():
            if key == "properties" and isinstance(value, Mapping):
                merged.setdefault("properties", {}).update(value)
            elif key == "required" and isinstance(value, list):
                merged.setdefault("required", []).extend(value)
            else:
                merged.setdefault(key, value)
    return merged


def _flatten(parts: list[Any], resolve: Any) -> Iterator[Mapping[str, Any]]:
    for part in parts:
        if isinstance(part, Mapping) and "$ref" in part:
            part = resolve(str(part["$ref"]))
        if isinstance(part, Mapping):
            yield part
