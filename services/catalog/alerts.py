"""Alerts: the events an operator must hear of, each with its old and new values (plain
data, no I/O).

- WENT_PAID: a free model's record changed and it is no longer free (is_free, free
  reason and prices, old → new);
- GONE: a model left its provider's list (after the misses that debounce removal);
- PROVIDER_DOWN after `down_after` failed polls in a row, PROVIDER_RECOVERED at the first
  good poll after it;
- QUOTA_LOW: raised by the router (it counts free-tier use), stored here like the rest.

An alert's `id` is stable — the same event raised twice (a replayed poll, two routers
crossing one threshold) has one id, and the store keeps only the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.catalog.catalogue import ChangeType, VersionedChange
from services.catalog.records import ModelRecord
from services.catalog.status import ProviderState
from services.shared.vocabulary import (
    ALERT_KIND_BY_NAME,
    ALERT_SEVERITY_BY_NAME,
    AlertKind,
    AlertSeverity,
)

Scalar = str | int | float | bool | None

# The fields of a model record that say what it costs, shown old → new in model alerts.
PRICE_FIELDS = (
    "is_free",
    "free_reason",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "request_price",
)


@dataclass(frozen=True, slots=True)
class Value:
    """One field before and after (None: it had no value)."""

    field: str
    old: Scalar = None
    new: Scalar = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert; `seq` is 0 until the store assigns it."""

    id: str
    kind: AlertKind
    severity: AlertSeverity
    at: float
    subject: str
    message: str
    provider: str = ""
    model_id: str = ""
    values: tuple[Value, ...] = ()
    source: str = "catalog"
    seq: int = 0

    @property
    def topic(self) -> str:
        return self.kind.topic

    def to_json(self) -> dict[str, Any]:
        """The one JSON form: webhook bodies, the store and the log line."""
        return {
            "type": "freeway.alert",
            "seq": self.seq,
            "id": self.id,
            "kind": self.kind.api_name,
            "severity": self.severity.api_name,
            "topic": self.topic,
            "at": self.at,
            "subject": self.subject,
            "provider": self.provider,
            "model_id": self.model_id,
            "message": self.message,
            "source": self.source,
            "values": [{"field": v.field, "old": v.old, "new": v.new} for v in self.values],
        }


def from_json(data: Mapping[str, Any], seq: int = 0) -> Alert:
    return Alert(
        id=str(data["id"]),
        kind=ALERT_KIND_BY_NAME[data["kind"]],
        severity=ALERT_SEVERITY_BY_NAME[data["severity"]],
        at=float(data["at"]),
        subject=str(data["subject"]),
        message=str(data["message"]),
        provider=str(data.get("provider", "")),
        model_id=str(data.get("model_id", "")),
        values=tuple(Value(v["field"], v.get("old"), v.get("new")) for v in data["values"]),
        source=str(data.get("source", "catalog")),
        seq=seq or int(data.get("seq", 0)),
    )


def dumps(alert: Alert) -> str:
    return json.dumps(alert.to_json(), separators=(",", ":"))


# -- from catalogue changes ----------------------------------------------------------------


def from_changes(changes: Sequence[VersionedChange]) -> list[Alert]:
    """WENT_PAID and GONE alerts of a batch of stamped changes."""
    return list(_from_changes(changes))


def _from_changes(changes: Sequence[VersionedChange]) -> Iterator[Alert]:
    for change in changes:
        old = change.old.record if change.old else None
        new = change.new.record if change.new else None
        if change.type is ChangeType.REMOVED and old is not None:
            yield gone(change.model_id, old, change.version, change.at)
        elif change.type is ChangeType.CHANGED and old and new and old.is_free and not new.is_free:
            yield went_paid(change.model_id, old, new, change.version, change.at)


def went_paid(model_id: str, old: ModelRecord, new: ModelRecord, version: int, at: float) -> Alert:
    price = _price(new)
    return Alert(
        id=f"went_paid:{model_id}:{version}",
        kind=AlertKind.WENT_PAID,
        severity=AlertSeverity.CRITICAL,
        at=at,
        subject=model_id,
        provider=new.provider,
        model_id=model_id,
        values=_price_values(old, new),
        message=f"{model_id} is no longer free ({price})",
    )


def gone(model_id: str, old: ModelRecord, version: int, at: float) -> Alert:
    what = "free model" if old.is_free else "model"
    return Alert(
        id=f"gone:{model_id}:{version}",
        kind=AlertKind.GONE,
        severity=AlertSeverity.WARNING if old.is_free else AlertSeverity.INFO,
        at=at,
        subject=model_id,
        provider=old.provider,
        model_id=model_id,
        values=(*_price_values(old, None), Value("status", old.status, None)),
        message=f"{what} {model_id} is gone from {old.provider}'s list",
    )


def _price_values(old: ModelRecord, new: ModelRecord | None) -> tuple[Value, ...]:
    after = (None,) * len(PRICE_FIELDS) if new is None else _prices(new)
    return tuple(Value(*v) for v in zip(PRICE_FIELDS, _prices(old), after, strict=True))


def _prices(record: ModelRecord) -> tuple[Scalar, ...]:
    return tuple(_scalar(getattr(record, name)) for name in PRICE_FIELDS)


def _scalar(value: object) -> Scalar:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _price(record: ModelRecord) -> str:
    if not record.priced:
        return "price unknown"
    return (
        f"${record.input_price_per_mtok:g} in / ${record.output_price_per_mtok:g} out"
        " per million tokens"
    )


# -- from polls ------------------------------------------------------------------------------


@dataclass
class ProviderWatch:
    """Counts each provider's failed polls in a row; says when it is down and back."""

    down_after: int = 3
    failures: dict[str, int] = field(default_factory=dict)
    down: dict[str, ProviderState] = field(default_factory=dict)  # state before its failures
    _before: dict[str, ProviderState] = field(default_factory=dict)

    def polled(self, before: ProviderState, after: ProviderState, at: float) -> Alert | None:
        """The alert of one poll's outcome (`before`: the provider's state ahead of it)."""
        name = after.name
        if after.healthy:
            self.failures.pop(name, None)
            self._before.pop(name, None)
            was = self.down.pop(name, None)
            return None if was is None else provider_recovered(was, after, at)
        count = self.failures.get(name, 0) + 1
        self.failures[name] = count
        was = self._before.setdefault(name, before)
        if count < self.down_after or name in self.down:
            return None
        self.down[name] = was
        return provider_down(was, after, count, at)


def provider_down(before: ProviderState, after: ProviderState, failures: int, at: float) -> Alert:
    return Alert(
        id=f"provider_down:{after.name}:{before.last_success or 0:.3f}",
        kind=AlertKind.PROVIDER_DOWN,
        severity=AlertSeverity.CRITICAL,
        at=at,
        subject=after.name,
        provider=after.name,
        values=(
            Value("healthy", before.healthy, False),
            Value("last_error", before.last_error or None, after.last_error),
            Value("consecutive_failures", failures - 1, failures),
            Value("last_success", before.last_success, after.last_success),
        ),
        message=f"provider {after.name} failed {failures} polls in a row: {after.last_error}",
    )


def provider_recovered(was: ProviderState, after: ProviderState, at: float) -> Alert:
    return Alert(
        id=f"provider_recovered:{after.name}:{after.last_success or at:.3f}",
        kind=AlertKind.PROVIDER_RECOVERED,
        severity=AlertSeverity.INFO,
        at=at,
        subject=after.name,
        provider=after.name,
        values=(
            Value("healthy", False, True),
            Value("last_success", was.last_success, after.last_success),
            Value("model_count", was.model_count, after.model_count),
        ),
        message=f"provider {after.name} answers its model list again",
    )
