"""The one reading of an OpenAI chat request body the scorer tools share.

``freeway score``, the labelled-prompt loaders and the benchmarks all turn a request (or a
bare ``{"prompt": ...}``) into the kernel's inputs here, and nowhere else. The needs are read
the way the router reads them: ``max_completion_tokens`` / ``max_tokens``, ``tools``
(tools), ``response_format`` json (JSON mode), image parts (vision), ``reasoning_effort`` /
``reasoning`` (reasoning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from native import kernel

Messages = tuple[tuple[str, str], ...]


class RequestError(ValueError):
    """A body that is not a prompt or a chat request; the message names the field."""


@dataclass(frozen=True)
class KernelInputs:
    """What ``kernel.score`` takes from one request."""

    messages: Messages
    max_output_tokens: int
    needs: int


def request_inputs(row: object) -> KernelInputs:
    """The kernel's inputs of one chat request body or ``{"prompt": "..."}``."""
    if not isinstance(row, dict):
        raise RequestError("expected a JSON object")
    if isinstance(row.get("prompt"), str):
        messages: Messages = (("user", row["prompt"]),)
        image = False
    elif isinstance(row.get("messages"), list):
        messages, image = _messages(row["messages"])
    else:
        raise RequestError("needs 'prompt' (a string) or 'messages' (a list)")
    needs = _needs(row) | (kernel.CAP_VISION if image else 0)
    return KernelInputs(messages, _max_output(row), needs)


def _messages(rows: list[Any]) -> tuple[Messages, bool]:
    messages, image = [], False
    for i, message in enumerate(rows):
        if not isinstance(message, dict):
            raise RequestError(f"messages[{i}]: expected an object")
        role = message.get("role", "user")
        if not isinstance(role, str):
            raise RequestError(f"messages[{i}].role: expected a string")
        text, has_image = _text(message.get("content"), f"messages[{i}]")
        image = image or has_image
        messages.append((role, text))
    return tuple(messages), image


def _text(content: object, where: str) -> tuple[str, bool]:
    """A message's text (text parts joined by newlines), and whether it carries an image."""
    if content is None or isinstance(content, str):
        return content or "", False
    if not isinstance(content, list):
        raise RequestError(f"{where}.content: expected a string or a list of parts")
    texts, image = [], False
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise RequestError(f"{where}.content[{j}]: expected an object")
        if part.get("type") in ("image_url", "input_image", "image"):
            image = True
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "text":
            raise RequestError(f"{where}.content[{j}].text: expected a string")
    return "\n".join(texts), image


def _max_output(row: dict[str, Any]) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = row.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
            raise RequestError(f"{key}: expected a non-negative integer below 2**63")
        return value
    return 0


def _needs(row: dict[str, Any]) -> int:
    needs = kernel.CAP_TOOLS if row.get("tools") else 0
    response_format = row.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        needs |= kernel.CAP_JSON
    if row.get("reasoning_effort") or row.get("reasoning"):
        needs |= kernel.CAP_REASONING
    return needs
