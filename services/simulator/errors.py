"""Errors in each provider's own shape, taken from the errors it was recorded sending.

`{"error": {"message", "type", "param", "code"}}` is only OpenAI's shape: Mistral sends
`{"object": "error", "message", …}`, Cerebras the unwrapped object, Hugging Face's backends
`{"code", "reason", "message"}`, DeepSeek serves its JSON as application/octet-stream …
A made-up error keeps the recorded body's shape and content type with its own message (and
param and code where the shape has them); a provider with no recorded error gets OpenAI's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.simulator.chat import error_body
from services.simulator.profiles import Book
from services.simulator.recordings import Exchange, events
from services.simulator.render import copy
from services.simulator.shapes import Serialisation

MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "Access to this model is forbidden.",
    404: "The model does not exist or you do not have access to it.",
    408: "Request timed out.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request.",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    504: "Gateway timeout.",
}
TYPES = {401: "invalid_request_error", 403: "permission_error", 429: "rate_limit_error"}
CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
FALLBACK_HTML = (
    "<!DOCTYPE html>\n<html><head><title>{status} Service Unavailable</title></head>\n"
    "<body><h1>{status} Service Unavailable</h1></body></html>\n"
)


@dataclass(frozen=True)
class Canned:
    status: int
    body: bytes
    content_type: str


def shaped(
    book: Book,
    status: int,
    message: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> Canned:
    """An error of `status` in the provider's recorded shape."""
    text = message or MESSAGES.get(status, f"Error {status}.")
    template = book.error_template(status)
    if template is None:
        return Canned(status, error_body(status, text, param), "application/json")
    doc = copy(template.json())
    _fill(doc, text, param, code or CODES.get(status))
    _restatus(doc, template.status, status)
    return Canned(status, _dump_like(doc, template.body).encode(), template.content_type)


def _restatus(doc: dict[str, Any], recorded: int, status: int) -> None:
    """Codes that repeat the HTTP status (OpenRouter's 400, Xiaomi's "400") follow it, and
    an OpenAI-style type follows the status class."""
    for target in (doc, doc.get("error")):
        if not isinstance(target, dict):
            continue
        for key in ("code", "status"):
            if target.get(key) == recorded:
                target[key] = status
            elif target.get(key) == str(recorded):
                target[key] = str(status)
        kind = target.get("type")
        if isinstance(kind, str) and kind.endswith("_error") and status != recorded:
            target["type"] = TYPES.get(status, "server_error" if status >= 500 else kind)


def _fill(doc: dict[str, Any], message: str, param: str | None, code: str | None) -> None:
    target: Any = doc.get("error") if isinstance(doc.get("error"), dict) else doc
    if "metadata" in target and isinstance(target["metadata"], dict):
        target["metadata"] = {}  # OpenRouter's wrapped upstream error belongs to that error
    for key in ("message", "detail", "msg"):
        if isinstance(target.get(key), str):
            target[key] = message
            break
    else:
        if isinstance(doc.get("error"), str):
            doc["error"] = message
        else:
            target["message"] = message
    if "param" in target:
        target["param"] = param
    recorded_code = target.get("code")
    if (isinstance(recorded_code, str) and not recorded_code.isdigit()) or (
        recorded_code is None and "code" in target
    ):
        target["code"] = code  # a named code (OpenAI's) belongs to the recorded error
    for key in ("request_id", "user_id"):  # ids of the recorded call
        if key in doc:
            doc[key] = f"sim-{abs(hash(message)) % 10**12:012d}"


def _dump_like(doc: Any, recorded: str) -> str:
    stripped = recorded.lstrip()
    if stripped.startswith("{\n") or stripped.startswith("{\r\n"):
        second = stripped.split("\n", 2)[1]
        indent = second[: len(second) - len(second.lstrip())] or "  "
        return json.dumps(doc, indent=indent, ensure_ascii=False) + (
            "\n" if recorded.endswith("\n") else ""
        )
    spaced = Serialisation.of(stripped).spaced
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(doc, separators=separators, ensure_ascii=False)


def html_page(books: Mapping[str, Book], status: int) -> Canned:
    """An HTML error page: the one recorded from Hugging Face's proxy, else a plain one."""
    for book in books.values():
        for exchange in book.errors:
            if "text/html" in exchange.content_type:
                return Canned(status, exchange.body.encode(), "text/html")
    return Canned(status, FALLBACK_HTML.format(status=status).encode(), "text/html")


def stream_error_event(book: Book, message: str, newline: str, ids: Mapping[str, Any]) -> bytes:
    """The provider's recorded in-stream error chunk (OpenRouter, Alibaba, llama.cpp …) with
    `message`, or its error body as a data line; `ids` restamps id/model/created."""
    recorded = _recorded_stream_error(book)
    if recorded is None:
        reply = shaped(book, 500, message)
        try:
            doc = json.loads(reply.body)
        except ValueError:
            doc = {"error": {"message": message, "type": "server_error"}}
    else:
        doc = copy(recorded)
        _fill(doc, message, None, None)
        for key, value in ids.items():
            if key in doc:
                doc[key] = value
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return f"data: {data}{newline * 2}".encode()


def _recorded_stream_error(book: Book) -> dict[str, Any] | None:
    for exchange in book.stream_errors:
        for event in events(exchange.body):
            if event.chunk is not None and "error" in event.chunk:
                return dict(event.chunk)
    return None


def echo_key_message(key: str) -> str:
    """What OpenAI-style providers say to a bad key, quoting it (unmasked, on purpose)."""
    return (
        f"Incorrect API key provided: {key}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )


def replay(exchange: Exchange) -> Canned:
    return Canned(exchange.status, exchange.body.encode(), exchange.content_type)
