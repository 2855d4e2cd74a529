"""The shape of a provider's answers, read off one recorded answer.

A `SyncShape` is a recorded non-streamed body (how it is serialised, which fields it carries);
a `StreamShape` splits a recorded stream into what comes before the answer (SSE comments,
choice-less chunks), the chunk templates of each kind (role-only head, reasoning, content,
tool-call fragments), the finish chunk(s) and what follows them (a usage-only chunk,
`[DONE]`), plus how usage travels (on which chunks, as running totals or not). `render`
fills these templates with a new answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.simulator.recordings import Event, Exchange, newline_of

REASONING_FIELDS = ("reasoning", "reasoning_content", "reasoning_details")
FIRST_KEY = re.compile(r'\{\s*"(?:[^"\\]|\\.)*"\s*:( ?)')  # the separator after the first key


def first_choice(chunk: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def first_delta(chunk: Mapping[str, Any]) -> Mapping[str, Any]:
    delta = (first_choice(chunk) or {}).get("delta")
    return delta if isinstance(delta, dict) else {}


def chunk_kind(chunk: Mapping[str, Any]) -> str:
    """finish | tool | reasoning | content | head, for a chunk that has a choice."""
    choice = first_choice(chunk) or {}
    delta = first_delta(chunk)
    if choice.get("finish_reason"):
        return "finish"
    if delta.get("tool_calls"):
        return "tool"
    if any(delta.get(f) for f in REASONING_FIELDS):
        return "reasoning"
    if isinstance(delta.get("content"), str) and delta["content"]:
        return "content"
    return "head"


@dataclass(frozen=True)
class Serialisation:
    """How a provider writes JSON: padding before it, indentation, separators."""

    prefix: str = ""
    indent: str | None = None
    spaced: bool = False

    @classmethod
    def of(cls, text: str) -> Serialisation:
        stripped = text.lstrip()
        prefix = text[: len(text) - len(stripped)]
        indent = None
        if stripped.startswith("{\n") or stripped.startswith("{\r\n"):
            second = stripped.split("\n", 2)[1]
            indent = second[: len(second) - len(second.lstrip())] or None
        first_key = FIRST_KEY.match(stripped)
        spaced = indent is None and first_key is not None and first_key.group(1) == " "
        return cls(prefix, indent, spaced)


@dataclass(frozen=True)
class SyncShape:
    template: Mapping[str, Any]  # the recorded body, decoded
    content_type: str
    style: Serialisation

    @classmethod
    def of(cls, exchange: Exchange) -> SyncShape:
        return cls(exchange.json(), exchange.content_type, Serialisation.of(exchange.body))

    @property
    def choice(self) -> Mapping[str, Any]:
        return first_choice(self.template) or {}

    @property
    def message(self) -> Mapping[str, Any]:
        message = self.choice.get("message")
        return message if isinstance(message, dict) else {}

    @property
    def tool_call(self) -> Mapping[str, Any] | None:
        calls = self.message.get("tool_calls")
        return calls[0] if isinstance(calls, list) and calls else None

    @property
    def args_spaced(self) -> bool:
        """Whether the recorded tool-call arguments were written `{"a": 1}`."""
        call = self.tool_call or {}
        return ": " in str((call.get("function") or {}).get("arguments", ""))


@dataclass(frozen=True)
class StreamShape:
    content_type: str
    newline: str
    spaced: bool
    prelude: tuple[Event, ...]  # before the first chunk with a choice
    head: Mapping[str, Any] | None  # a role-only first chunk, when the provider sends one
    first: Mapping[str, Mapping[str, Any]]  # kind -> first chunk of that kind
    rest: Mapping[str, Mapping[str, Any]]  # kind -> a later chunk of that kind
    finish: tuple[Mapping[str, Any], ...]  # the finish chunk(s); OpenRouter sends two
    tail: tuple[Event, ...]  # after the finish: usage-only chunk, comments, [DONE]
    running_usage: bool  # usage rides on every chunk as a running total
    recorded_id: str
    asked_usage: bool  # the recorded request set stream_options.include_usage
    args_spaced: bool  # the recorded tool-call arguments were written {"a": 1}
    tool_fragments: int = 0  # how many chunks the recorded tool call was spread over

    @classmethod
    def of(cls, exchange: Exchange) -> StreamShape:
        evs = exchange.events
        prelude: list[Event] = []
        tail: list[Event] = []
        head: Mapping[str, Any] | None = None
        first: dict[str, Mapping[str, Any]] = {}
        rest: dict[str, Mapping[str, Any]] = {}
        finish: list[Mapping[str, Any]] = []
        started = False
        tool_fragments = 0
        recorded_id = ""
        arguments = ""
        for event in evs:
            chunk = event.chunk
            choice = first_choice(chunk) if chunk is not None else None
            if chunk is None or choice is None:
                (tail if started else prelude).append(event)
                continue
            if finish and chunk_kind(chunk) != "finish":
                tail.append(event)
                continue
            if not started:
                recorded_id = str(chunk.get("id", ""))
            started = True
            kind = chunk_kind(chunk)
            if kind == "finish":
                finish.append(chunk)
                if (choice.get("delta") or {}).get("tool_calls"):
                    tool_fragments += 1
            elif kind == "head" and head is None and not first:
                head = chunk
            elif kind not in first:
                first[kind] = chunk
            elif kind not in rest:
                rest[kind] = chunk
            if kind == "tool":
                tool_fragments += 1
            for call in (choice.get("delta") or {}).get("tool_calls") or ():
                if isinstance(call, dict):
                    arguments += str((call.get("function") or {}).get("arguments") or "")
        sample = next(iter(first.values()), head) or {}
        running = isinstance(sample.get("usage"), dict)
        return cls(
            content_type=exchange.content_type,
            newline=newline_of(exchange.body),
            spaced=Serialisation.of(exchange.body.split("data:", 1)[-1]).spaced,
            prelude=tuple(prelude),
            head=head,
            first=first,
            rest=rest,
            finish=tuple(finish),
            tail=tuple(tail),
            running_usage=running,
            recorded_id=recorded_id,
            asked_usage=(exchange.request.get("stream_options") or {}).get("include_usage") is True,
            args_spaced=": " in arguments,
            tool_fragments=tool_fragments,
        )

    def template(self, kind: str, later: bool) -> Mapping[str, Any] | None:
        """The chunk template for the next chunk of `kind` (`later`: not the first)."""
        if later and kind in self.rest:
            return self.rest[kind]
        return self.first.get(kind) or self.rest.get(kind)

    @property
    def tool_call_first(self) -> Mapping[str, Any] | None:
        return _tool_call(self.first.get("tool")) or _finish_tool_call(self.finish)

    @property
    def tool_call_rest(self) -> Mapping[str, Any] | None:
        return _tool_call(self.rest.get("tool"))

    def has_done(self) -> bool:
        return any(e.kind == "done" for e in self.tail)


def _tool_call(chunk: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if chunk is None:
        return None
    delta = (first_choice(chunk) or {}).get("delta") or {}
    calls = delta.get("tool_calls")
    return calls[0] if isinstance(calls, list) and calls else None


def _finish_tool_call(finish: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for chunk in finish:
        found = _tool_call(chunk)
        if found is not None:
            return found
    return None
