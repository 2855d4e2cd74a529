from freeway.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CacheMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_MODE_DEFAULT: _ClassVar[CacheMode]
    CACHE_MODE_ON: _ClassVar[CacheMode]
    CACHE_MODE_OFF: _ClassVar[CacheMode]

class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_STATE_UNSPECIFIED: _ClassVar[BreakerState]
    BREAKER_STATE_CLOSED: _ClassVar[BreakerState]
    BREAKER_STATE_HALF_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_OPEN: _ClassVar[BreakerState]
CACHE_MODE_DEFAULT: CacheMode
CACHE_MODE_ON: CacheMode
CACHE_MODE_OFF: CacheMode
BREAKER_STATE_UNSPECIFIED: BreakerState
BREAKER_STATE_CLOSED: BreakerState
BREAKER_STATE_HALF_OPEN: BreakerState
BREAKER_STATE_OPEN: BreakerState

class ExchangeCall(_message.Message):
    __slots__ = ("id", "request", "stream", "timeout_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    request: CompletionRequest
    stream: bool
    timeout_ms: int
    def __init__(self, id: _Optional[int] = ..., request: _Optional[_Union[CompletionRequest, _Mapping]] = ..., stream: _Optional[bool] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ExchangeRequest(_message.Message):
    __slots__ = ("calls", "cancel")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[ExchangeCall]
    cancel: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, calls: _Optional[_Iterable[_Union[ExchangeCall, _Mapping]]] = ..., cancel: _Optional[_Iterable[int]] = ...) -> None: ...

class CallStatus(_message.Message):
    __slots__ = ("code", "message", "trailers")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRAILERS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    trailers: _containers.RepeatedCompositeFieldContainer[CallTrailer]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., trailers: _Optional[_Iterable[_Union[CallTrailer, _Mapping]]] = ...) -> None: ...

class CallTrailer(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...

class ExchangeResult(_message.Message):
    __slots__ = ("id", "response", "chunk", "status")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    id: int
    response: CompletionResponse
    chunk: CompletionChunk
    status: CallStatus
    def __init__(self, id: _Optional[int] = ..., response: _Optional[_Union[CompletionResponse, _Mapping]] = ..., chunk: _Optional[_Union[CompletionChunk, _Mapping]] = ..., status: _Optional[_Union[CallStatus, _Mapping]] = ...) -> None: ...

class ExchangeReply(_message.Message):
    __slots__ = ("results", "draining")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ExchangeResult]
    draining: bool
    def __init__(self, results: _Optional[_Iterable[_Union[ExchangeResult, _Mapping]]] = ..., draining: _Optional[bool] = ...) -> None: ...

class Constraints(_message.Message):
    __slots__ = ("capabilities", "min_context", "allow", "deny", "max_price_per_mtok", "free_only")
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    MAX_PRICE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    FREE_ONLY_FIELD_NUMBER: _ClassVar[int]
    capabilities: _containers.RepeatedScalarFieldContainer[_common_pb2.Capability]
    min_context: int
    allow: _containers.RepeatedScalarFieldContainer[str]
    deny: _containers.RepeatedScalarFieldContainer[str]
    max_price_per_mtok: float
    free_only: bool
    def __init__(self, capabilities: _Optional[_Iterable[_Union[_common_pb2.Capability, str]]] = ..., min_context: _Optional[int] = ..., allow: _Optional[_Iterable[str]] = ..., deny: _Optional[_Iterable[str]] = ..., max_price_per_mtok: _Optional[float] = ..., free_only: _Optional[bool] = ...) -> None: ...

class CompletionRequest(_message.Message):
    __slots__ = ("body", "strategy", "constraints", "key_id", "team_id", "request_id", "cache")
    BODY_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    body: str
    strategy: _common_pb2.Strategy
    constraints: Constraints
    key_id: str
    team_id: str
    request_id: str
    cache: CacheMode
    def __init__(self, body: _Optional[str] = ..., strategy: _Optional[_Union[_common_pb2.Strategy, str]] = ..., constraints: _Optional[_Union[Constraints, _Mapping]] = ..., key_id: _Optional[str] = ..., team_id: _Optional[str] = ..., request_id: _Optional[str] = ..., cache: _Optional[_Union[CacheMode, str]] = ...) -> None: ...

class FeatureContribution(_message.Message):
    __slots__ = ("name", "value", "contribution")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    contribution: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., contribution: _Optional[float] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("model_id", "provider", "input_price_per_mtok", "output_price_per_mtok", "is_free", "quality", "context_window")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    IS_FREE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    provider: str
    input_price_per_mtok: float
    output_price_per_mtok: float
    is_free: bool
    quality: float
    context_window: int
    def __init__(self, model_id: _Optional[str] = ..., provider: _Optional[str] = ..., input_price_per_mtok: _Optional[float] = ..., output_price_per_mtok: _Optional[float] = ..., is_free: _Optional[bool] = ..., quality: _Optional[float] = ..., context_window: _Optional[int] = ...) -> None: ...

class RouteDecision(_message.Message):
    __slots__ = ("chosen", "fallbacks", "complexity", "features", "strategy", "reason", "catalog_version", "decision_us", "needs", "prompt_tokens", "min_context", "weights_version")
    CHOSEN_FIELD_NUMBER: _ClassVar[int]
    FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    DECISION_US_FIELD_NUMBER: _ClassVar[int]
    NEEDS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_VERSION_FIELD_NUMBER: _ClassVar[int]
    chosen: Candidate
    fallbacks: _containers.RepeatedCompositeFieldContainer[Candidate]
    complexity: float
    features: _containers.RepeatedCompositeFieldContainer[FeatureContribution]
    strategy: _common_pb2.Strategy
    reason: str
    catalog_version: int
    decision_us: float
    needs: _containers.RepeatedScalarFieldContainer[_common_pb2.Capability]
    prompt_tokens: int
    min_context: int
    weights_version: str
    def __init__(self, chosen: _Optional[_Union[Candidate, _Mapping]] = ..., fallbacks: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., complexity: _Optional[float] = ..., features: _Optional[_Iterable[_Union[FeatureContribution, _Mapping]]] = ..., strategy: _Optional[_Union[_common_pb2.Strategy, str]] = ..., reason: _Optional[str] = ..., catalog_version: _Optional[int] = ..., decision_us: _Optional[float] = ..., needs: _Optional[_Iterable[_Union[_common_pb2.Capability, str]]] = ..., prompt_tokens: _Optional[int] = ..., min_context: _Optional[int] = ..., weights_version: _Optional[str] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("id", "model", "provider", "strategy", "complexity", "reason", "attempts", "usage", "cost_usd", "saved_usd", "cache_hit", "free")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVED_USD_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    provider: str
    strategy: _common_pb2.Strategy
    complexity: float
    reason: str
    attempts: int
    usage: _common_pb2.Usage
    cost_usd: float
    saved_usd: float
    cache_hit: bool
    free: bool
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., strategy: _Optional[_Union[_common_pb2.Strategy, str]] = ..., complexity: _Optional[float] = ..., reason: _Optional[str] = ..., attempts: _Optional[int] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., saved_usd: _Optional[float] = ..., cache_hit: _Optional[bool] = ..., free: _Optional[bool] = ...) -> None: ...

class CompletionResponse(_message.Message):
    __slots__ = ("body", "outcome")
    BODY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    body: str
    outcome: Outcome
    def __init__(self, body: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, _Mapping]] = ...) -> None: ...

class CompletionChunk(_message.Message):
    __slots__ = ("events", "outcome")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedScalarFieldContainer[str]
    outcome: Outcome
    def __init__(self, events: _Optional[_Iterable[str]] = ..., outcome: _Optional[_Union[Outcome, _Mapping]] = ...) -> None: ...

class ProviderHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QuotaUse(_message.Message):
    __slots__ = ("quota_key", "requests_minute", "requests_day", "tokens_minute", "tokens_day", "limits", "remaining")
    QUOTA_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_MINUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_DAY_FIELD_NUMBER: _ClassVar[int]
    TOKENS_MINUTE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_DAY_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    quota_key: str
    requests_minute: int
    requests_day: int
    tokens_minute: int
    tokens_day: int
    limits: _common_pb2.QuotaLimits
    remaining: float
    def __init__(self, quota_key: _Optional[str] = ..., requests_minute: _Optional[int] = ..., requests_day: _Optional[int] = ..., tokens_minute: _Optional[int] = ..., tokens_day: _Optional[int] = ..., limits: _Optional[_Union[_common_pb2.QuotaLimits, _Mapping]] = ..., remaining: _Optional[float] = ...) -> None: ...

class ModelHealth(_message.Message):
    __slots__ = ("model_id", "provider", "breaker", "retry_in_s", "latency_ms", "error_rate", "inflight", "quota")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BREAKER_FIELD_NUMBER: _ClassVar[int]
    RETRY_IN_S_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    INFLIGHT_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    provider: str
    breaker: BreakerState
    retry_in_s: float
    latency_ms: float
    error_rate: float
    inflight: int
    quota: QuotaUse
    def __init__(self, model_id: _Optional[str] = ..., provider: _Optional[str] = ..., breaker: _Optional[_Union[BreakerState, str]] = ..., retry_in_s: _Optional[float] = ..., latency_ms: _Optional[float] = ..., error_rate: _Optional[float] = ..., inflight: _Optional[int] = ..., quota: _Optional[_Union[QuotaUse, _Mapping]] = ...) -> None: ...

class ProviderHealthResponse(_message.Message):
    __slots__ = ("models", "catalog_version", "quota_counted")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    QUOTA_COUNTED_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelHealth]
    catalog_version: int
    quota_counted: bool
    def __init__(self, models: _Optional[_Iterable[_Union[ModelHealth, _Mapping]]] = ..., catalog_version: _Optional[int] = ..., quota_counted: _Optional[bool] = ...) -> None: ...
