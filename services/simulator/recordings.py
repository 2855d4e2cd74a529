"""The recorded chat exchanges the simulator answers from (`recordings/chat.json.xz`).

Each exchange is one POST of a go-vcr cassette recorded by the maruel/genai SDK against the
real provider (see recordings/SOURCES.md): the exact JSON body sent, and the exact status,
headers and body bytes returned. Streams are kept as the SSE text the provider sent; `events`
splits one into comments, data chunks and `[DONE]`, remembering its line ending.
"""

from __future__ import annotations

import functools
import json
import lzma
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.simulator.providers import RECORDINGS

CHAT = RECORDINGS / "chat.json.xz"


@dataclass(frozen=True)
class Exchange:
    """One recorded chat call: what the SDK sent and what the provider answered."""

    provider: str
    folder: str  # the recorded model's folder, e.g. "openai__gpt-oss-20b_thinking"
    cassette: str  # what was tested, e.g. "GenStream-Tools-SquareRoot-1"
    request: Mapping[str, Any]  # the JSON body sent
    status: int
    headers: Mapping[str, str]  # response headers (first value of each)
    body: str  # the response body, exactly as received

    @property
    def stream(self) -> bool:
        return self.request.get("stream") is True

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/json")

    @property
    def is_sse(self) -> bool:
        return self.status == 200 and "event-stream" in self.content_type

    @property
    def key(self) -> str:
        """provider/folder/cassette: how tests name an exchange."""
        return f"{self.provider}/{self.folder}/{self.cassette}"

    def json(self) -> Any:
        """The response body decoded (non-stream answers and error bodies)."""
        return json.loads(self.body)

    @functools.cached_property
    def events(self) -> tuple[Event, ...]:
        """A recorded stream's events (empty for other bodies)."""
        return tuple(events(self.body)) if self.is_sse else ()

    @functools.cached_property
    def failed(self) -> bool:
        """An error status, or an HTTP 200 stream that carried an error object."""
        if self.status >= 400:
            return True
        if '"error"' not in self.body:  # spares parsing every chunk
            return False
        if not self.is_sse:  # an HTTP 200 whose body is an error (OpenRouter does that)
            try:
                return isinstance(doc := json.loads(self.body), dict) and "error" in doc
            except ValueError:
                return False
        lines = (line for line in self.body.splitlines() if '"error"' in line)
        return any(e.chunk is not None and "error" in e.chunk for e in events("\n".join(lines)))


@dataclass(frozen=True)
class Event:
    """One SSE line of a recorded stream: a comment, a data chunk, `[DONE]`, or other text."""

    kind: str  # "comment" | "data" | "done" | "other"
    text: str  # the line as sent, without its line ending
    data: Any = None  # the decoded chunk of a "data" event

    @property
    def chunk(self) -> Mapping[str, Any] | None:
        return self.data if self.kind == "data" and isinstance(self.data, dict) else None


def newline_of(body: str) -> str:
    return "\r\n" if "\r\n" in body else "\n"


def events(body: str) -> list[Event]:
    """The events of an SSE body, in order (blank separator lines dropped)."""
    found = []
    for line in body.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        if line.startswith(":"):
            found.append(Event("comment", line))
        elif line.startswith("data:"):
            payload = line[5:].strip()
            if payload == "[DONE]":
                found.append(Event("done", line))
                continue
            try:
                found.append(Event("data", line, json.loads(payload)))
            except ValueError:
                found.append(Event("other", line))
        else:
            found.append(Event("other", line))
    return found


def _first(values: Any) -> str:
    if isinstance(values, list):
        return str(values[0]) if values else ""
    return str(values)


def _exchanges(cassettes: Sequence[Mapping[str, Any]]) -> Iterator[Exchange]:
    for cassette in cassettes:
        for interaction in cassette["interactions"]:
            request, response = interaction["request"], interaction["response"]
            if request.get("method") != "POST":
                continue  # pollinations' cassettes also hold the SDK's GET /models calls
            try:
                sent = json.loads(request.get("body") or "null")
            except ValueError:
                continue
            if not isinstance(sent, dict):
                continue
            yield Exchange(
                provider=cassette["provider"],
                folder=cassette["model"],
                cassette=cassette["cassette"],
                request=sent,
                status=int(response["code"]),
                headers={k: _first(v) for k, v in (response.get("headers") or {}).items()},
                body=response.get("body") or "",
            )


@functools.cache
def load(path: Path = CHAT) -> tuple[Exchange, ...]:
    """Every recorded exchange, in the archive's order (provider, folder, cassette)."""
    return tuple(_exchanges(json.loads(lzma.decompress(path.read_bytes()))))


def by_folder(provider: str, path: Path = CHAT) -> dict[str, dict[str, Exchange]]:
    """folder -> cassette -> exchange, for one provider."""
    folders: dict[str, dict[str, Exchange]] = {}
    for exchange in load(path):
        if exchange.provider == provider:
            folders.setdefault(exchange.folder, {})[exchange.cassette] = exchange
    return folders
