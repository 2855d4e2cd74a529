import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from freeway.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChangeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_TYPE_UNSPECIFIED: _ClassVar[ChangeType]
    CHANGE_TYPE_ADDED: _ClassVar[ChangeType]
    CHANGE_TYPE_REMOVED: _ClassVar[ChangeType]
    CHANGE_TYPE_CHANGED: _ClassVar[ChangeType]

class AlertKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_KIND_UNSPECIFIED: _ClassVar[AlertKind]
    ALERT_KIND_WENT_PAID: _ClassVar[AlertKind]
    ALERT_KIND_GONE: _ClassVar[AlertKind]
    ALERT_KIND_PROVIDER_DOWN: _ClassVar[AlertKind]
    ALERT_KIND_PROVIDER_RECOVERED: _ClassVar[AlertKind]
    ALERT_KIND_QUOTA_LOW: _ClassVar[AlertKind]

class AlertSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_SEVERITY_UNSPECIFIED: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_INFO: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_WARNING: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_CRITICAL: _ClassVar[AlertSeverity]
CHANGE_TYPE_UNSPECIFIED: ChangeType
CHANGE_TYPE_ADDED: ChangeType
CHANGE_TYPE_REMOVED: ChangeType
CHANGE_TYPE_CHANGED: ChangeType
ALERT_KIND_UNSPECIFIED: AlertKind
ALERT_KIND_WENT_PAID: AlertKind
ALERT_KIND_GONE: AlertKind
ALERT_KIND_PROVIDER_DOWN: AlertKind
ALERT_KIND_PROVIDER_RECOVERED: AlertKind
ALERT_KIND_QUOTA_LOW: AlertKind
ALERT_SEVERITY_UNSPECIFIED: AlertSeverity
ALERT_SEVERITY_INFO: AlertSeverity
ALERT_SEVERITY_WARNING: AlertSeverity
ALERT_SEVERITY_CRITICAL: AlertSeverity

class ListModelsRequest(_message.Message):
    __slots__ = ("free_only", "provider", "capabilities", "min_context")
    FREE_ONLY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    free_only: bool
    provider: str
    capabilities: _containers.RepeatedScalarFieldContainer[_common_pb2.Capability]
    min_context: int
    def __init__(self, free_only: _Optional[bool] = ..., provider: _Optional[str] = ..., capabilities: _Optional[_Iterable[_Union[_common_pb2.Capability, str]]] = ..., min_context: _Optional[int] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "version")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.Model]
    version: int
    def __init__(self, models: _Optional[_Iterable[_Union[_common_pb2.Model, _Mapping]]] = ..., version: _Optional[int] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProviderStatus(_message.Message):
    __slots__ = ("name", "format", "base_url", "healthy", "last_success", "last_error", "next_poll", "model_count", "free_count", "unpriced_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    NEXT_POLL_FIELD_NUMBER: _ClassVar[int]
    MODEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    FREE_COUNT_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: str
    base_url: str
    healthy: bool
    last_success: _timestamp_pb2.Timestamp
    last_error: str
    next_poll: _timestamp_pb2.Timestamp
    model_count: int
    free_count: int
    unpriced_count: int
    def __init__(self, name: _Optional[str] = ..., format: _Optional[str] = ..., base_url: _Optional[str] = ..., healthy: _Optional[bool] = ..., last_success: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., next_poll: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_count: _Optional[int] = ..., free_count: _Optional[int] = ..., unpriced_count: _Optional[int] = ...) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderStatus]
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderStatus, _Mapping]]] = ...) -> None: ...

class RefreshProviderRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RefreshProviderResponse(_message.Message):
    __slots__ = ("provider", "version")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    provider: ProviderStatus
    version: int
    def __init__(self, provider: _Optional[_Union[ProviderStatus, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class WatchCatalogRequest(_message.Message):
    __slots__ = ("since_version",)
    SINCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    since_version: int
    def __init__(self, since_version: _Optional[int] = ...) -> None: ...

class ModelChange(_message.Message):
    __slots__ = ("type", "model_id", "old", "new", "changed_fields")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    type: ChangeType
    model_id: str
    old: _common_pb2.Model
    new: _common_pb2.Model
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type: _Optional[_Union[ChangeType, str]] = ..., model_id: _Optional[str] = ..., old: _Optional[_Union[_common_pb2.Model, _Mapping]] = ..., new: _Optional[_Union[_common_pb2.Model, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[_common_pb2.Model]
    def __init__(self, models: _Optional[_Iterable[_Union[_common_pb2.Model, _Mapping]]] = ...) -> None: ...

class CatalogEvent(_message.Message):
    __slots__ = ("version", "at", "snapshot", "change")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    version: int
    at: _timestamp_pb2.Timestamp
    snapshot: Snapshot
    change: ModelChange
    def __init__(self, version: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snapshot: _Optional[_Union[Snapshot, _Mapping]] = ..., change: _Optional[_Union[ModelChange, _Mapping]] = ...) -> None: ...

class ListChangesRequest(_message.Message):
    __slots__ = ("since_version", "limit")
    SINCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    since_version: int
    limit: int
    def __init__(self, since_version: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListChangesResponse(_message.Message):
    __slots__ = ("events", "version", "history_truncated", "more")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HISTORY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[CatalogEvent]
    version: int
    history_truncated: bool
    more: bool
    def __init__(self, events: _Optional[_Iterable[_Union[CatalogEvent, _Mapping]]] = ..., version: _Optional[int] = ..., history_truncated: _Optional[bool] = ..., more: _Optional[bool] = ...) -> None: ...

class AlertValue(_message.Message):
    __slots__ = ("field", "old", "new")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OLD_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    field: str
    old: _struct_pb2.Value
    new: _struct_pb2.Value
    def __init__(self, field: _Optional[str] = ..., old: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., new: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("seq", "id", "kind", "severity", "at", "subject", "provider", "model_id", "values", "message", "source")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    id: str
    kind: AlertKind
    severity: AlertSeverity
    at: _timestamp_pb2.Timestamp
    subject: str
    provider: str
    model_id: str
    values: _containers.RepeatedCompositeFieldContainer[AlertValue]
    message: str
    source: str
    def __init__(self, seq: _Optional[int] = ..., id: _Optional[str] = ..., kind: _Optional[_Union[AlertKind, str]] = ..., severity: _Optional[_Union[AlertSeverity, str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ..., provider: _Optional[str] = ..., model_id: _Optional[str] = ..., values: _Optional[_Iterable[_Union[AlertValue, _Mapping]]] = ..., message: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class RaiseAlertRequest(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

class RaiseAlertResponse(_message.Message):
    __slots__ = ("alert", "duplicate")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    duplicate: bool
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("limit", "kinds", "before_seq")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    BEFORE_SEQ_FIELD_NUMBER: _ClassVar[int]
    limit: int
    kinds: _containers.RepeatedScalarFieldContainer[AlertKind]
    before_seq: int
    def __init__(self, limit: _Optional[int] = ..., kinds: _Optional[_Iterable[_Union[AlertKind, str]]] = ..., before_seq: _Optional[int] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "last_seq", "more")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    last_seq: int
    more: bool
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., last_seq: _Optional[int] = ..., more: _Optional[bool] = ...) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("since_seq", "kinds")
    SINCE_SEQ_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    since_seq: int
    kinds: _containers.RepeatedScalarFieldContainer[AlertKind]
    def __init__(self, since_seq: _Optional[int] = ..., kinds: _Optional[_Iterable[_Union[AlertKind, str]]] = ...) -> None: ...
