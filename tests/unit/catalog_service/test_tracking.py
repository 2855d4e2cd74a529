"""What a poll changes: ADDED/CHANGED at once, REMOVED only after N consecutive misses."""

from __future__ import annotations

from services.catalog.catalogue import ChangeType
from services.catalog.tracking import plan_poll, plan_unchanged
from tests.unit.catalog_service.records import record


def test_new_and_changed_models() -> None:
    current = {"p/a": record("a"), "p/b": record("b")}

    plan = plan_poll(current, {}, [record("a", price=0), record("b"), record("c")], 3)

    kinds = {c.model_id: (c.type, c.changed_fields) for c in plan.changes}
    assert kinds["p/c"] == (ChangeType.ADDED, ())
    assert kinds["p/a"][0] is ChangeType.CHANGED
    assert {"input_price_per_mtok", "is_free", "free_reason"} <= set(kinds["p/a"][1])
    assert "p/b" not in kinds
    assert sorted(plan.seen) == ["p/a", "p/b", "p/c"]


def test_a_missing_model_is_removed_only_after_the_threshold() -> None:
    current = {"p/a": record("a"), "p/b": record("b")}

    first = plan_poll(current, {}, [record("a")], 3)
    second = plan_poll(current, first.misses, [record("a")], 3)
    third = plan_poll(current, second.misses, [record("a")], 3)

    assert (first.changes, first.misses) == ([], {"p/b": 1})
    assert (second.changes, second.misses) == ([], {"p/b": 2})
    assert [(c.type, c.model_id) for c in third.changes] == [(ChangeType.REMOVED, "p/b")]
    assert third.misses == {}


def test_threshold_one_removes_at_once_and_a_return_resets() -> None:
    current = {"p/a": record("a")}

    gone = plan_poll(current, {}, [], 1)
    back = plan_poll(current, {"p/a": 2}, [record("a")], 3)

    assert [c.type for c in gone.changes] == [ChangeType.REMOVED]
    assert back.changes == []
    assert back.misses == {}
    assert back.seen == ["p/a"]


def test_duplicate_listing_keeps_the_last() -> None:
    plan = plan_poll({}, {}, [record("a"), record("a", price=0)], 3)

    assert len(plan.changes) == 1
    assert plan.changes[0].new == record("a", price=0)


def test_an_incomplete_listing_misses_nothing() -> None:
    current = {"p/a": record("a"), "p/b": record("b")}

    plan = plan_poll(current, {}, [record("a")], 1, complete=False)

    assert plan.changes == []
    assert plan.misses == {}


def test_a_304_counts_another_miss_for_models_already_missing() -> None:
    current = {"p/a": record("a"), "p/b": record("b")}

    plan = plan_unchanged(current, {"p/b": 1}, 3)
    removal = plan_unchanged(current, {"p/b": 2}, 3)

    assert plan.seen == ["p/a"]
    assert plan.misses == {"p/b": 2}
    assert [(c.type, c.model_id) for c in removal.changes] == [(ChangeType.REMOVED, "p/b")]
