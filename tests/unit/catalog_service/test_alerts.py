"""Alerts from changes and polls (pure): went paid and gone carry the price fields old →
new; a provider is down after N failed polls in a row (once), recovered at the next good one."""

from __future__ import annotations

import dataclasses

from services.catalog import alerts
from services.catalog.catalogue import ChangeType, Entry, VersionedChange
from services.catalog.records import FreeReason, ModelRecord
from services.catalog.status import ProviderState
from services.shared.vocabulary import AlertKind

FREE = ModelRecord(
    "p/m:free",
    "p",
    "m:free",
    input_price_per_mtok=0.0,
    output_price_per_mtok=0.0,
    is_free=True,
    free_reason=FreeReason.ZERO_PRICE,
)
PAID = dataclasses.replace(
    FREE,
    input_price_per_mtok=1.0,
    output_price_per_mtok=2.0,
    is_free=False,
    free_reason=FreeReason.NONE,
)


def change(kind: ChangeType, old: ModelRecord | None, new: ModelRecord | None) -> VersionedChange:
    def entry(r: ModelRecord | None) -> Entry | None:
        return None if r is None else Entry(r, 1.0, 2.0)

    return VersionedChange(7, 2.0, kind, FREE.id, entry(old), entry(new), ("input_price_per_mtok",))


def test_a_free_model_turning_paid_is_went_paid_with_its_prices() -> None:
    [alert] = alerts.from_changes([change(ChangeType.CHANGED, FREE, PAID)])
    values = {v.field: (v.old, v.new) for v in alert.values}
    assert (alert.kind, alert.id, alert.topic) == (
        AlertKind.WENT_PAID,
        "went_paid:p/m:free:7",
        "catalog",
    )
    assert values["is_free"] == (True, False)
    assert values["input_price_per_mtok"] == (0.0, 1.0)
    assert values["free_reason"] == ("zero_price", "")
    assert alerts.from_json(alert.to_json()) == alert


def test_removed_is_gone_and_other_changes_are_not_alerts() -> None:
    found = alerts.from_changes(
        [
            change(ChangeType.REMOVED, FREE, None),
            change(ChangeType.CHANGED, PAID, FREE),
            change(ChangeType.ADDED, None, FREE),
        ]
    )
    assert [a.kind for a in found] == [AlertKind.GONE]


def test_a_provider_is_down_after_n_failures_once_then_recovered() -> None:
    watch = alerts.ProviderWatch(down_after=2)
    good = ProviderState("p", healthy=True, last_success=10.0)
    bad = dataclasses.replace(good, healthy=False, last_error="HTTP 503")

    raised = [
        watch.polled(good, bad, 11.0),
        watch.polled(bad, bad, 12.0),
        watch.polled(bad, bad, 13.0),
        watch.polled(bad, dataclasses.replace(good, last_success=14.0), 14.0),
    ]

    assert [a and a.kind for a in raised] == [
        None,
        AlertKind.PROVIDER_DOWN,
        None,
        AlertKind.PROVIDER_RECOVERED,
    ]
    down = raised[1]
    assert down is not None
    assert {v.field: (v.old, v.new) for v in down.values}["healthy"] == (True, False)
