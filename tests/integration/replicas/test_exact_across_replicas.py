"""Limits and budgets hold exactly across replicas: three edges and two routers, answers
from the provider simulator, keys in PostgreSQL, counters in Redis. N concurrent requests
spread over the three edges: a budget for exactly K requests lets exactly K through, a
limit of R per minute admits exactly R, and a revoked key stops on every edge."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from tests.integration.edge.conftest import away_from_window_edge
from tests.integration.replicas.conftest import ADMIN_KEY, EDGES, Scaled

CHAT = "/v1/chat/completions"
N, K, R = 60, 7, 11


def body(model: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": "Name one prime number."}]
    return {"model": model, "messages": messages, "max_tokens": 16}


async def create_key(scaled: Scaled, **fields: Any) -> dict[str, Any]:
    """A key made on edge 0, once every edge knows it (their next sync)."""
    resp = await scaled.post(0, "/v1/admin/keys", ADMIN_KEY, fields)
    assert resp.status == 201, await resp.text()
    made: dict[str, Any] = await resp.json()
    async with asyncio.timeout(10):
        for i in range(EDGES):
            while (await scaled.get(i, "/v1/models", made["key"])).status != 200:
                await asyncio.sleep(0.02)
    return made


async def burst(scaled: Scaled, key: str, model: str) -> Counter[tuple[int, str]]:
    """N requests at once, round-robin over the edges: (status, error code) counts."""

    async def one(i: int) -> tuple[int, str]:
        resp = await scaled.post(i, CHAT, key, body(model))
        if resp.status == 200:
            return 200, ""
        assert resp.headers["Retry-After"]
        return resp.status, (await resp.json())["error"]["code"]

    return Counter(await asyncio.gather(*(one(i) for i in range(N))))


async def test_a_budget_for_k_requests_admits_exactly_k(scaled: Scaled) -> None:
    model = scaled.paid_model.id
    probe = await scaled.post(0, CHAT, ADMIN_KEY, body(model))
    assert probe.status == 200, await probe.text()
    cost = float(probe.headers["x-freeway-cost-usd"])
    assert cost > 0
    # The budget is K requests' cost, and each request reserves one request's cost.
    key = await create_key(scaled, budgets={"daily_usd": K * cost, "reserve_usd": cost})
    counts = await burst(scaled, key["key"], model)
    print(
        f"\nbudget for K={K} requests of ${cost:.8f} on {model}, N={N} at once over "
        f"{EDGES} edges: {dict(counts)}"
    )
    assert counts == {(200, ""): K, (429, "insufficient_quota"): N - K}


async def test_a_limit_of_r_per_minute_admits_exactly_r(scaled: Scaled) -> None:
    key = await create_key(scaled, limits={"rpm": R})
    await away_from_window_edge()
    counts = await burst(scaled, key["key"], scaled.paid_model.id)
    print(f"\nlimit R={R}/min, N={N} at once over {EDGES} edges: {dict(counts)}")
    assert counts == {(200, ""): R, (429, "rate_limit_exceeded"): N - R}


async def test_a_team_limit_binds_keys_used_on_different_edges(scaled: Scaled) -> None:
    resp = await scaled.post(0, "/v1/admin/teams/shared", ADMIN_KEY, {})  # POST: not a route
    assert resp.status == 405
    url = scaled.edges[1] + "/v1/admin/teams/shared"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with scaled.session.put(url, json={"limits": {"rpm": R}}, headers=headers) as put:
        assert put.status == 200
    keys = [(await create_key(scaled, team="shared"))["key"] for _ in range(3)]
    await away_from_window_edge()

    async def one(i: int) -> int:
        return (await scaled.post(i, CHAT, keys[i % 3], body(scaled.paid_model.id))).status

    statuses = Counter(await asyncio.gather(*(one(i) for i in range(N))))
    print(f"\nteam limit R={R}/min over 3 keys, N={N} at once: {dict(statuses)}")
    assert statuses == {200: R, 429: N - R}


async def test_a_revoked_key_stops_on_every_edge(scaled: Scaled) -> None:
    key = await create_key(scaled)
    started = time.monotonic()
    resp = await scaled.post(0, f"/v1/admin/keys/{key['id']}/revoke", ADMIN_KEY, {})
    assert resp.status == 200
    refused_after: dict[int, float] = {}
    async with asyncio.timeout(10):
        while len(refused_after) < EDGES:
            for i in set(range(EDGES)) - set(refused_after):
                if (await scaled.get(i, "/v1/models", key["key"])).status == 401:
                    refused_after[i] = time.monotonic() - started
            await asyncio.sleep(0.01)
    shown = {i: f"{s * 1000:.0f} ms" for i, s in sorted(refused_after.items())}
    print(f"\nrevoked on edge 0; refused by each edge after: {shown}")
    assert sorted(refused_after) == list(range(EDGES))
