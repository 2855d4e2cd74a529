"""Domain ⇄ protobuf: ModelRecord/Entry ⇄ freeway.common.v1.Model, and catalogue events and
provider status to their freeway.catalog.v1 messages.

Prices are `optional` in the proto: an unknown price (None) stays unset, never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from freeway.catalog.v1 import catalog_pb2
from freeway.common.v1 import common_pb2
from services.catalog.alerts import Alert, Scalar
from services.catalog.alerts import Value as AlertValue
from services.catalog.catalogue import ChangeType, Entry, Event, VersionedChange
from services.catalog.records import FreeReason, ModelRecord, QuotaLimits, QuotaScope
from services.catalog.status import ProviderState
from services.shared.vocabulary import CAPABILITY_BY_NAME, AlertKind, AlertSeverity

_Domain = TypeVar("_Domain")

CAPABILITY_TO_PROTO: dict[str, common_pb2.Capability] = {
    name: getattr(common_pb2, f"CAPABILITY_{name.upper()}") for name in CAPABILITY_BY_NAME
}
FREE_REASON_TO_PROTO: dict[FreeReason, common_pb2.FreeReason] = {
    FreeReason.NONE: common_pb2.FREE_REASON_UNSPECIFIED,
    FreeReason.ZERO_PRICE: common_pb2.FREE_REASON_ZERO_PRICE,
    FreeReason.FREE_VARIANT: common_pb2.FREE_REASON_FREE_VARIANT,
    FreeReason.PROVIDER_FREE_TIER: common_pb2.FREE_REASON_PROVIDER_FREE_TIER,
    FreeReason.LOCAL_RUNTIME: common_pb2.FREE_REASON_LOCAL_RUNTIME,
    FreeReason.ALLOW_LIST: common_pb2.FREE_REASON_ALLOW_LIST,
}
SCOPE_TO_PROTO: dict[QuotaScope, common_pb2.QuotaScope] = {
    QuotaScope.UNSPECIFIED: common_pb2.QUOTA_SCOPE_UNSPECIFIED,
    QuotaScope.PER_MODEL: common_pb2.QUOTA_SCOPE_PER_MODEL,
    QuotaScope.PER_PROVIDER: common_pb2.QUOTA_SCOPE_PER_PROVIDER,
    QuotaScope.PER_ACCOUNT: common_pb2.QUOTA_SCOPE_PER_ACCOUNT,
}


def _inverse(mapping: Mapping[_Domain, int]) -> dict[int, _Domain]:
    """Enum number → domain value, for reading messages back."""
    return {number: value for value, number in mapping.items()}


CAPABILITY_FROM_PROTO = _inverse(CAPABILITY_TO_PROTO)
FREE_REASON_FROM_PROTO = _inverse(FREE_REASON_TO_PROTO)
SCOPE_FROM_PROTO = _inverse(SCOPE_TO_PROTO)

CHANGE_TYPE_TO_PROTO: dict[ChangeType, catalog_pb2.ChangeType] = {
    ChangeType.ADDED: catalog_pb2.CHANGE_TYPE_ADDED,
    ChangeType.REMOVED: catalog_pb2.CHANGE_TYPE_REMOVED,
    ChangeType.CHANGED: catalog_pb2.CHANGE_TYPE_CHANGED,
}


def timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def seconds(ts: Timestamp) -> float:
    return ts.ToNanoseconds() / 1e9


def capabilities_from_proto(values: Iterable[int]) -> frozenset[str]:
    """Capability names; raises KeyError on UNSPECIFIED or an unknown enum number."""
    return frozenset(CAPABILITY_FROM_PROTO[v] for v in values)


def record_to_proto(
    record: ModelRecord, first_seen: float = 0.0, last_seen: float = 0.0
) -> common_pb2.Model:
    """The record as a Model message (unknown prices left unset)."""
    fields: dict[str, Any] = {
        "id": record.id,
        "provider": record.provider,
        "upstream_id": record.upstream_id,
        "display_name": record.display_name,
        "context_window": record.context_window,
        "max_output_tokens": record.max_output_tokens,
        "price_source": record.price_source,
        "is_free": record.is_free,
        "free_reason": FREE_REASON_TO_PROTO[record.free_reason],
        "input_modalities": record.input_modalities,
        "output_modalities": record.output_modalities,
        "capabilities": sorted(
            CAPABILITY_TO_PROTO[c] for c in record.capabilities if c in CAPABILITY_TO_PROTO
        ),
        "quality": record.quality,
        "quality_source": record.quality_source,
        "status": record.status,
        "free_tier": _quota_to_proto(record.free_tier),
        "extra": dict(record.extra),
    }
    for name in ("input_price_per_mtok", "output_price_per_mtok", "request_price"):
        value = getattr(record, name)
        if value is not None:
            fields[name] = value
    if first_seen:
        fields["first_seen"] = timestamp(first_seen)
    if last_seen:
        fields["last_seen"] = timestamp(last_seen)
    return common_pb2.Model(**fields)


def entry_to_proto(entry: Entry) -> common_pb2.Model:
    return record_to_proto(entry.record, entry.first_seen, entry.last_seen)


def record_from_proto(model: common_pb2.Model) -> ModelRecord:
    """The inverse of `record_to_proto` (first/last seen are not part of the record)."""
    return ModelRecord(
        id=model.id,
        provider=model.provider,
        upstream_id=model.upstream_id,
        display_name=model.display_name,
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        input_price_per_mtok=_optional(model, "input_price_per_mtok"),
        output_price_per_mtok=_optional(model, "output_price_per_mtok"),
        request_price=_optional(model, "request_price"),
        price_source=model.price_source,
        is_free=model.is_free,
        free_reason=FREE_REASON_FROM_PROTO.get(model.free_reason, FreeReason.NONE),
        input_modalities=tuple(model.input_modalities),
        output_modalities=tuple(model.output_modalities),
        capabilities=frozenset(
            CAPABILITY_FROM_PROTO[c] for c in model.capabilities if c in CAPABILITY_FROM_PROTO
        ),
        quality=model.quality,
        quality_source=model.quality_source,
        free_tier=QuotaLimits(
            requests_per_minute=model.free_tier.requests_per_minute,
            requests_per_day=model.free_tier.requests_per_day,
            tokens_per_minute=model.free_tier.tokens_per_minute,
            tokens_per_day=model.free_tier.tokens_per_day,
            scope=SCOPE_FROM_PROTO.get(model.free_tier.scope, QuotaScope.UNSPECIFIED),
        ),
        status=model.status,
        extra=dict(model.extra),
    )


def _optional(model: common_pb2.Model, name: str) -> float | None:
    return float(getattr(model, name)) if model.HasField(name) else None


def _quota_to_proto(limits: QuotaLimits) -> common_pb2.QuotaLimits:
    return common_pb2.QuotaLimits(
        requests_per_minute=limits.requests_per_minute,
        requests_per_day=limits.requests_per_day,
        tokens_per_minute=limits.tokens_per_minute,
        tokens_per_day=limits.tokens_per_day,
        scope=SCOPE_TO_PROTO[limits.scope],
    )


def change_to_proto(change: VersionedChange) -> catalog_pb2.ModelChange:
    message = catalog_pb2.ModelChange(
        type=CHANGE_TYPE_TO_PROTO[change.type],
        model_id=change.model_id,
        changed_fields=change.changed_fields,
    )
    if change.old is not None:
        message.old.CopyFrom(entry_to_proto(change.old))
    if change.new is not None:
        message.new.CopyFrom(entry_to_proto(change.new))
    return message


def change_event_to_proto(change: VersionedChange) -> catalog_pb2.CatalogEvent:
    """One change as the CatalogEvent that carries it (WatchCatalog, ListChanges)."""
    return catalog_pb2.CatalogEvent(
        version=change.version, at=timestamp(change.at), change=change_to_proto(change)
    )


class ModelMessages:
    """Each catalogue entry's Model message, built once and reused by every read that
    returns it (ListModels, GetModel, WatchCatalog snapshots) until the entry is replaced:
    building a message is most of the cost of a read, copying a built one is cheap. Bounded:
    the oldest entries go first. Callers copy the messages into their replies (never mutate)."""

    def __init__(self, size: int = 65_536) -> None:
        self._size = size
        # By model id; reused only while the catalogue still holds the very same Entry
        # object (an entry never changes: touch/apply put new objects in its place).
        self._built: dict[str, tuple[Entry, common_pb2.Model]] = {}

    def model(self, entry: Entry) -> common_pb2.Model:
        built = self._built.get(entry.id)
        if built is not None and built[0] is entry:
            return built[1]
        message = entry_to_proto(entry)
        if built is None and len(self._built) >= self._size:
            del self._built[next(iter(self._built))]
        self._built[entry.id] = (entry, message)
        return message


class EventMessages:
    """Each change's CatalogEvent, built once and shared by every watcher that sends it:
    one change reaches every subscriber, and building its message is most of the cost of
    sending it (serialising the shared message is cheap). Bounded: oldest changes go first.
    Snapshots are assembled per watcher (each is taken at the moment it is sent) from the
    entries' shared Model messages."""

    def __init__(self, size: int = 1024, models: ModelMessages | None = None) -> None:
        self._size = size
        self._models = models or ModelMessages()
        # Keyed by the change object's identity, which the entry keeps alive (so the id is
        # not reused while cached); a change object never changes.
        self._built: dict[int, tuple[VersionedChange, catalog_pb2.CatalogEvent]] = {}

    def message(self, event: Event) -> catalog_pb2.CatalogEvent:
        if event.change is not None:
            return self.change(event.change)
        message = catalog_pb2.CatalogEvent(version=event.version, at=timestamp(event.at))
        message.snapshot.models.extend(self._models.model(e) for e in event.snapshot or ())
        return message

    def change(self, change: VersionedChange) -> catalog_pb2.CatalogEvent:
        """The event carrying `change` (WatchCatalog and ListChanges send the same one)."""
        built = self._built.get(id(change))
        if built is not None and built[0] is change:
            return built[1]
        message = change_event_to_proto(change)
        if len(self._built) >= self._size:
            del self._built[next(iter(self._built))]
        self._built[id(change)] = (change, message)
        return message


def provider_to_proto(state: ProviderState, unpriced: int = 0) -> catalog_pb2.ProviderStatus:
    message = catalog_pb2.ProviderStatus(
        name=state.name,
        format=state.format,
        base_url=state.base_url,
        healthy=state.healthy,
        last_error=state.last_error,
        model_count=state.model_count,
        free_count=state.free_count,
        unpriced_count=unpriced,
    )
    if state.last_success is not None:
        message.last_success.CopyFrom(timestamp(state.last_success))
    if state.next_poll is not None:
        message.next_poll.CopyFrom(timestamp(state.next_poll))
    return message


# -- alerts ----------------------------------------------------------------------------------


def alert_to_proto(alert: Alert) -> catalog_pb2.Alert:
    return catalog_pb2.Alert(
        seq=alert.seq,
        id=alert.id,
        kind=int(alert.kind),  # type: ignore[arg-type]  # the vocabulary holds the enum's numbers
        severity=int(alert.severity),  # type: ignore[arg-type]
        at=timestamp(alert.at),
        subject=alert.subject,
        provider=alert.provider,
        model_id=alert.model_id,
        values=[
            catalog_pb2.AlertValue(field=v.field, old=_value(v.old), new=_value(v.new))
            for v in alert.values
        ],
        message=alert.message,
        source=alert.source,
    )


def alert_from_proto(message: catalog_pb2.Alert, now: float) -> Alert:
    """A raised alert as the domain holds it (ValueError naming the field when invalid)."""
    if not message.id:
        raise ValueError("alert.id: is required")
    if message.kind not in AlertKind._value2member_map_:
        raise ValueError(f"alert.kind: unknown kind {message.kind}")
    if message.severity not in AlertSeverity._value2member_map_:
        raise ValueError(f"alert.severity: unknown severity {message.severity}")
    if not message.subject:
        raise ValueError("alert.subject: is required")
    return Alert(
        id=message.id[:300],
        kind=AlertKind(message.kind),
        severity=AlertSeverity(message.severity),
        at=seconds(message.at) if message.HasField("at") else now,
        subject=message.subject[:300],
        message=message.message[:1000],
        provider=message.provider[:200],
        model_id=message.model_id[:300],
        values=tuple(
            AlertValue(v.field[:100], _scalar(v.old), _scalar(v.new)) for v in message.values[:20]
        ),
        source=message.source[:50] or "router",
    )


def _value(value: Scalar) -> struct_pb2.Value:
    if value is None:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, (int, float)):
        return struct_pb2.Value(number_value=float(value))
    return struct_pb2.Value(string_value=value)


def _scalar(value: struct_pb2.Value) -> Scalar:
    kind = value.WhichOneof("kind")
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return value.string_value[:500]
    return None
