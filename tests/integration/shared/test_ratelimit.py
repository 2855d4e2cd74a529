"""The admission ledger: every check passes and takes its share, or nothing changes."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.shared.ratelimit import (
    ADMITTED,
    Adjustment,
    Counter,
    Gauge,
    Ledger,
    MemoryLedger,
    RedisLedger,
)


@pytest.fixture(params=["memory", "redis"])
async def ledger(request: pytest.FixtureRequest) -> Ledger:
    if request.param == "memory":
        return MemoryLedger()
    redis_url = request.getfixturevalue("redis_url")
    return RedisLedger.from_url(redis_url, prefix=f"test-rl-{uuid.uuid4().hex}:")


def rpm(name: str, limit: int) -> Counter:
    return Counter(name, limit, need=1, take=1, ttl_s=60)


async def test_a_counter_admits_up_to_its_limit(ledger: Ledger) -> None:
    try:
        results = [await ledger.admit([rpm("a", 3)], [], f"t{i}") for i in range(5)]
        assert results == [ADMITTED] * 3 + [0, 0]
        assert await ledger.read(["a", "other"]) == [3, 0]
    finally:
        await ledger.close()


async def test_a_refusal_takes_nothing_from_any_counter(ledger: Ledger) -> None:
    try:
        assert await ledger.admit([rpm("full", 1)], [], "t0") == ADMITTED
        # The second check fails: the first one must not have taken its share.
        assert await ledger.admit([rpm("free", 5), rpm("full", 1)], [], "t1") == 1
        assert await ledger.read(["free", "full"]) == [0, 1]
    finally:
        await ledger.close()


async def test_budgets_reserve_then_settle_to_the_cost(ledger: Ledger) -> None:
    budget = Counter("usd", limit=100, need=30, take=30, ttl_s=60)
    try:
        tickets = [await ledger.admit([budget], [], f"t{i}") for i in range(4)]
        assert tickets == [ADMITTED, ADMITTED, ADMITTED, 0]  # 3 x 30 fit in 100, not 4
        await ledger.settle([Adjustment("usd", 10 - 30, 60)], [], "t0")  # it cost 10
        assert await ledger.read(["usd"]) == [70]
        assert await ledger.admit([budget], [], "t4") == ADMITTED
        assert await ledger.read(["usd"]) == [100]
    finally:
        await ledger.close()


async def test_a_gauge_holds_tickets_until_they_settle(ledger: Ledger) -> None:
    slots = Gauge("inflight", limit=2, ttl_s=60)
    try:
        assert [await ledger.admit([], [slots], t) for t in ("a", "b", "c")] == [
            ADMITTED,
            ADMITTED,
            0,
        ]
        await ledger.settle([], ["inflight"], "a")
        assert await ledger.admit([], [slots], "c") == ADMITTED
    finally:
        await ledger.close()


async def test_a_gauge_slot_expires_by_itself(ledger: Ledger) -> None:
    try:
        assert await ledger.admit([], [Gauge("g", 1, ttl_s=0.05)], "dead") == ADMITTED
        await asyncio.sleep(0.1)  # the replica holding "dead" never settled it
        assert await ledger.admit([], [Gauge("g", 1, ttl_s=60)], "next") == ADMITTED
    finally:
        await ledger.close()


async def test_concurrent_admissions_on_two_redis_clients_are_exact(redis_url: str) -> None:
    prefix = f"test-rl-{uuid.uuid4().hex}:"
    one, two = RedisLedger.from_url(redis_url, prefix), RedisLedger.from_url(redis_url, prefix)
    try:
        calls = [(one if i % 2 else two).admit([rpm("shared", 7)], [], f"t{i}") for i in range(50)]
        results = await asyncio.gather(*calls)
        assert results.count(ADMITTED) == 7
        assert await one.read(["shared"]) == [7]
    finally:
        await one.close()
        await two.close()


async def test_redis_down_degrades_to_process_counts() -> None:
    ledger = RedisLedger.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        results = [await ledger.admit([rpm("k", 3)], [], f"t{i}") for i in range(5)]
        assert results == [ADMITTED] * 3 + [0, 0]
    finally:
        await ledger.close()


async def test_an_abandoned_admission_is_given_back(redis_url: str) -> None:
    ledger = RedisLedger.from_url(redis_url, prefix=f"test-rl-{uuid.uuid4().hex}:")
    try:
        waiting = asyncio.create_task(ledger.admit([rpm("c", 5)], [Gauge("g", 1, 60)], "gone"))
        await asyncio.sleep(0)  # queued for the next script call
        waiting.cancel()  # its client left before the answer
        assert await ledger.admit([rpm("other", 5)], [], "next") == ADMITTED
        async with asyncio.timeout(5):
            while await ledger.read(["c"]) != [0]:
                await asyncio.sleep(0.01)
        assert await ledger.admit([], [Gauge("g", 1, 60)], "slot") == ADMITTED
    finally:
        await ledger.close()
