"""The usage store contract, run on both adapters: idempotent ingest, atomic batches,
summary arithmetic and time ranges."""

from __future__ import annotations

import asyncio
import struct
from datetime import timedelta
from pathlib import Path

import pytest

from services.analytics.queries import UsageFilter
from services.analytics.reports import summary
from services.analytics.store import (
    PostgresUsageStore,
    SqliteUsageStore,
    UsageStore,
    open_usage_store,
)
from services.analytics.usage import StoreResult, Strategy, UsageStatus
from services.shared.errors import InvalidArgument
from tests.integration.analytics.conftest import MAX_BATCH
from tests.integration.analytics.events import T0, event


async def count(store: UsageStore) -> int:
    value: int = await store.db.fetchval("SELECT count(*) FROM usage_events")
    return value


async def test_adapter_matches_the_database(store: UsageStore, database_url: str | None) -> None:
    expected = SqliteUsageStore if database_url is None else PostgresUsageStore
    assert type(store) is expected


async def test_new_batch_is_stored(store: UsageStore) -> None:
    result = await store.store([event(n) for n in range(10)])
    assert result == StoreResult(stored=10, duplicates=0)
    assert await count(store) == 10


async def test_replayed_batch_never_double_counts(store: UsageStore) -> None:
    batch = [event(n) for n in range(10)]
    await store.store(batch)
    before = await summary(store)
    assert await store.store(batch) == StoreResult(stored=0, duplicates=10)
    assert await summary(store) == before
    assert await count(store) == 10


async def test_overlapping_batch_stores_only_new_events(store: UsageStore) -> None:
    await store.store([event(n) for n in range(5)])
    result = await store.store([event(n) for n in range(3, 8)])
    assert result == StoreResult(stored=3, duplicates=2)
    assert await count(store) == 8


async def test_repeated_id_within_a_batch_is_a_duplicate(store: UsageStore) -> None:
    result = await store.store([event(1), event(2), event(1, prompt_tokens=999)])
    assert result == StoreResult(stored=2, duplicates=1)
    totals = await summary(store)
    assert totals.total.prompt_tokens == event(1).prompt_tokens + event(2).prompt_tokens


async def test_empty_batch_stores_nothing(store: UsageStore) -> None:
    assert await store.store([]) == StoreResult(0, 0)


async def test_every_field_is_stored(store: UsageStore) -> None:
    original = event(
        7, cache_hit=True, status=UsageStatus.ERROR, error="upstream 503", stream=False,
        cost_usd=0.00042, attempts=3, team_id="team-a", cached_tokens=40, reasoning_tokens=12,
        escalations=2, escalation_reason="refusal", capabilities=("json", "tools"),
        features=struct.pack("<3d", 0.5, -1.25, 3e9), strategy=Strategy.CASCADE,
    )  # fmt: skip
    await store.store([original])
    [(stored, feedback)] = await store.export_page(
        T0, T0 + timedelta(days=1), UsageFilter(), None, 10, True
    )
    assert stored == original
    assert feedback == {}


async def test_unknown_prices_are_stored_as_null(store: UsageStore) -> None:
    await store.store([event(1, cost_usd=None, baseline_cost_usd=None), event(2, cost_usd=0.0)])
    rows = await store.db.fetch(
        "SELECT cost_usd, baseline_cost_usd FROM usage_events ORDER BY time"
    )
    assert [(r["cost_usd"], r["baseline_cost_usd"]) for r in rows] == [(None, None), (0.0, 0.0015)]


async def test_invalid_event_rejects_the_whole_batch(store: UsageStore) -> None:
    batch = [event(0), event(1), event(2), event(3, event_id="")]
    with pytest.raises(InvalidArgument, match=r"^events\[3\]\.event_id: required$"):
        await store.store(batch)
    assert await count(store) == 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"event_id": "x" * 129}, r"events\[0\]\.event_id: at most 128 characters"),
        ({"time": None}, r"events\[0\]\.time: required"),
        ({"prompt_tokens": -1}, r"events\[0\]\.prompt_tokens: must be >= 0"),
        ({"completion_tokens": -5}, r"events\[0\]\.completion_tokens: must be >= 0"),
        ({"cost_usd": -0.01}, r"events\[0\]\.cost_usd: must be a finite number >= 0"),
        ({"baseline_cost_usd": float("nan")}, r"events\[0\]\.baseline_cost_usd: must be"),
    ],
)
async def test_validation_names_the_field(
    store: UsageStore, override: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await store.store([event(0, **override)])
    assert await count(store) == 0


async def test_oversized_batch_is_rejected(store: UsageStore) -> None:
    with pytest.raises(InvalidArgument, match=rf"^events: at most {MAX_BATCH} events per batch"):
        await store.store([event(n) for n in range(MAX_BATCH + 1)])
    assert await count(store) == 0


async def test_summary_totals_per_model_and_overall(store: UsageStore) -> None:
    groq = "groq/llama-3.1-8b-instant"
    mistral = "mistral/mistral-small-latest"
    await store.store(
        [
            event(0, prompt_tokens=100, completion_tokens=10, cost_usd=0.0, baseline_cost_usd=0.5),
            event(1, prompt_tokens=200, completion_tokens=20, cost_usd=0.0, baseline_cost_usd=1.0),
            event(2, status=UsageStatus.ERROR, prompt_tokens=0, completion_tokens=0,
                  baseline_cost_usd=0.0, error="timeout"),
            event(3, served_model=mistral, provider="mistral", prompt_tokens=50,
                  completion_tokens=5, cost_usd=0.25, baseline_cost_usd=0.75),
            # Failed before any model answered: counted against the requested model.
            event(4, served_model="", provider="", requested_model="auto",
                  status=UsageStatus.ERROR, prompt_tokens=0, completion_tokens=0,
                  baseline_cost_usd=0.0),
        ]
    )  # fmt: skip
    totals = await summary(store)
    by_model = {(m.model, m.provider): m for m in totals.models}
    assert sorted(by_model) == [("auto", ""), (groq, "groq"), (mistral, "mistral")]

    g = by_model[(groq, "groq")]
    assert (g.requests, g.errors, g.prompt_tokens, g.completion_tokens) == (3, 1, 300, 30)
    assert g.cost_usd == pytest.approx(0.0)
    assert g.baseline_cost_usd == pytest.approx(1.5)
    assert g.savings_usd == pytest.approx(1.5)

    m = by_model[(mistral, "mistral")]
    assert (m.requests, m.errors, m.prompt_tokens, m.completion_tokens) == (1, 0, 50, 5)
    assert m.savings_usd == pytest.approx(0.5)

    assert (by_model[("auto", "")].requests, by_model[("auto", "")].errors) == (1, 1)

    t = totals.total
    assert (t.requests, t.errors, t.prompt_tokens, t.completion_tokens) == (5, 2, 350, 35)
    assert t.cost_usd == pytest.approx(0.25)
    assert t.baseline_cost_usd == pytest.approx(2.25)
    assert t.savings_usd == pytest.approx(2.0)


async def test_summary_of_nothing_is_zero(store: UsageStore) -> None:
    totals = await summary(store)
    assert totals.models == ()
    assert (totals.total.requests, totals.total.cost_usd, totals.total.savings_usd) == (0, 0, 0)


async def test_summary_range_is_since_inclusive_until_exclusive(store: UsageStore) -> None:
    await store.store([event(n) for n in range(10)])  # minutes 0..9 after T0
    window = await summary(store, T0 + timedelta(minutes=2), T0 + timedelta(minutes=5))
    assert window.total.requests == 3
    assert (await summary(store, since=T0 + timedelta(minutes=8))).total.requests == 2
    assert (await summary(store, until=T0 + timedelta(minutes=1))).total.requests == 1


async def test_summary_until_defaults_to_now(store: UsageStore) -> None:
    future = T0.replace(year=T0.year + 100)
    await store.store([event(1), event(2, time=future)])
    assert (await summary(store)).total.requests == 1


async def test_summary_rejects_a_reversed_range(store: UsageStore) -> None:
    with pytest.raises(InvalidArgument, match=r"^until: must not be before since$"):
        await summary(store, T0, T0 - timedelta(seconds=1))


async def test_concurrent_overlapping_batches_store_each_event_once(store: UsageStore) -> None:
    ids = [range(0, 20), range(29, 9, -1), range(5, 25), range(34, 14, -1)]
    batches = [[event(n) for n in numbers] for numbers in ids]
    results = await asyncio.gather(*(store.store(b) for b in batches))
    assert sum(r.stored for r in results) == 35
    assert sum(r.duplicates for r in results) == 80 - 35
    assert await count(store) == 35


async def test_events_survive_reopening(database_url: str | None, sqlite_file: Path) -> None:
    first = await open_usage_store(database_url, sqlite_file, max_batch_events=MAX_BATCH)
    try:
        await first.store([event(n) for n in range(4)])
    finally:
        await first.close()
    again = await open_usage_store(database_url, sqlite_file, max_batch_events=MAX_BATCH)
    try:
        assert await again.store([event(n) for n in range(6)]) == StoreResult(2, 4)
        assert (await summary(again)).total.requests == 6
    finally:
        await again.close()
