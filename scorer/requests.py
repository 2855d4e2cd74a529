"""The scorer tools' view of a chat request: the router's one reader of it.

``freeway score``, the labelled-prompt loaders and the benchmarks turn a request (or a bare
``{"prompt": ...}``) into the kernel's inputs here, through `services.router.request` —
the same reading the router does, so a prompt scores the same in the tools and in traffic.
Fields beside the request (a labelled file's labels) are passed over.
"""

from __future__ import annotations

from dataclasses import dataclass

from native import kernel
from services.router.request import JSON_SCHEMA, read_body
from services.shared.errors import InvalidArgument

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
    if isinstance(row.get("prompt"), str) and "messages" not in row:
        prompt = row["prompt"]
        row = {k: v for k, v in row.items() if k != "prompt"}
        row["messages"] = [{"role": "user", "content": prompt}]
    if "messages" not in row:
        raise RequestError("needs 'prompt' (a string) or 'messages' (a list)")
    try:
        chat = read_body(row, others=True)
    except InvalidArgument as exc:
        raise RequestError(str(exc)) from None
    return KernelInputs(chat.messages, chat.max_tokens or 0, score_needs(chat.needs))


def score_needs(needs: int) -> int:
    """The needs the kernel scores on: a JSON schema is JSON output too."""
    return needs | kernel.CAP_JSON if needs & JSON_SCHEMA else needs
