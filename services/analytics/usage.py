"""Usage events and their totals (DESIGN.md "Analytics"): plain Python, no grpc, no SQL.

A usage event is what the router records for every chat request, success or failure.
`validate_batch` is the one rule book for what the store accepts; its errors name the
field and the event's index in the batch (`events[3].event_id: required`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.shared.errors import InvalidArgument

MAX_EVENT_ID = 128
MAX_NAME = 512  # model, provider, key and request ids
MAX_ERROR = 8192


class UsageStatus(enum.StrEnum):
    UNSPECIFIED = ""
    OK = "ok"
    ERROR = "error"
    CANCELLED = "cancelled"


class Strategy(enum.StrEnum):
    UNSPECIFIED = ""
    FREE_FIRST = "free-first"
    COST = "cost"
    QUALITY = "quality"
    LATENCY = "latency"
    HYBRID = "hybrid"
    CASCADE = "cascade"


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One chat request's usage. `time` is None only when the sender left it unset
    (which validation rejects); costs are USD."""

    event_id: str
    time: datetime | None = None
    key_id: str = ""
    request_id: str = ""
    requested_model: str = ""
    served_model: str = ""
    provider: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    attempts: int = 0
    cache_hit: bool = False
    status: UsageStatus = UsageStatus.UNSPECIFIED
    complexity: float = 0.0
    strategy: Strategy = Strategy.UNSPECIFIED
    error: str = ""
    stream: bool = False


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What one stored batch did: events newly stored, and events already present."""

    stored: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class ModelTotals:
    """Aggregated usage of one served model (or of everything, for the overall total)."""

    model: str
    provider: str
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0

    @property
    def savings_usd(self) -> float:
        """What the baseline model would have cost, minus what was actually paid."""
        return self.baseline_cost_usd - self.cost_usd


@dataclass(frozen=True, slots=True)
class Summary:
    models: tuple[ModelTotals, ...]
    total: ModelTotals

    @classmethod
    def of(cls, models: Iterable[ModelTotals]) -> Summary:
        """Per-model totals plus their sum."""
        rows = tuple(models)
        total = ModelTotals(
            model="",
            provider="",
            requests=sum(m.requests for m in rows),
            errors=sum(m.errors for m in rows),
            prompt_tokens=sum(m.prompt_tokens for m in rows),
            completion_tokens=sum(m.completion_tokens for m in rows),
            cost_usd=math.fsum(m.cost_usd for m in rows),
            baseline_cost_usd=math.fsum(m.baseline_cost_usd for m in rows),
        )
        return cls(rows, total)


def validate_batch(events: Sequence[UsageEvent], max_events: int) -> None:
    """Raise InvalidArgument naming the first bad field (with the event's index)."""
    if len(events) > max_events:
        raise InvalidArgument(
            f"at most {max_events} events per batch, got {len(events)}", field="events"
        )
    for index, event in enumerate(events):
        problem = event_problem(event)
        if problem:
            name, message = problem
            raise InvalidArgument(message, field=f"events[{index}].{name}")


def event_problem(event: UsageEvent) -> tuple[str, str] | None:
    """The first (field, message) that makes `event` unacceptable, or None."""
    if not event.event_id:
        return "event_id", "required"
    if len(event.event_id) > MAX_EVENT_ID:
        return "event_id", f"at most {MAX_EVENT_ID} characters, got {len(event.event_id)}"
    if event.time is None:
        return "time", "required"
    for name in ("prompt_tokens", "completion_tokens", "attempts"):
        if getattr(event, name) < 0:
            return name, f"must be >= 0, got {getattr(event, name)}"
    for name in ("cost_usd", "baseline_cost_usd", "latency_ms", "ttft_ms"):
        value = getattr(event, name)
        if not (math.isfinite(value) and value >= 0):
            return name, f"must be a finite number >= 0, got {value}"
    if not math.isfinite(event.complexity):
        return "complexity", f"must be a finite number, got {event.complexity}"
    return _text_problem(event)


def _text_problem(event: UsageEvent) -> tuple[str, str] | None:
    for name in ("key_id", "request_id", "requested_model", "served_model", "provider"):
        if len(getattr(event, name)) > MAX_NAME:
            return name, f"at most {MAX_NAME} characters"
    if len(event.error) > MAX_ERROR:
        return "error", f"at most {MAX_ERROR} characters"
    return None


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until): unset since is the beginning of time, unset until is now."""
    start = since or datetime.min.replace(tzinfo=UTC)
    end = until or datetime.now(UTC)
    if end < start:
        raise InvalidArgument("must not be before since", field="until")
    return start, end
