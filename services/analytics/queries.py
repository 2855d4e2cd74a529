"""What the usage queries ask, validated (plain Python: no grpc, no SQL).

Each query is a frozen object built by one function that checks every field and raises
InvalidArgument naming it the way the request message does (`group_by[1]`,
`filter.models`, `percentiles[0]`). Limits are stated here, once.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.analytics.usage import MAX_NAME, Strategy, UsageStatus
from services.shared.errors import InvalidArgument

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
MAX_BUCKETS = 3000  # a timeseries: e.g. 125 days by the hour, 2 days by the minute
MAX_POINTS = 10_000  # over every series of one answer (keeps it well under 4 MB)
DEFAULT_SERIES = 100
MAX_SERIES = 1000
DEFAULT_PERCENTILES = (50.0, 95.0, 99.0)
MAX_PERCENTILES = 10
MAX_FILTER_VALUES = 100
MAX_REQUEST_LIST = 1000
DEFAULT_SAVINGS_SPAN = timedelta(days=30)
DEFAULT_LOOKBACK_DAYS = 14
MAX_LOOKBACK_DAYS = 90
MAX_QUOTAS = 1000
MAX_PRICE = 1e6  # USD per million tokens or per request: anything above is a typo


class Granularity(enum.StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def step(self) -> timedelta:
        return _STEPS[self]


_STEPS = {
    Granularity.MINUTE: timedelta(minutes=1),
    Granularity.HOUR: timedelta(hours=1),
    Granularity.DAY: timedelta(days=1),
}
_DEFAULT_SPAN = {
    Granularity.MINUTE: timedelta(hours=1),
    Granularity.HOUR: timedelta(days=1),
    Granularity.DAY: timedelta(days=30),
}


class Dimension(enum.StrEnum):
    """What usage is grouped and filtered by. MODEL is the served model, else the
    requested one."""

    MODEL = "model"
    PROVIDER = "provider"
    KEY = "key"
    TEAM = "team"
    STRATEGY = "strategy"
    STATUS = "status"


def floor(when: datetime, grain: Granularity) -> datetime:
    """The start of the UTC bucket holding `when`."""
    step = grain.step
    return EPOCH + ((when - EPOCH) // step) * step


def ceil(when: datetime, grain: Granularity) -> datetime:
    start = floor(when, grain)
    return start if start == when else start + grain.step


@dataclass(frozen=True)
class UsageFilter:
    """Every non-empty list must match (values ORed within a list, lists ANDed)."""

    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    key_ids: tuple[str, ...] = ()
    team_ids: tuple[str, ...] = ()
    strategies: tuple[Strategy, ...] = ()
    statuses: tuple[UsageStatus, ...] = ()

    def by_dimension(self) -> dict[Dimension, tuple[str, ...]]:
        """The lists that restrict anything, by dimension, as stored text."""
        lists = {
            Dimension.MODEL: self.models,
            Dimension.PROVIDER: self.providers,
            Dimension.KEY: self.key_ids,
            Dimension.TEAM: self.team_ids,
            Dimension.STRATEGY: tuple(s.value for s in self.strategies),
            Dimension.STATUS: tuple(s.value for s in self.statuses),
        }
        return {d: values for d, values in lists.items() if values}


def usage_filter(
    *,
    models: Sequence[str] = (),
    providers: Sequence[str] = (),
    key_ids: Sequence[str] = (),
    team_ids: Sequence[str] = (),
    strategies: Sequence[Strategy] = (),
    statuses: Sequence[UsageStatus] = (),
) -> UsageFilter:
    texts = {"models": models, "providers": providers, "key_ids": key_ids, "team_ids": team_ids}
    for name, values in texts.items():
        _check_list(f"filter.{name}", values)
        for i, value in enumerate(values):
            if not value or len(value) > MAX_NAME:
                raise InvalidArgument(
                    f"expected 1 to {MAX_NAME} characters", field=f"filter.{name}[{i}]"
                )
    _check_list("filter.strategies", strategies)
    _check_list("filter.statuses", statuses)
    return UsageFilter(
        tuple(dict.fromkeys(models)),
        tuple(dict.fromkeys(providers)),
        tuple(dict.fromkeys(key_ids)),
        tuple(dict.fromkeys(team_ids)),
        tuple(dict.fromkeys(strategies)),
        tuple(dict.fromkeys(statuses)),
    )


def _check_list(name: str, values: Sequence[object]) -> None:
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidArgument(f"at most {MAX_FILTER_VALUES} values, got {len(values)}", field=name)


def group_by(dimensions: Sequence[Dimension]) -> tuple[Dimension, ...]:
    seen: list[Dimension] = []
    for i, dimension in enumerate(dimensions):
        if dimension in seen:
            raise InvalidArgument(f"{dimension} is listed twice", field=f"group_by[{i}]")
        seen.append(dimension)
    return tuple(seen)


@dataclass(frozen=True)
class Timeseries:
    """A validated timeseries query: [since, until) in whole buckets of `granularity`."""

    since: datetime
    until: datetime
    granularity: Granularity
    group_by: tuple[Dimension, ...] = ()
    filter: UsageFilter = field(default_factory=UsageFilter)
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    max_series: int = DEFAULT_SERIES

    @property
    def buckets(self) -> int:
        return (self.until - self.since) // self.granularity.step


def timeseries(
    *,
    since: datetime | None,
    until: datetime | None,
    granularity: Granularity,
    now: datetime,
    group_by_: Sequence[Dimension] = (),
    filter_: UsageFilter | None = None,
    percentiles: Sequence[float] = (),
    max_series: int = 0,
) -> Timeseries:
    end = ceil(until or now, granularity)
    start = floor(since, granularity) if since else end - _DEFAULT_SPAN[granularity]
    if end < start:
        raise InvalidArgument("must not be before since", field="until")
    query = Timeseries(
        start,
        end,
        granularity,
        group_by(group_by_),
        filter_ or UsageFilter(),
        _percentiles(percentiles),
        _max_series(max_series),
    )
    if query.buckets > MAX_BUCKETS:
        raise InvalidArgument(
            f"{query.buckets} {granularity} buckets from since to until; at most"
            f" {MAX_BUCKETS}: shorten the range or use a coarser granularity",
            field="since",
        )
    return query


def _percentiles(values: Sequence[float]) -> tuple[float, ...]:
    if not values:
        return DEFAULT_PERCENTILES
    if len(values) > MAX_PERCENTILES:
        raise InvalidArgument(
            f"at most {MAX_PERCENTILES} values, got {len(values)}", field="percentiles"
        )
    for i, value in enumerate(values):
        if not (math.isfinite(value) and 0 < value <= 100):
            raise InvalidArgument(f"expected 0 < p <= 100, got {value}", field=f"percentiles[{i}]")
    return tuple(values)


def _max_series(value: int) -> int:
    if value > MAX_SERIES:
        raise InvalidArgument(f"at most {MAX_SERIES}, got {value}", field="max_series")
    return value or DEFAULT_SERIES


def exact_range(
    since: datetime | None, until: datetime | None, now: datetime, default_span: timedelta | None
) -> tuple[datetime, datetime]:
    """[since, until) as asked: unset until is now; unset since is `default_span` before
    until (or the beginning of time)."""
    end = until or now
    start = since or (end - default_span if default_span else BEGINNING)
    if end < start:
        raise InvalidArgument("must not be before since", field="until")
    return start, end


@dataclass(frozen=True)
class Baseline:
    """Prices to compare against (USD per million tokens, and per request)."""

    model: str
    input_per_mtok: float
    output_per_mtok: float
    per_request: float = 0.0

    def cost(self, requests: int, prompt_tokens: int, completion_tokens: int) -> float:
        tokens = prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        return tokens / 1e6 + requests * self.per_request


def baseline(
    model: str, input_per_mtok: float, output_per_mtok: float, per_request: float
) -> Baseline:
    if len(model) > MAX_NAME:
        raise InvalidArgument(f"at most {MAX_NAME} characters", field="baseline.model")
    prices = {
        "input_per_mtok": input_per_mtok,
        "output_per_mtok": output_per_mtok,
        "per_request": per_request,
    }
    for name, value in prices.items():
        if not (math.isfinite(value) and 0 <= value <= MAX_PRICE):
            raise InvalidArgument(
                f"expected a price from 0 to {MAX_PRICE:g} USD, got {value}",
                field=f"baseline.{name}",
            )
    return Baseline(model, input_per_mtok, output_per_mtok, per_request)


@dataclass(frozen=True)
class Savings:
    since: datetime
    until: datetime
    filter: UsageFilter = field(default_factory=UsageFilter)
    group_by: tuple[Dimension, ...] = ()
    baseline: Baseline | None = None  # None: the baseline recorded with each request
    request_limit: int = 0


def savings(
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    filter_: UsageFilter | None = None,
    group_by_: Sequence[Dimension] = (),
    baseline_: Baseline | None = None,
    request_limit: int = 0,
) -> Savings:
    start, end = exact_range(since, until, now, DEFAULT_SAVINGS_SPAN)
    if request_limit > MAX_REQUEST_LIST:
        raise InvalidArgument(
            f"at most {MAX_REQUEST_LIST}, got {request_limit}", field="request_limit"
        )
    return Savings(
        start, end, filter_ or UsageFilter(), group_by(group_by_), baseline_, request_limit
    )


@dataclass(frozen=True)
class Quota:
    model: str
    requests_per_day: int = 0
    tokens_per_day: int = 0


@dataclass(frozen=True)
class Forecast:
    as_of: datetime
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    filter: UsageFilter = field(default_factory=UsageFilter)
    quotas: tuple[Quota, ...] = ()


def forecast(
    *,
    as_of: datetime | None,
    now: datetime,
    lookback_days: int = 0,
    filter_: UsageFilter | None = None,
    quotas: Sequence[Quota] = (),
) -> Forecast:
    if lookback_days > MAX_LOOKBACK_DAYS:
        raise InvalidArgument(
            f"at most {MAX_LOOKBACK_DAYS}, got {lookback_days}", field="lookback_days"
        )
    if len(quotas) > MAX_QUOTAS:
        raise InvalidArgument(f"at most {MAX_QUOTAS}, got {len(quotas)}", field="quotas")
    for i, quota in enumerate(quotas):
        if not quota.model or len(quota.model) > MAX_NAME:
            raise InvalidArgument(
                f"expected 1 to {MAX_NAME} characters", field=f"quotas[{i}].model"
            )
        for name in ("requests_per_day", "tokens_per_day"):
            if getattr(quota, name) < 0:
                raise InvalidArgument(
                    f"must be >= 0, got {getattr(quota, name)}", field=f"quotas[{i}].{name}"
                )
    return Forecast(
        as_of or now,
        lookback_days or DEFAULT_LOOKBACK_DAYS,
        filter_ or UsageFilter(),
        tuple({q.model: q for q in quotas}.values()),
    )


class ExportFormat(enum.StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True)
class Export:
    since: datetime
    until: datetime
    filter: UsageFilter = field(default_factory=UsageFilter)
    format: ExportFormat = ExportFormat.JSONL
    include_feedback: bool = False
    include_features: bool = False
    limit: int = 0  # 0: every row


def export(
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    filter_: UsageFilter | None = None,
    format_: ExportFormat = ExportFormat.JSONL,
    include_feedback: bool = False,
    include_features: bool = False,
    limit: int = 0,
) -> Export:
    start, end = exact_range(since, until, now, None)
    return Export(
        start, end, filter_ or UsageFilter(), format_, include_feedback, include_features, limit
    )


MIN_INTERVAL_MS = 100
MAX_INTERVAL_MS = 60_000
DEFAULT_INTERVAL_MS = 1000
MAX_WINDOW_S = 300
DEFAULT_WINDOW_S = 10


@dataclass(frozen=True)
class Watch:
    interval_ms: int = DEFAULT_INTERVAL_MS
    window_s: int = DEFAULT_WINDOW_S


def watch(interval_ms: int, window_s: int) -> Watch:
    interval_ms = interval_ms or DEFAULT_INTERVAL_MS
    window_s = window_s or DEFAULT_WINDOW_S
    if not MIN_INTERVAL_MS <= interval_ms <= MAX_INTERVAL_MS:
        raise InvalidArgument(
            f"expected {MIN_INTERVAL_MS} to {MAX_INTERVAL_MS} ms, got {interval_ms}",
            field="interval_ms",
        )
    if window_s > MAX_WINDOW_S:
        raise InvalidArgument(f"expected 1 to {MAX_WINDOW_S} s, got {window_s}", field="window_s")
    return Watch(interval_ms, window_s)
