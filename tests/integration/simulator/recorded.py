"""Reading answers the way the tests compare them with the recordings: the skeleton of a
JSON value (its keys and value types, not its values) and the run of chunk kinds of a stream.

Written apart from the simulator's own parsing on purpose: these helpers decide what "the
recorded shape" is, the simulator must produce it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.simulator import Exchange, Simulator

SHAPED = (  # the recorded answers whose shape every new answer must keep
    "GenSync-Text",
    "GenStream-Text",
    "GenSync-Tools-SquareRoot-1",
    "GenStream-Tools-SquareRoot-1",
    "GenSync-JSON",
    "GenSync-JSONSchema",
    "GenStream-JSONSchema",
    "GenSyncMultiModal-Image-jpg-Inline",
    "GenStreamMultiModal-Image-jpg-Inline",
)
NEW_PROMPT = "Name a fruit that is yellow, in one word, and say why it is your choice."


def skeleton(value: Any) -> Any:
    """The keys and value types of decoded JSON (lists by their first item)."""
    if isinstance(value, dict):
        return {k: skeleton(v) for k, v in value.items()}
    if isinstance(value, list):
        return [skeleton(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def sse_lines(body: str) -> list[str]:
    return [line for line in body.replace("\r\n", "\n").split("\n") if line]


def chunks(body: str) -> list[Any]:
    """The decoded data chunks of an SSE body ([DONE] and comments left out)."""
    found = []
    for line in sse_lines(body):
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            found.append(json.loads(line[5:]))
    return found


def kind(chunk: Mapping[str, Any]) -> str:
    """What a chunk carries, e.g. "role+content", "tool+finish:tool_calls+usage", "usage"."""
    if "error" in chunk:
        return "error"
    choices = chunk.get("choices") or []
    if not choices:
        return "usage" if chunk.get("usage") else "empty"
    choice, parts = choices[0], []
    delta = choice.get("delta") or {}
    if "role" in delta:
        parts.append("role")
    if any(delta.get(f) for f in ("reasoning", "reasoning_content", "reasoning_details")):
        parts.append("reasoning")
    if delta.get("content"):
        parts.append("content")
    if delta.get("tool_calls"):
        parts.append("tool")
    if choice.get("finish_reason"):
        parts.append(f"finish:{choice['finish_reason']}")
    if chunk.get("usage"):
        parts.append("usage")
    return "+".join(parts) or "blank"


def runs(body: str) -> list[str]:
    """The stream as its run of kinds, each repetition collapsed: comments, chunks, [DONE]."""
    seq: list[str] = []
    for line in sse_lines(body):
        if line.startswith(":"):
            item = "comment"
        elif line[5:].strip() == "[DONE]":
            item = "[DONE]"
        else:
            item = kind(json.loads(line[5:]))
        if not seq or seq[-1] != item:
            seq.append(item)
    return seq


def first_of_each_kind(body: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in chunks(body):
        found.setdefault(kind(chunk), skeleton(chunk))
    return found


def with_prompt(request: Mapping[str, Any], text: str = NEW_PROMPT) -> dict[str, Any]:
    """The recorded request with its last user text replaced (so it is not replayed)."""
    body: dict[str, Any] = json.loads(json.dumps(request))
    for message in reversed(body["messages"]):
        content = message.get("content")
        if message.get("role") != "user":
            continue
        if isinstance(content, str):
            message["content"] = text
            return body
        parts = [p for p in content if p.get("type") == "text"]
        if parts:
            for part in parts:
                part["text"] = text
            return body
    raise AssertionError("the recorded request has no user text to replace")


def shaped_exchanges(sim: Simulator) -> list[Exchange]:
    """The recorded answers (HTTP 200, no error inside) the shape tests compare with."""
    return [e for e in sim.recordings() if e.cassette in SHAPED and not e.failed]
