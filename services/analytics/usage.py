"""Usage events and their totals (DESIGN.md "Analytics"): plain Python, no grpc, no SQL.

A usage event is what the router records for every chat request, success or failure. A
batch travels column by column (`UsageBatch`): ingest is the hot path, and checking one
column at a time with builtins (`min`, `max`, `sum`) costs a fraction of checking event by
event. `validate_batch` is the one rule book for what the store accepts; its errors name
the field and the index of the first bad event (`events[3].event_id: required`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from services.analytics import histogram
from services.shared.errors import InvalidArgument

MAX_EVENT_ID = 128
MAX_NAME = 512  # model, provider, key, team and request ids, escalation reasons
MAX_ERROR = 8192
MAX_FEATURES = 1024  # float64 values in one feature vector
FEATURE_BYTES = 8  # little-endian float64


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
    """One chat request's usage. `time` is None only when the sender left it unset (which
    validation rejects). Costs are USD; None means unknown (an unpriced model), which is
    never read as $0. `capabilities` are names ("tools", "vision", ...), sorted."""

    event_id: str
    time: datetime | None = None
    key_id: str = ""
    team_id: str = ""
    request_id: str = ""
    requested_model: str = ""
    served_model: str = ""
    provider: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None
    baseline_cost_usd: float | None = None
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    attempts: int = 0
    cache_hit: bool = False
    status: UsageStatus = UsageStatus.UNSPECIFIED
    complexity: float = 0.0
    strategy: Strategy = Strategy.UNSPECIFIED
    error: str = ""
    stream: bool = False
    escalations: int = 0
    escalation_reason: str = ""
    features: bytes = b""
    capabilities: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        """The model usage is counted against: the served one, else the requested one."""
        return self.served_model or self.requested_model


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(UsageEvent))


@dataclass(frozen=True, slots=True)
class UsageBatch:
    """Events column by column: `columns[name][i]` is field `name` of event i, in the order
    of `FIELDS`. Build one with `of(events)` or, on the hot path, straight from columns."""

    columns: dict[str, list[Any]]

    @classmethod
    def of(cls, events: Iterable[UsageEvent]) -> UsageBatch:
        rows = [tuple(getattr(e, name) for name in FIELDS) for e in events]
        if not rows:
            return cls({name: [] for name in FIELDS})
        return cls(
            {
                name: list(column)
                for name, column in zip(FIELDS, zip(*rows, strict=True), strict=True)
            }
        )

    def __len__(self) -> int:
        return len(self.columns["event_id"])

    def __getitem__(self, name: str) -> list[Any]:
        return self.columns[name]

    def column(self, name: str) -> list[Any]:
        """A field's column, or a derived one, computed once: `latency_bin`, `ttft_bin`
        (None without a first token) and `model` (served, else requested)."""
        found = self.columns.get(name)
        if found is None:
            found = self.columns[name] = _DERIVED[name](self)
        return found

    def event(self, index: int) -> UsageEvent:
        return UsageEvent(**{name: self.columns[name][index] for name in FIELDS})

    def events(self) -> list[UsageEvent]:
        return [self.event(i) for i in range(len(self))]

    def subset(self, indices: Sequence[int]) -> UsageBatch:
        return UsageBatch({n: [self.columns[n][i] for i in indices] for n in FIELDS})


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What one stored batch did: events newly stored, and events already present.
    `new` holds the indices (in the batch) of the newly stored events."""

    stored: int
    duplicates: int
    new: tuple[int, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ModelTotals:
    """Aggregated usage of one served model (or of everything, for the overall total).
    `cost_usd` sums the known costs; `baseline_cost_usd` is the recorded baseline of the
    requests whose cost and baseline are both known, so that the saving compares like with
    like (`savings_usd` is their difference); `unpriced_requests` had no known cost and are
    in none of these sums."""

    model: str
    provider: str
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    savings_usd: float = 0.0
    unpriced_requests: int = 0


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
            savings_usd=math.fsum(m.savings_usd for m in rows),
            unpriced_requests=sum(m.unpriced_requests for m in rows),
        )
        return cls(rows, total)


Problem = tuple[int, str, str]  # (event index, field, message)
_Rule = Callable[[UsageBatch], Problem | None]


def validate_batch(batch: UsageBatch, max_events: int) -> None:
    """Raise InvalidArgument naming the first bad event's first bad field."""
    if len(batch) > max_events:
        raise InvalidArgument(
            f"at most {max_events} events per batch, got {len(batch)}", field="events"
        )
    problem = batch_problem(batch)
    if problem is not None:
        index, name, message = problem
        raise InvalidArgument(message, field=f"events[{index}].{name}")


def batch_problem(batch: UsageBatch) -> Problem | None:
    """The (index, field, message) of the first bad event's first bad field, or None.
    Each rule scans one column; the earliest event wins, then the earliest field."""
    if not len(batch):
        return None
    found = [p for p in (rule(batch) for rule in _RULES) if p is not None]
    if not found:
        return None
    order = {name: i for i, name in enumerate(FIELDS)}
    return min(found, key=lambda p: (p[0], order[p[1]]))


def event_problem(event: UsageEvent) -> tuple[str, str] | None:
    """The first (field, message) that makes `event` unacceptable, or None."""
    problem = batch_problem(UsageBatch.of([event]))
    return None if problem is None else (problem[1], problem[2])


def _first(column: Sequence[Any], bad: Callable[[Any], bool]) -> int:
    return next(i for i, value in enumerate(column) if bad(value))


def _required_id(batch: UsageBatch) -> Problem | None:
    ids = batch["event_id"]
    if not all(ids):
        return _first(ids, lambda v: not v), "event_id", "required"
    if max(map(len, ids)) > MAX_EVENT_ID:
        i = _first(ids, lambda v: len(v) > MAX_EVENT_ID)
        return i, "event_id", f"at most {MAX_EVENT_ID} characters, got {len(ids[i])}"
    return None


def _required_time(batch: UsageBatch) -> Problem | None:
    times = batch["time"]
    if None in times:
        return times.index(None), "time", "required"
    return None


def _counts(name: str) -> _Rule:
    def rule(batch: UsageBatch) -> Problem | None:
        column = batch[name]
        if min(column) < 0:
            i = _first(column, lambda v: v < 0)
            return i, name, f"must be >= 0, got {column[i]}"
        return None

    return rule


def _amounts(name: str, *, optional: bool = False, signed: bool = False) -> _Rule:
    """Finite numbers (>= 0 unless `signed`); None (unknown) allowed when `optional`."""

    def bad(value: float | None) -> bool:
        if value is None:
            return not optional
        return not math.isfinite(value) or (not signed and value < 0)

    def rule(batch: UsageBatch) -> Problem | None:
        column = batch[name]
        known = [v for v in column if v is not None] if optional else column
        # Fast path: a NaN or an infinity makes the sum non-finite.
        if math.isfinite(sum(known)) and (signed or not known or min(known) >= 0):
            return None
        if not any(map(bad, column)):
            return None  # the sum overflowed, yet every value is fine
        i = _first(column, bad)
        kind = "a finite number" if signed else "a finite number >= 0"
        return i, name, f"must be {kind}, got {column[i]}"

    return rule


def _texts(name: str, limit: int) -> _Rule:
    def rule(batch: UsageBatch) -> Problem | None:
        column = batch[name]
        if max(map(len, column)) > limit:
            return _first(column, lambda v: len(v) > limit), name, f"at most {limit} characters"
        return None

    return rule


def _features(batch: UsageBatch) -> Problem | None:
    column = batch["features"]
    limit = MAX_FEATURES * FEATURE_BYTES
    if max(map(len, column)) > limit or any(len(v) % FEATURE_BYTES for v in column):
        i = _first(column, lambda v: len(v) > limit or len(v) % FEATURE_BYTES != 0)
        return (
            i,
            "features",
            (
                f"expected whole little-endian float64 values, at most {MAX_FEATURES},"
                f" got {len(column[i])} bytes"
            ),
        )
    return None


_RULES: tuple[_Rule, ...] = (
    _required_id,
    _required_time,
    *(_counts(n) for n in ("prompt_tokens", "completion_tokens", "cached_tokens")),
    *(_counts(n) for n in ("reasoning_tokens", "attempts", "escalations")),
    _amounts("cost_usd", optional=True),
    _amounts("baseline_cost_usd", optional=True),
    _amounts("latency_ms"),
    _amounts("ttft_ms"),
    _amounts("complexity", signed=True),
    *(_texts(n, MAX_NAME) for n in ("key_id", "team_id", "request_id", "requested_model")),
    *(_texts(n, MAX_NAME) for n in ("served_model", "provider", "escalation_reason")),
    _texts("error", MAX_ERROR),
    _features,
)


_DERIVED: dict[str, Callable[[UsageBatch], list[Any]]] = {
    "latency_bin": lambda b: histogram.bins_of(b["latency_ms"]),
    "ttft_bin": lambda b: [histogram.bin_of(v) if v > 0 else None for v in b["ttft_ms"]],
    "model": lambda b: [
        s or r for s, r in zip(b["served_model"], b["requested_model"], strict=True)
    ],
}


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until): unset since is the beginning of time, unset until is now."""
    start = since or datetime.min.replace(tzinfo=UTC)
    end = until or datetime.now(UTC)
    if end < start:
        raise InvalidArgument("must not be before since", field="until")
    return start, end
