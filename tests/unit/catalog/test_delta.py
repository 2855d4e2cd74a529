"""Delta detection between snapshots."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.catalog.delta import TRACKED_FIELDS, Change, ChangeType, diff
from services.catalog.records import FreeReason, ModelRecord


def _record(name: str, **fields: Any) -> ModelRecord:
    record = ModelRecord(id=f"p/{name}", provider="p", upstream_id=name, context_window=8192)
    return dataclasses.replace(record, **fields)


def _snapshot(*records: ModelRecord) -> dict[str, ModelRecord]:
    return {r.id: r for r in records}


def test_identical_snapshots_have_no_changes() -> None:
    old = _snapshot(_record("a"), _record("b"))
    new = _snapshot(_record("a"), _record("b"))  # equal values, different objects
    assert diff(old, new) == []


def test_added_removed_and_changed_with_the_fields_that_changed() -> None:
    old = _snapshot(_record("keep"), _record("gone"), _record("moved", context_window=4096))
    new = _snapshot(
        _record("keep"), _record("moved", context_window=32768, capabilities=frozenset({"tools"})),
        _record("fresh"),
    )  # fmt: skip
    changes = {c.model_id: c for c in diff(old, new)}
    assert set(changes) == {"p/gone", "p/moved", "p/fresh"}
    assert changes["p/fresh"].type is ChangeType.ADDED
    assert changes["p/fresh"].old is None
    assert changes["p/gone"].type is ChangeType.REMOVED
    assert changes["p/gone"].new is None
    moved = changes["p/moved"]
    assert moved.type is ChangeType.CHANGED
    assert moved.changed_fields == ("context_window", "capabilities")
    assert moved.old is not None
    assert moved.old.context_window == 4096


def test_a_free_model_turning_paid_is_flagged() -> None:
    free = _record("m", input_price_per_mtok=0.0, output_price_per_mtok=0.0, is_free=True,
                   free_reason=FreeReason.ZERO_PRICE)  # fmt: skip
    paid = _record("m", input_price_per_mtok=0.5, output_price_per_mtok=1.0)
    (change,) = diff(_snapshot(free), _snapshot(paid))
    assert change.lost_free
    assert change.changed_fields == (
        "input_price_per_mtok", "output_price_per_mtok", "is_free", "free_reason",
    )  # fmt: skip
    assert not Change(ChangeType.ADDED, "p/m", None, paid).lost_free


def test_extra_fields_are_not_tracked_by_default() -> None:
    old = _snapshot(_record("m", extra={"downloads": "10"}))
    new = _snapshot(_record("m", extra={"downloads": "11"}))
    assert "extra" not in TRACKED_FIELDS
    assert diff(old, new) == []
    (change,) = diff(old, new, fields=("extra",))
    assert change.changed_fields == ("extra",)


def test_snapshots_may_be_sequences_of_records() -> None:
    changes = diff([_record("a")], [_record("a", status="deprecated"), _record("b")])
    assert [(c.type, c.model_id) for c in changes] == [
        (ChangeType.CHANGED, "p/a"),
        (ChangeType.ADDED, "p/b"),
    ]


def test_changes_come_in_a_stable_order() -> None:
    old = _snapshot(_record("x"), _record("y"))
    new = _snapshot(_record("c"), _record("b"), _record("a"))
    assert [c.model_id for c in diff(old, new)] == ["p/c", "p/b", "p/a", "p/x", "p/y"]


def test_empty_field_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="fields"):
        diff({}, {}, fields=())


def test_ten_thousand_models_diff_correctly() -> None:
    old = _snapshot(*(_record(f"m{i}", input_price_per_mtok=float(i)) for i in range(10_000)))
    new = dict(old)
    for i in range(0, 10_000, 100):
        new[f"p/m{i}"] = dataclasses.replace(old[f"p/m{i}"], input_price_per_mtok=-1.0)
    changes = diff(old, new)
    assert len(changes) == 100
    assert {c.changed_fields for c in changes} == {("input_price_per_mtok",)}
