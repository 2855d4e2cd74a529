"""What one successful poll changes in the catalogue.

New ids are ADDED and differing records CHANGED (with the fields that changed) at once; a
model missing from the provider's list is REMOVED only after `misses_before_removal`
consecutive successful polls without it, so a flaky endpoint does not flap the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.catalog.delta import Change, ChangeType, diff
from services.catalog.records import ModelRecord


@dataclass
class Plan:
    """The changes of one poll (not yet stamped with versions), the ids seen, and the miss
    counts of the ids not seen."""

    changes: list[Change] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    misses: dict[str, int] = field(default_factory=dict)


def plan_poll(
    current: Mapping[str, ModelRecord],
    misses: Mapping[str, int],
    fetched: Sequence[ModelRecord],
    misses_before_removal: int,
    complete: bool = True,
) -> Plan:
    """Compare the provider's current entries with what it listed now. An incomplete
    listing (pagination cut short) adds and changes, but misses nothing."""
    latest = {r.id: r for r in fetched}  # a duplicated id keeps its last listing
    plan = Plan(seen=list(latest))
    present = {i: r for i, r in current.items() if i in latest}
    plan.changes.extend(diff(present, latest))
    for model_id, record in current.items():
        if model_id in latest or not complete:
            continue
        count = misses.get(model_id, 0) + 1
        if count >= misses_before_removal:
            plan.changes.append(Change(ChangeType.REMOVED, model_id, record, None))
        else:
            plan.misses[model_id] = count
    return plan


def plan_unchanged(
    current: Mapping[str, ModelRecord], misses: Mapping[str, int], misses_before_removal: int
) -> Plan:
    """A 304: the provider's list is the one it sent last time, so the models missing from
    that list (those with misses) are missing once more; the rest are seen again."""
    listed = [r for i, r in current.items() if not misses.get(i)]
    return plan_poll(current, misses, listed, misses_before_removal)
