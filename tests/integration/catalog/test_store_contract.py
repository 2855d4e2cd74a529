"""One contract for the catalogue store, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.catalog.catalogue import ChangeType
from services.catalog.delta import Change
from services.catalog.records import FreeReason, ModelRecord
from services.catalog.status import ProviderState
from services.catalog.store import CatalogStore, StaleVersion
from services.catalog.tracking import Plan
from services.shared.db import open_database

pytestmark = pytest.mark.integration


def record(name: str, price: float | None = 1.0) -> ModelRecord:
    return ModelRecord(
        id=f"p/{name}",
        provider="p",
        upstream_id=name,
        input_price_per_mtok=price,
        output_price_per_mtok=price,
        is_free=price == 0,
        free_reason=FreeReason.ZERO_PRICE if price == 0 else FreeReason.NONE,
        extra={"k": '"v"'},
    )


def add(*names: str) -> Plan:
    return Plan(
        changes=[Change(ChangeType.ADDED, f"p/{n}", None, record(n)) for n in names],
        seen=[f"p/{n}" for n in names],
    )


@pytest.fixture
async def store(database_url: str | None, tmp_path: Path) -> AsyncIterator[CatalogStore]:
    db = await open_database(database_url, tmp_path / "catalog.sqlite3")
    opened = CatalogStore(db, retention=3)
    await opened.migrate()
    await opened.migrate()  # idempotent
    yield opened
    await db.close()


async def test_commit_stamps_consecutive_versions(store: CatalogStore) -> None:
    first = await store.commit(0, add("a", "b"), 10.0, {})
    change = Change(ChangeType.CHANGED, "p/a", record("a"), record("a", 0), ("is_free",))
    second = await store.commit(2, Plan(changes=[change], seen=["p/a"]), 20.0, {"p/a": 10.0})

    loaded = await store.load()

    assert [c.version for c in (*first, *second)] == [1, 2, 3]
    assert loaded.version == 3
    assert await store.version() == 3
    by_id = {e.id: e for e in loaded.entries}
    assert by_id["p/a"].record == record("a", 0)
    assert (by_id["p/a"].first_seen, by_id["p/a"].last_seen) == (10.0, 20.0)
    assert loaded.history[-1].changed_fields == ("is_free",)
    assert loaded.history[-1].old is not None
    assert loaded.history[-1].old.record == record("a")


async def test_a_stale_writer_is_refused(store: CatalogStore) -> None:
    await store.commit(0, add("a"), 10.0, {})

    with pytest.raises(StaleVersion) as stale:
        await store.commit(0, add("b"), 11.0, {})

    assert stale.value.found == 1
    assert [e.id for e in (await store.load()).entries] == ["p/a"]


async def test_removal_misses_and_last_seen(store: CatalogStore) -> None:
    await store.commit(0, add("a", "b"), 10.0, {})
    await store.commit(2, Plan(seen=["p/a"], misses={"p/b": 2}), 30.0, {})
    removed = Change(ChangeType.REMOVED, "p/a", record("a"), None)
    await store.commit(2, Plan(changes=[removed]), 40.0, {"p/a": 10.0})

    loaded = await store.load()

    assert [e.id for e in loaded.entries] == ["p/b"]
    assert loaded.misses == {"p/b": 2}
    assert loaded.version == 3
    assert loaded.history[-1].new is None


async def test_history_keeps_only_the_retention(store: CatalogStore) -> None:
    await store.commit(0, add("a", "b", "c", "d", "e"), 10.0, {})

    assert [c.version for c in (await store.load()).history] == [3, 4, 5]
    assert [c.version for c in await store.history_since(3)] == [4, 5]
    assert [c.version for c in await store.history_since(3, limit=1)] == [4]


async def test_provider_status_round_trip(store: CatalogStore) -> None:
    state = ProviderState("p", "openai", "https://x/v1", True, 12.5, "", 99.0, 3, 1, '"e"', "d")
    await store.save_provider(ProviderState("p"))
    await store.save_provider(state)

    assert await store.providers() == {"p": state}
