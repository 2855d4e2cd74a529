import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Capability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPABILITY_UNSPECIFIED: _ClassVar[Capability]
    CAPABILITY_TOOLS: _ClassVar[Capability]
    CAPABILITY_VISION: _ClassVar[Capability]
    CAPABILITY_JSON: _ClassVar[Capability]
    CAPABILITY_REASONING: _ClassVar[Capability]
    CAPABILITY_AUDIO: _ClassVar[Capability]
    CAPABILITY_JSON_SCHEMA: _ClassVar[Capability]
    CAPABILITY_LOGPROBS: _ClassVar[Capability]
    CAPABILITY_SEED: _ClassVar[Capability]
    CAPABILITY_PENALTIES: _ClassVar[Capability]
    CAPABILITY_LOGIT_BIAS: _ClassVar[Capability]
    CAPABILITY_MULTIPLE_CHOICES: _ClassVar[Capability]

class FreeReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FREE_REASON_UNSPECIFIED: _ClassVar[FreeReason]
    FREE_REASON_ZERO_PRICE: _ClassVar[FreeReason]
    FREE_REASON_FREE_VARIANT: _ClassVar[FreeReason]
    FREE_REASON_PROVIDER_FREE_TIER: _ClassVar[FreeReason]
    FREE_REASON_LOCAL_RUNTIME: _ClassVar[FreeReason]
    FREE_REASON_ALLOW_LIST: _ClassVar[FreeReason]

class QuotaScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUOTA_SCOPE_UNSPECIFIED: _ClassVar[QuotaScope]
    QUOTA_SCOPE_PER_MODEL: _ClassVar[QuotaScope]
    QUOTA_SCOPE_PER_PROVIDER: _ClassVar[QuotaScope]
    QUOTA_SCOPE_PER_ACCOUNT: _ClassVar[QuotaScope]

class Strategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRATEGY_UNSPECIFIED: _ClassVar[Strategy]
    STRATEGY_FREE_FIRST: _ClassVar[Strategy]
    STRATEGY_COST: _ClassVar[Strategy]
    STRATEGY_QUALITY: _ClassVar[Strategy]
    STRATEGY_LATENCY: _ClassVar[Strategy]
    STRATEGY_HYBRID: _ClassVar[Strategy]
    STRATEGY_CASCADE: _ClassVar[Strategy]
CAPABILITY_UNSPECIFIED: Capability
CAPABILITY_TOOLS: Capability
CAPABILITY_VISION: Capability
CAPABILITY_JSON: Capability
CAPABILITY_REASONING: Capability
CAPABILITY_AUDIO: Capability
CAPABILITY_JSON_SCHEMA: Capability
CAPABILITY_LOGPROBS: Capability
CAPABILITY_SEED: Capability
CAPABILITY_PENALTIES: Capability
CAPABILITY_LOGIT_BIAS: Capability
CAPABILITY_MULTIPLE_CHOICES: Capability
FREE_REASON_UNSPECIFIED: FreeReason
FREE_REASON_ZERO_PRICE: FreeReason
FREE_REASON_FREE_VARIANT: FreeReason
FREE_REASON_PROVIDER_FREE_TIER: FreeReason
FREE_REASON_LOCAL_RUNTIME: FreeReason
FREE_REASON_ALLOW_LIST: FreeReason
QUOTA_SCOPE_UNSPECIFIED: QuotaScope
QUOTA_SCOPE_PER_MODEL: QuotaScope
QUOTA_SCOPE_PER_PROVIDER: QuotaScope
QUOTA_SCOPE_PER_ACCOUNT: QuotaScope
STRATEGY_UNSPECIFIED: Strategy
STRATEGY_FREE_FIRST: Strategy
STRATEGY_COST: Strategy
STRATEGY_QUALITY: Strategy
STRATEGY_LATENCY: Strategy
STRATEGY_HYBRID: Strategy
STRATEGY_CASCADE: Strategy

class QuotaLimits(_message.Message):
    __slots__ = ("requests_per_minute", "requests_per_day", "tokens_per_minute", "tokens_per_day", "scope")
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    requests_per_minute: int
    requests_per_day: int
    tokens_per_minute: int
    tokens_per_day: int
    scope: QuotaScope
    def __init__(self, requests_per_minute: _Optional[int] = ..., requests_per_day: _Optional[int] = ..., tokens_per_minute: _Optional[int] = ..., tokens_per_day: _Optional[int] = ..., scope: _Optional[_Union[QuotaScope, str]] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("id", "provider", "upstream_id", "display_name", "context_window", "max_output_tokens", "input_price_per_mtok", "output_price_per_mtok", "request_price", "price_source", "is_free", "free_reason", "input_modalities", "output_modalities", "capabilities", "quality", "quality_source", "first_seen", "last_seen", "status", "free_tier", "extra")
    class ExtraEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_PRICE_FIELD_NUMBER: _ClassVar[int]
    PRICE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    IS_FREE_FIELD_NUMBER: _ClassVar[int]
    FREE_REASON_FIELD_NUMBER: _ClassVar[int]
    INPUT_MODALITIES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MODALITIES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    QUALITY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FREE_TIER_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    upstream_id: str
    display_name: str
    context_window: int
    max_output_tokens: int
    input_price_per_mtok: float
    output_price_per_mtok: float
    request_price: float
    price_source: str
    is_free: bool
    free_reason: FreeReason
    input_modalities: _containers.RepeatedScalarFieldContainer[str]
    output_modalities: _containers.RepeatedScalarFieldContainer[str]
    capabilities: _containers.RepeatedScalarFieldContainer[Capability]
    quality: float
    quality_source: str
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    status: str
    free_tier: QuotaLimits
    extra: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., upstream_id: _Optional[str] = ..., display_name: _Optional[str] = ..., context_window: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., input_price_per_mtok: _Optional[float] = ..., output_price_per_mtok: _Optional[float] = ..., request_price: _Optional[float] = ..., price_source: _Optional[str] = ..., is_free: _Optional[bool] = ..., free_reason: _Optional[_Union[FreeReason, str]] = ..., input_modalities: _Optional[_Iterable[str]] = ..., output_modalities: _Optional[_Iterable[str]] = ..., capabilities: _Optional[_Iterable[_Union[Capability, str]]] = ..., quality: _Optional[float] = ..., quality_source: _Optional[str] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ..., free_tier: _Optional[_Union[QuotaLimits, _Mapping]] = ..., extra: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens", "estimated")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    estimated: bool
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., estimated: _Optional[bool] = ...) -> None: ...
