"""Usage records: what every completion request cost, what it would have cost on the
baseline model, and the token estimates used when a provider does not report usage."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from services.router.catalogue import ModelInfo

_CHARS_PER_TOKEN = 4


class Status(enum.IntEnum):
    """Same numbers as the proto `UsageStatus`."""

    OK = 1
    ERROR = 2
    CANCELLED = 3


@dataclass(frozen=True)
class Prices:
    """USD per million tokens (and per request) of a price list such as the baseline model."""

    input_per_mtok: float
    output_per_mtok: float
    per_request: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        tokens = prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        return tokens / 1e6 + self.per_request


def model_cost(model: ModelInfo, prompt_tokens: int, completion_tokens: int) -> float | None:
    """What the call cost on `model`: 0 when free; None when a token price is unknown (an
    unknown price is recorded as unknown, never as $0). No stated per-request price means
    no per-request fee."""
    if model.is_free:
        return 0.0
    if model.input_price is None or model.output_price is None:
        return None
    prices = Prices(model.input_price, model.output_price, model.request_price or 0.0)
    return prices.cost(prompt_tokens, completion_tokens)


def estimate_tokens(chars: int) -> int:
    """A rough token count of `chars` characters of text (about four characters per token),
    for replies whose provider stated no usage."""
    return (chars + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


@dataclass(frozen=True)
class UsageRecord:
    """One request's usage, success or failure; the domain twin of the proto UsageEvent."""

    event_id: str
    time: float  # epoch seconds
    key_id: str
    request_id: str
    requested_model: str
    served_model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None: the price is unknown (wire leaves the field unset)
    baseline_cost_usd: float | None
    latency_ms: float
    ttft_ms: float
    attempts: int
    status: Status
    complexity: float
    strategy: int
    error: str = ""
    stream: bool = False
    cache_hit: bool = False


class UsageSink(Protocol):
    """Where usage records go (the reporter); `submit` never blocks and never drops."""

    def submit(self, record: UsageRecord) -> None: ...
