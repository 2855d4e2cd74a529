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
USAGE_STATUS_UNSPECIFIED: UsageStatus
USAGE_STATUS_OK: UsageStatus
USAGE_STATUS_ERROR: UsageStatus
USAGE_STATUS_CANCELLED: UsageStatus

class UsageEvent(_message.Message):
    __slots__ = ("event_id", "time", "key_id", "request_id", "requested_model", "served_model", "provider", "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd", "latency_ms", "ttft_ms", "attempts", "cache_hit", "status", "complexity", "strategy", "error", "stream")
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
    def __init__(self, event_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_id: _Optional[str] = ..., request_id: _Optional[str] = ..., requested_model: _Optional[str] = ..., served_model: _Optional[str] = ..., provider: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., baseline_cost_usd: _Optional[float] = ..., latency_ms: _Optional[float] = ..., ttft_ms: _Optional[float] = ..., attempts: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., status: _Optional[_Union[UsageStatus, str]] = ..., complexity: _Optional[float] = ..., strategy: _Optional[_Union[_common_pb2.Strategy, str]] = ..., error: _Optional[str] = ..., stream: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("model", "provider", "requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd", "savings_usd")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVINGS_USD_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    baseline_cost_usd: float
    savings_usd: float
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., baseline_cost_usd: _Optional[float] = ..., savings_usd: _Optional[float] = ...) -> None: ...

class SummaryResponse(_message.Message):
    __slots__ = ("models", "total")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelTotals]
    total: ModelTotals
    def __init__(self, models: _Optional[_Iterable[_Union[ModelTotals, _Mapping]]] = ..., total: _Optional[_Union[ModelTotals, _Mapping]] = ...) -> None: ...
