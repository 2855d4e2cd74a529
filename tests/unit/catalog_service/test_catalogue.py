"""The in-memory catalogue: versions, filters, and WatchCatalog fan-out semantics."""

from __future__ import annotations

import asyncio

import pytest

from services.catalog.catalogue import Catalogue, ChangeType, ModelFilter, VersionGapError
from tests.unit.catalog_service.records import added, record


def filled(count: int, retention: int = 100, queue_size: int = 100) -> Catalogue:
    catalogue = Catalogue(retention, queue_size)
    catalogue.apply([added(v, f"m{v}") for v in range(1, count + 1)])
    return catalogue


def test_apply_moves_the_version_and_rejects_gaps() -> None:
    catalogue = filled(3)

    with pytest.raises(VersionGapError):
        catalogue.apply([added(5, "late")])
    assert catalogue.version == 3
    assert [e.id for e in catalogue.select()] == ["p/m1", "p/m2", "p/m3"]


def test_select_filters_free_provider_capabilities_and_context() -> None:
    catalogue = Catalogue()
    catalogue.load(2, [])
    catalogue.apply([added(3, "free", price=0, context=4096), added(4, "big", context=200_000)])

    assert [e.id for e in catalogue.select(ModelFilter(free_only=True))] == ["p/free"]
    assert [e.id for e in catalogue.select(ModelFilter(min_context=100_000))] == ["p/big"]
    assert catalogue.select(ModelFilter(provider="other")) == []
    assert catalogue.select(ModelFilter(capabilities=frozenset({"tools"}))) == []


def test_changes_since_knows_how_far_history_reaches() -> None:
    catalogue = filled(5, retention=3)

    assert [c.version for c in catalogue.changes_since(2) or []] == [3, 4, 5]
    assert catalogue.changes_since(1) is None  # version 2 is no longer retained
    assert catalogue.changes_since(5) == []
    assert catalogue.changes_since(9) is None  # a client from the future gets a snapshot


async def test_subscribe_from_zero_gets_a_snapshot_then_live_changes() -> None:
    catalogue = filled(2)
    sub = catalogue.subscribe(0)
    catalogue.apply([added(3, "m3")])

    first = await sub.next()
    nothing = sub.next_ready()
    catalogue.apply([added(4, "m4")])
    second = await sub.next()

    assert first.snapshot is not None
    assert first.version == 3  # taken when read: it already covers version 3
    assert [e.id for e in first.snapshot] == ["p/m1", "p/m2", "p/m3"]
    assert nothing is None
    assert second.change is not None
    assert second.version == 4


async def test_subscribe_resumes_with_the_backlog_in_order() -> None:
    catalogue = filled(4)
    sub = catalogue.subscribe(2)
    catalogue.apply([added(5, "m5")])

    events = [await sub.next() for _ in range(3)]

    assert [e.version for e in events] == [3, 4, 5]
    assert all(e.change is not None and e.change.type is ChangeType.ADDED for e in events)


async def test_a_slow_subscriber_gets_a_fresh_snapshot_and_nothing_is_lost() -> None:
    catalogue = filled(1, queue_size=2)
    slow = catalogue.subscribe(1)
    fast = catalogue.subscribe(1)
    catalogue.apply([added(2, "m2"), added(3, "m3")])
    assert [(await fast.next()).version for _ in range(2)] == [2, 3]

    catalogue.apply([added(4, "m4")])  # slow has 2 buffered: this overflows it

    resync = await slow.next()
    assert resync.snapshot is not None
    assert resync.version == 4
    assert len(resync.snapshot) == 4
    assert (await fast.next()).version == 4


async def test_closing_ends_iteration() -> None:
    catalogue = filled(1)
    sub = catalogue.subscribe(1)
    waiter = asyncio.create_task(anext(sub))
    await asyncio.sleep(0)

    sub.close()

    with pytest.raises(StopAsyncIteration):
        await waiter
    assert catalogue.subscriber_count == 0


def test_load_resyncs_every_subscriber() -> None:
    catalogue = filled(2)
    sub = catalogue.subscribe(2)

    catalogue.load(7, [])

    event = sub.next_ready()
    assert event is not None
    assert event.snapshot == ()
    assert event.version == 7


def test_touch_moves_last_seen_without_a_version() -> None:
    catalogue = filled(1)

    catalogue.touch(["p/m1", "p/unknown"], 500.0)

    entry = catalogue.get("p/m1")
    assert entry is not None
    assert (entry.first_seen, entry.last_seen) == (100.0, 500.0)
    assert catalogue.version == 1
    assert record("m1") == entry.record


def test_history_page_cuts_at_the_limit_and_says_there_is_more() -> None:
    catalogue = filled(5)

    first = catalogue.history_page(1, 2)
    rest = catalogue.history_page(3, 2)

    assert [c.version for c in first.changes] == [2, 3]
    assert (first.version, first.more, first.truncated) == (5, True, False)
    assert [c.version for c in rest.changes] == [4, 5]
    assert (rest.more, rest.truncated) == (False, False)


def test_history_page_is_empty_when_up_to_date() -> None:
    page = filled(3).history_page(3, 10)

    assert (page.version, page.changes, page.more, page.truncated) == (3, (), False, False)


def test_history_page_from_zero_while_history_reaches_back() -> None:
    assert [c.version for c in filled(3).history_page(0, 10).changes] == [1, 2, 3]


@pytest.mark.parametrize("since", [0, 1, 9])
def test_history_page_is_truncated_beyond_retained_history(since: int) -> None:
    page = filled(5, retention=3).history_page(since, 10)

    assert page.truncated
    assert (page.changes, page.more, page.version) == ((), False, 5)
