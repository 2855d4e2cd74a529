import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from freeway.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_STATUS_UNSPECIFIED: _ClassVar[UsageStatus]
    USAGE_STATUS_OK: _ClassVar[UsageStatus]
    USAGE_STATUS_ERROR: _ClassVar[UsageStatus]
    USAGE_STATUS_CANCELLED: _ClassVar[UsageStatus]

class Granularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANULARITY_UNSPECIFIED: _ClassVar[Granularity]
    GRANULARITY_MINUTE: _ClassVar[Granularity]
    GRANULARITY_HOUR: _ClassVar[Granularity]
    GRANULARITY_DAY: _ClassVar[Granularity]

class UsageDimension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_DIMENSION_UNSPECIFIED: _ClassVar[UsageDimension]
    USAGE_DIMENSION_MODEL: _ClassVar[UsageDimension]
    USAGE_DIMENSION_PROVIDER: _ClassVar[UsageDimension]
    USAGE_DIMENSION_KEY: _ClassVar[UsageDimension]
    USAGE_DIMENSION_TEAM: _ClassVar[UsageDimension]
    USAGE_DIMENSION_STRATEGY: _ClassVar[UsageDimension]
    USAGE_DIMENSION_STATUS: _ClassVar[UsageDimension]

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_JSONL: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CSV: _ClassVar[ExportFormat]

class FeedbackSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_SOURCE_UNSPECIFIED: _ClassVar[FeedbackSource]
    FEEDBACK_SOURCE_APPLICATION: _ClassVar[FeedbackSource]
    FEEDBACK_SOURCE_JUDGE: _ClassVar[FeedbackSource]

class Thumb(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    THUMB_UNSPECIFIED: _ClassVar[Thumb]
    THUMB_UP: _ClassVar[Thumb]
    THUMB_DOWN: _ClassVar[Thumb]
USAGE_STATUS_UNSPECIFIED: UsageStatus
USAGE_STATUS_OK: UsageStatus
USAGE_STATUS_ERROR: UsageStatus
USAGE_STATUS_CANCELLED: UsageStatus
GRANULARITY_UNSPECIFIED: Granularity
GRANULARITY_MINUTE: Granularity
GRANULARITY_HOUR: Granularity
GRANULARITY_DAY: Granularity
USAGE_DIMENSION_UNSPECIFIED: UsageDimension
USAGE_DIMENSION_MODEL: UsageDimension
USAGE_DIMENSION_PROVIDER: UsageDimension
USAGE_DIMENSION_KEY: UsageDimension
USAGE_DIMENSION_TEAM: UsageDimension
USAGE_DIMENSION_STRATEGY: UsageDimension
USAGE_DIMENSION_STATUS: UsageDimension
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_JSONL: ExportFormat
EXPORT_FORMAT_CSV: ExportFormat
FEEDBACK_SOURCE_UNSPECIFIED: FeedbackSource
FEEDBACK_SOURCE_APPLICATION: FeedbackSource
FEEDBACK_SOURCE_JUDGE: FeedbackSource
THUMB_UNSPECIFIED: Thumb
THUMB_UP: Thumb
THUMB_DOWN: Thumb

class UsageEvent(_message.Message):
    __slots__ = ("event_id", "time", "key_id", "request_id", "requested_model", "served_model", "provider", "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd", "latency_ms", "ttft_ms", "attempts", "cache_hit", "status", "complexity", "strategy", "error", "stream", "team_id", "cached_tokens", "reasoning_tokens", "escalations", "escalation_reason", "features", "capabilities")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MODEL_FIELD_NUMBER: _ClassVar[int]
    SERVED_MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_REASON_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    time: _timestamp_pb2.Timestamp
    key_id: str
    request_id: str
    requested_model: str
    served_model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    baseline_cost_usd: float
    latency_ms: float
    ttft_ms: float
    attempts: int
    cache_hit: bool
    status: UsageStatus
    complexity: float
    strategy: _common_pb2.Strategy
    error: str
    stream: bool
    team_id: str
    cached_tokens: int
    reasoning_tokens: int
    escalations: int
    escalation_reason: str
    features: bytes
    capabilities: _containers.RepeatedScalarFieldContainer[_common_pb2.Capability]
    def __init__(self, event_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_id: _Optional[str] = ..., request_id: _Optional[str] = ..., requested_model: _Optional[str] = ..., served_model: _Optional[str] = ..., provider: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., baseline_cost_usd: _Optional[float] = ..., latency_ms: _Optional[float] = ..., ttft_ms: _Optional[float] = ..., attempts: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., status: _Optional[_Union[UsageStatus, str]] = ..., complexity: _Optional[float] = ..., strategy: _Optional[_Union[_common_pb2.Strategy, str]] = ..., error: _Optional[str] = ..., stream: _Optional[bool] = ..., team_id: _Optional[str] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., escalations: _Optional[int] = ..., escalation_reason: _Optional[str] = ..., features: _Optional[bytes] = ..., capabilities: _Optional[_Iterable[_Union[_common_pb2.Capability, str]]] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("sequence", "events")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    events: _containers.RepeatedCompositeFieldContainer[UsageEvent]
    def __init__(self, sequence: _Optional[int] = ..., events: _Optional[_Iterable[_Union[UsageEvent, _Mapping]]] = ...) -> None: ...

class IngestAck(_message.Message):
    __slots__ = ("sequence", "stored", "duplicates")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    stored: int
    duplicates: int
    def __init__(self, sequence: _Optional[int] = ..., stored: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class SummaryRequest(_message.Message):
    __slots__ = ("since", "until")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelTotals(_message.Message):
    __slots__ = ("model", "provider", "requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd", "savings_usd", "unpriced_requests")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVINGS_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    baseline_cost_usd: float
    savings_usd: float
    unpriced_requests: int
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., baseline_cost_usd: _Optional[float] = ..., savings_usd: _Optional[float] = ..., unpriced_requests: _Optional[int] = ...) -> None: ...

class SummaryResponse(_message.Message):
    __slots__ = ("models", "total")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelTotals]
    total: ModelTotals
    def __init__(self, models: _Optional[_Iterable[_Union[ModelTotals, _Mapping]]] = ..., total: _Optional[_Union[ModelTotals, _Mapping]] = ...) -> None: ...

class UsageFilter(_message.Message):
    __slots__ = ("models", "providers", "key_ids", "team_ids", "strategies", "statuses")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    providers: _containers.RepeatedScalarFieldContainer[str]
    key_ids: _containers.RepeatedScalarFieldContainer[str]
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    strategies: _containers.RepeatedScalarFieldContainer[_common_pb2.Strategy]
    statuses: _containers.RepeatedScalarFieldContainer[UsageStatus]
    def __init__(self, models: _Optional[_Iterable[str]] = ..., providers: _Optional[_Iterable[str]] = ..., key_ids: _Optional[_Iterable[str]] = ..., team_ids: _Optional[_Iterable[str]] = ..., strategies: _Optional[_Iterable[_Union[_common_pb2.Strategy, str]]] = ..., statuses: _Optional[_Iterable[_Union[UsageStatus, str]]] = ...) -> None: ...

class UsageGroup(_message.Message):
    __slots__ = ("model", "provider", "key_id", "team_id", "strategy", "status")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    key_id: str
    team_id: str
    strategy: _common_pb2.Strategy
    status: UsageStatus
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., key_id: _Optional[str] = ..., team_id: _Optional[str] = ..., strategy: _Optional[_Union[_common_pb2.Strategy, str]] = ..., status: _Optional[_Union[UsageStatus, str]] = ...) -> None: ...

class UsageMetrics(_message.Message):
    __slots__ = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "priced_requests", "cost_usd", "unpriced_requests", "saving_requests", "baseline_cost_usd", "saving_usd", "cache_hits", "escalations", "latency_mean_ms", "latency_ms", "ttft_ms", "ttft_requests")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PRICED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SAVING_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVING_USD_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    priced_requests: int
    cost_usd: float
    unpriced_requests: int
    saving_requests: int
    baseline_cost_usd: float
    saving_usd: float
    cache_hits: int
    escalations: int
    latency_mean_ms: float
    latency_ms: _containers.RepeatedScalarFieldContainer[float]
    ttft_ms: _containers.RepeatedScalarFieldContainer[float]
    ttft_requests: int
    def __init__(self, requests: _Optional[int] = ..., errors: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., priced_requests: _Optional[int] = ..., cost_usd: _Optional[float] = ..., unpriced_requests: _Optional[int] = ..., saving_requests: _Optional[int] = ..., baseline_cost_usd: _Optional[float] = ..., saving_usd: _Optional[float] = ..., cache_hits: _Optional[int] = ..., escalations: _Optional[int] = ..., latency_mean_ms: _Optional[float] = ..., latency_ms: _Optional[_Iterable[float]] = ..., ttft_ms: _Optional[_Iterable[float]] = ..., ttft_requests: _Optional[int] = ...) -> None: ...

class UsagePoint(_message.Message):
    __slots__ = ("start", "metrics")
    START_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    metrics: UsageMetrics
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metrics: _Optional[_Union[UsageMetrics, _Mapping]] = ...) -> None: ...

class UsageSeries(_message.Message):
    __slots__ = ("group", "total", "points")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    group: UsageGroup
    total: UsageMetrics
    points: _containers.RepeatedCompositeFieldContainer[UsagePoint]
    def __init__(self, group: _Optional[_Union[UsageGroup, _Mapping]] = ..., total: _Optional[_Union[UsageMetrics, _Mapping]] = ..., points: _Optional[_Iterable[_Union[UsagePoint, _Mapping]]] = ...) -> None: ...

class TimeseriesRequest(_message.Message):
    __slots__ = ("since", "until", "granularity", "group_by", "filter", "percentiles", "max_series")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    MAX_SERIES_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    granularity: Granularity
    group_by: _containers.RepeatedScalarFieldContainer[UsageDimension]
    filter: UsageFilter
    percentiles: _containers.RepeatedScalarFieldContainer[float]
    max_series: int
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., group_by: _Optional[_Iterable[_Union[UsageDimension, str]]] = ..., filter: _Optional[_Union[UsageFilter, _Mapping]] = ..., percentiles: _Optional[_Iterable[float]] = ..., max_series: _Optional[int] = ...) -> None: ...

class TimeseriesResponse(_message.Message):
    __slots__ = ("since", "until", "granularity", "group_by", "percentiles", "series", "omitted_series", "source", "retained_since")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    OMITTED_SERIES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RETAINED_SINCE_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    granularity: Granularity
    group_by: _containers.RepeatedScalarFieldContainer[UsageDimension]
    percentiles: _containers.RepeatedScalarFieldContainer[float]
    series: _containers.RepeatedCompositeFieldContainer[UsageSeries]
    omitted_series: int
    source: str
    retained_since: _timestamp_pb2.Timestamp
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., group_by: _Optional[_Iterable[_Union[UsageDimension, str]]] = ..., percentiles: _Optional[_Iterable[float]] = ..., series: _Optional[_Iterable[_Union[UsageSeries, _Mapping]]] = ..., omitted_series: _Optional[int] = ..., source: _Optional[str] = ..., retained_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BaselinePrices(_message.Message):
    __slots__ = ("model", "input_per_mtok", "output_per_mtok", "per_request")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    model: str
    input_per_mtok: float
    output_per_mtok: float
    per_request: float
    def __init__(self, model: _Optional[str] = ..., input_per_mtok: _Optional[float] = ..., output_per_mtok: _Optional[float] = ..., per_request: _Optional[float] = ...) -> None: ...

class SavingsRequest(_message.Message):
    __slots__ = ("since", "until", "filter", "group_by", "baseline", "request_limit")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LIMIT_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    filter: UsageFilter
    group_by: _containers.RepeatedScalarFieldContainer[UsageDimension]
    baseline: BaselinePrices
    request_limit: int
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., filter: _Optional[_Union[UsageFilter, _Mapping]] = ..., group_by: _Optional[_Iterable[_Union[UsageDimension, str]]] = ..., baseline: _Optional[_Union[BaselinePrices, _Mapping]] = ..., request_limit: _Optional[int] = ...) -> None: ...

class SavingsTotals(_message.Message):
    __slots__ = ("requests", "priced_requests", "cost_usd", "baseline_cost_usd", "saving_usd", "saving_per_request_usd", "unpriced_requests", "unpriced_prompt_tokens", "unpriced_completion_tokens", "no_baseline_requests")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PRICED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVING_USD_FIELD_NUMBER: _ClassVar[int]
    SAVING_PER_REQUEST_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    NO_BASELINE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: int
    priced_requests: int
    cost_usd: float
    baseline_cost_usd: float
    saving_usd: float
    saving_per_request_usd: float
    unpriced_requests: int
    unpriced_prompt_tokens: int
    unpriced_completion_tokens: int
    no_baseline_requests: int
    def __init__(self, requests: _Optional[int] = ..., priced_requests: _Optional[int] = ..., cost_usd: _Optional[float] = ..., baseline_cost_usd: _Optional[float] = ..., saving_usd: _Optional[float] = ..., saving_per_request_usd: _Optional[float] = ..., unpriced_requests: _Optional[int] = ..., unpriced_prompt_tokens: _Optional[int] = ..., unpriced_completion_tokens: _Optional[int] = ..., no_baseline_requests: _Optional[int] = ...) -> None: ...

class SavingsGroup(_message.Message):
    __slots__ = ("group", "totals")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    group: UsageGroup
    totals: SavingsTotals
    def __init__(self, group: _Optional[_Union[UsageGroup, _Mapping]] = ..., totals: _Optional[_Union[SavingsTotals, _Mapping]] = ...) -> None: ...

class RequestSaving(_message.Message):
    __slots__ = ("event_id", "request_id", "time", "model", "provider", "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd", "saving_usd")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVING_USD_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    request_id: str
    time: _timestamp_pb2.Timestamp
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    baseline_cost_usd: float
    saving_usd: float
    def __init__(self, event_id: _Optional[str] = ..., request_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., baseline_cost_usd: _Optional[float] = ..., saving_usd: _Optional[float] = ...) -> None: ...

class SavingsResponse(_message.Message):
    __slots__ = ("since", "until", "baseline", "total", "groups", "requests")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    baseline: str
    total: SavingsTotals
    groups: _containers.RepeatedCompositeFieldContainer[SavingsGroup]
    requests: _containers.RepeatedCompositeFieldContainer[RequestSaving]
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., baseline: _Optional[str] = ..., total: _Optional[_Union[SavingsTotals, _Mapping]] = ..., groups: _Optional[_Iterable[_Union[SavingsGroup, _Mapping]]] = ..., requests: _Optional[_Iterable[_Union[RequestSaving, _Mapping]]] = ...) -> None: ...

class QuotaLimit(_message.Message):
    __slots__ = ("model", "requests_per_day", "tokens_per_day")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    model: str
    requests_per_day: int
    tokens_per_day: int
    def __init__(self, model: _Optional[str] = ..., requests_per_day: _Optional[int] = ..., tokens_per_day: _Optional[int] = ...) -> None: ...

class ForecastRequest(_message.Message):
    __slots__ = ("as_of", "lookback_days", "filter", "quotas")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_DAYS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    lookback_days: int
    filter: UsageFilter
    quotas: _containers.RepeatedCompositeFieldContainer[QuotaLimit]
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lookback_days: _Optional[int] = ..., filter: _Optional[_Union[UsageFilter, _Mapping]] = ..., quotas: _Optional[_Iterable[_Union[QuotaLimit, _Mapping]]] = ...) -> None: ...

class Projection(_message.Message):
    __slots__ = ("to_date", "month_end", "low", "high", "per_day")
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    MONTH_END_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    PER_DAY_FIELD_NUMBER: _ClassVar[int]
    to_date: float
    month_end: float
    low: float
    high: float
    per_day: float
    def __init__(self, to_date: _Optional[float] = ..., month_end: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., per_day: _Optional[float] = ...) -> None: ...

class QuotaForecast(_message.Message):
    __slots__ = ("model", "requests_per_day", "tokens_per_day", "requests_today", "tokens_today", "projected_requests_today", "projected_tokens_today", "requests_fraction", "tokens_fraction", "exhausted_at", "month_requests")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TODAY_FIELD_NUMBER: _ClassVar[int]
    TOKENS_TODAY_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_REQUESTS_TODAY_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_TOKENS_TODAY_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FRACTION_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FRACTION_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTED_AT_FIELD_NUMBER: _ClassVar[int]
    MONTH_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    requests_per_day: int
    tokens_per_day: int
    requests_today: int
    tokens_today: int
    projected_requests_today: float
    projected_tokens_today: float
    requests_fraction: float
    tokens_fraction: float
    exhausted_at: _timestamp_pb2.Timestamp
    month_requests: Projection
    def __init__(self, model: _Optional[str] = ..., requests_per_day: _Optional[int] = ..., tokens_per_day: _Optional[int] = ..., requests_today: _Optional[int] = ..., tokens_today: _Optional[int] = ..., projected_requests_today: _Optional[float] = ..., projected_tokens_today: _Optional[float] = ..., requests_fraction: _Optional[float] = ..., tokens_fraction: _Optional[float] = ..., exhausted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., month_requests: _Optional[_Union[Projection, _Mapping]] = ...) -> None: ...

class ForecastResponse(_message.Message):
    __slots__ = ("as_of", "month_start", "month_end", "method", "lookback_days", "days_observed", "confidence", "cost_usd", "saving_usd", "requests", "tokens", "unpriced_requests", "quotas")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    MONTH_START_FIELD_NUMBER: _ClassVar[int]
    MONTH_END_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_DAYS_FIELD_NUMBER: _ClassVar[int]
    DAYS_OBSERVED_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVING_USD_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    month_start: _timestamp_pb2.Timestamp
    month_end: _timestamp_pb2.Timestamp
    method: str
    lookback_days: int
    days_observed: int
    confidence: float
    cost_usd: Projection
    saving_usd: Projection
    requests: Projection
    tokens: Projection
    unpriced_requests: int
    quotas: _containers.RepeatedCompositeFieldContainer[QuotaForecast]
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., month_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., month_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., method: _Optional[str] = ..., lookback_days: _Optional[int] = ..., days_observed: _Optional[int] = ..., confidence: _Optional[float] = ..., cost_usd: _Optional[_Union[Projection, _Mapping]] = ..., saving_usd: _Optional[_Union[Projection, _Mapping]] = ..., requests: _Optional[_Union[Projection, _Mapping]] = ..., tokens: _Optional[_Union[Projection, _Mapping]] = ..., unpriced_requests: _Optional[int] = ..., quotas: _Optional[_Iterable[_Union[QuotaForecast, _Mapping]]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("since", "until", "filter", "format", "include_feedback", "include_features", "limit")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FEATURES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    filter: UsageFilter
    format: ExportFormat
    include_feedback: bool
    include_features: bool
    limit: int
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., filter: _Optional[_Union[UsageFilter, _Mapping]] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., include_feedback: _Optional[bool] = ..., include_features: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("data", "rows")
    DATA_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    rows: int
    def __init__(self, data: _Optional[bytes] = ..., rows: _Optional[int] = ...) -> None: ...

class WatchMetricsRequest(_message.Message):
    __slots__ = ("interval_ms", "window_s")
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    interval_ms: int
    window_s: int
    def __init__(self, interval_ms: _Optional[int] = ..., window_s: _Optional[int] = ...) -> None: ...

class LiveAggregate(_message.Message):
    __slots__ = ("provider", "requests", "errors", "tokens", "requests_per_s", "tokens_per_s", "error_rate", "p50_latency_ms", "p95_latency_ms", "p50_ttft_ms")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_S_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    P50_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P50_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    requests: int
    errors: int
    tokens: int
    requests_per_s: float
    tokens_per_s: float
    error_rate: float
    p50_latency_ms: float
    p95_latency_ms: float
    p50_ttft_ms: float
    def __init__(self, provider: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., tokens: _Optional[int] = ..., requests_per_s: _Optional[float] = ..., tokens_per_s: _Optional[float] = ..., error_rate: _Optional[float] = ..., p50_latency_ms: _Optional[float] = ..., p95_latency_ms: _Optional[float] = ..., p50_ttft_ms: _Optional[float] = ...) -> None: ...

class LiveMetrics(_message.Message):
    __slots__ = ("time", "window_s", "total", "providers")
    TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    window_s: int
    total: LiveAggregate
    providers: _containers.RepeatedCompositeFieldContainer[LiveAggregate]
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_s: _Optional[int] = ..., total: _Optional[_Union[LiveAggregate, _Mapping]] = ..., providers: _Optional[_Iterable[_Union[LiveAggregate, _Mapping]]] = ...) -> None: ...

class RecordFeedbackRequest(_message.Message):
    __slots__ = ("request_id", "score", "thumb", "source", "key_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THUMB_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    score: float
    thumb: Thumb
    source: FeedbackSource
    key_id: str
    def __init__(self, request_id: _Optional[str] = ..., score: _Optional[float] = ..., thumb: _Optional[_Union[Thumb, str]] = ..., source: _Optional[_Union[FeedbackSource, str]] = ..., key_id: _Optional[str] = ...) -> None: ...

class RecordFeedbackResponse(_message.Message):
    __slots__ = ("event_id", "request_id", "score", "source", "replaced")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    request_id: str
    score: float
    source: FeedbackSource
    replaced: bool
    def __init__(self, event_id: _Optional[str] = ..., request_id: _Optional[str] = ..., score: _Optional[float] = ..., source: _Optional[_Union[FeedbackSource, str]] = ..., replaced: _Optional[bool] = ...) -> None: ...

class WatchUsageRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UsageNotice(_message.Message):
    __slots__ = ("time", "request_id", "key_id", "team_id", "requested_model", "served_model", "provider", "strategy", "status", "latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens", "cost_usd", "saving_usd", "attempts", "cache_hit", "stream", "dropped")
    TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MODEL_FIELD_NUMBER: _ClassVar[int]
    SERVED_MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVING_USD_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    request_id: str
    key_id: str
    team_id: str
    requested_model: str
    served_model: str
    provider: str
    strategy: _common_pb2.Strategy
    status: UsageStatus
    latency_ms: float
    ttft_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    saving_usd: float
    attempts: int
    cache_hit: bool
    stream: bool
    dropped: int
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., key_id: _Optional[str] = ..., team_id: _Optional[str] = ..., requested_model: _Optional[str] = ..., served_model: _Optional[str] = ..., provider: _Optional[str] = ..., strategy: _Optional[_Union[_common_pb2.Strategy, str]] = ..., status: _Optional[_Union[UsageStatus, str]] = ..., latency_ms: _Optional[float] = ..., ttft_ms: _Optional[float] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., saving_usd: _Optional[float] = ..., attempts: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., stream: _Optional[bool] = ..., dropped: _Optional[int] = ...) -> None: ...
