"""Keys, roles, scopes, limits, budgets and the audit log through the edge's REST API
(the admin API creates the keys; the fake router shows what reached it)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import ClientResponse

from freeway.common.v1 import common_pb2
from services.edge.admission import NO_UNKNOWN_PRICE
from tests.integration.edge.conftest import (
    AUTH,
    CHAT,
    USER,
    Edge,
    EdgeFactory,
    assert_openai_error,
    away_from_window_edge,
)

KEYS = "/v1/admin/keys"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_key(edge: Edge, **body: Any) -> dict[str, Any]:
    resp = await edge.client.post(KEYS, json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    made: dict[str, Any] = await resp.json()
    return made


async def chat(edge: Edge, key: str, **body: Any) -> ClientResponse:
    return await edge.client.post(CHAT, json={"messages": USER, **body}, headers=bearer(key))


async def test_a_created_key_is_shown_once_then_only_by_prefix(edge: Edge) -> None:
    made = await make_key(edge, name="ci", team="data")
    key = made["key"]
    assert key.startswith("fwk-")
    assert made["prefix"] == key[:12]
    assert (made["team"], made["role"], made["name"]) == ("data", "member", "ci")
    listed = await (await edge.client.get(KEYS, headers=AUTH)).json()
    assert [k["id"] for k in listed["data"]] == [made["id"]]
    text = await (await edge.client.get(f"{KEYS}/{made['id']}", headers=AUTH)).text()
    assert key not in text
    assert "sha256" not in text
    assert made["prefix"] in text


async def test_a_key_calls_with_its_id_and_team(edge: Edge) -> None:
    made = await make_key(edge, team="data")
    resp = await chat(edge, made["key"])
    assert resp.status == 200
    seen = edge.router.seen[-1].request
    assert (seen.key_id, seen.team_id) == (made["id"], "data")


async def test_roles(edge: Edge) -> None:
    member = (await make_key(edge, role="member"))["key"]
    viewer = (await make_key(edge, role="viewer"))["key"]
    assert (await chat(edge, member)).status == 200
    assert (await edge.client.get("/v1/models", headers=bearer(viewer))).status == 200
    for resp in (
        await chat(edge, viewer),
        await edge.client.get(KEYS, headers=bearer(member)),
        await edge.client.post(KEYS, json={}, headers=bearer(member)),
        await edge.client.get("/v1/admin/audit", headers=bearer(viewer)),
    ):
        error = await assert_openai_error(resp, 403)
        assert error["type"] == "permission_error"
        assert error["code"] == "insufficient_permissions"
    assert len(edge.router.seen) == 1


async def test_an_admin_key_of_the_store_may_administer(edge: Edge) -> None:
    boss = (await make_key(edge, role="admin"))["key"]
    made = await make_key(edge)
    resp = await edge.client.post(f"{KEYS}/{made['id']}/revoke", headers=bearer(boss))
    assert resp.status == 200
    entries = (await (await edge.client.get("/v1/admin/audit", headers=AUTH)).json())["data"]
    actors = {e["action"]: e["actor"] for e in entries}
    boss_id = entries[-1]["target"]
    assert actors == {"key.created": "admin", "key.revoked": boss_id}


async def test_revoked_and_rotated_keys_stop_at_once(edge: Edge) -> None:
    made = await make_key(edge)
    old = made["key"]
    rotated = await (await edge.client.post(f"{KEYS}/{made['id']}/rotate", headers=AUTH)).json()
    assert rotated["id"] == made["id"]
    assert rotated["prefix"] != made["prefix"]
    await assert_openai_error(await chat(edge, old), 401)
    assert (await chat(edge, rotated["key"])).status == 200
    await edge.client.post(f"{KEYS}/{made['id']}/revoke", headers=AUTH)
    await assert_openai_error(await chat(edge, rotated["key"]), 401)
    shown = await (await edge.client.get(KEYS, headers=AUTH)).json()
    assert shown["data"] == []  # revoked keys only with ?revoked=true
    every = await (await edge.client.get(f"{KEYS}?revoked=true", headers=AUTH)).json()
    assert every["data"][0]["revoked_at"] is not None


async def test_an_expired_key_is_refused(edge: Edge) -> None:
    made = await make_key(edge, expires_at=time.time() + 0.3)
    assert (await chat(edge, made["key"])).status == 200
    await asyncio.sleep(0.4)
    await assert_openai_error(await chat(edge, made["key"]), 401)


async def test_scopes_become_the_routers_constraints(edge: Edge) -> None:
    scopes = {"models": ["groq/llama-3.1-8b-instant"], "providers": ["openrouter"], "paid": False}
    made = await make_key(edge, scopes=scopes)
    assert (await chat(edge, made["key"])).status == 200
    constraints = edge.router.seen[-1].request.constraints
    assert list(constraints.allow) == ["groq/llama-3.1-8b-instant", "openrouter"]
    assert constraints.free_only
    assert not constraints.HasField("max_price_per_mtok")  # no budget: unpriced models allowed


async def test_strategies_a_key_may_not_use_are_refused(edge: Edge) -> None:
    made = await make_key(edge, scopes={"strategies": ["cost", "latency"]})
    error = await assert_openai_error(
        await chat(edge, made["key"], strategy="quality"), 403, "strategy"
    )
    assert error["code"] == "strategy_not_allowed"
    assert (await chat(edge, made["key"], strategy="latency")).status == 200
    assert edge.router.seen[-1].request.strategy == common_pb2.STRATEGY_LATENCY
    assert (await chat(edge, made["key"])).status == 200  # none asked: the key's first
    assert edge.router.seen[-1].request.strategy == common_pb2.STRATEGY_COST


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"role": "root"}, "role"),
        ({"limits": {"rpm": -1}}, "limits.rpm"),
        ({"limits": {"rph": 1}}, "limits.rph"),
        ({"budgets": {"daily_usd": "5"}}, "budgets.daily_usd"),
        ({"scopes": {"strategies": ["fastest"]}}, "scopes.strategies[0]"),
        ({"scopes": {"paid": "no"}}, "scopes.paid"),
        ({"expires_at": 1}, "expires_at"),
        ({"team": "a team"}, "team"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_key_fields_are_named(edge: Edge, body: dict[str, Any], param: str) -> None:
    resp = await edge.client.post(KEYS, json=body, headers=AUTH)
    await assert_openai_error(resp, 400, param)


async def test_unknown_key_is_404(edge: Edge) -> None:
    await assert_openai_error(
        await edge.client.post(f"{KEYS}/key_x/revoke", headers=AUTH), 404, "id"
    )


async def test_key_and_team_rate_limits(edge: Edge) -> None:
    await away_from_window_edge()
    one = (await make_key(edge, team="t1", limits={"rpm": 2}))["key"]
    two = (await make_key(edge, team="t1"))["key"]
    resp = await edge.client.put("/v1/admin/teams/t1", json={"limits": {"rpm": 3}}, headers=AUTH)
    assert resp.status == 200
    assert [(await chat(edge, one)).status for _ in range(2)] == [200, 200]
    error = await assert_openai_error(await chat(edge, one), 429)
    assert error["code"] == "rate_limit_exceeded"
    assert "key key_" in error["message"]
    assert (await chat(edge, two)).status == 200  # the team's third
    resp = await chat(edge, two)
    error = await assert_openai_error(resp, 429)
    assert "team t1" in error["message"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


async def test_limit_changes_are_audited(edge: Edge) -> None:
    made = await make_key(edge, limits={"rpm": 5})
    resp = await edge.client.patch(
        f"{KEYS}/{made['id']}", json={"limits": {"tpm": 900}}, headers=AUTH
    )
    assert (await resp.json())["limits"] == {"rpm": 5, "rpd": None, "tpm": 900, "concurrent": None}
    entries = (await (await edge.client.get("/v1/admin/audit", headers=AUTH)).json())["data"]
    latest = entries[0]
    assert (latest["action"], latest["actor"], latest["target"]) == (
        "key.updated",
        "admin",
        made["id"],
    )
    assert latest["details"]["limits"]["new"]["tpm"] == 900
    assert latest["details"]["limits"]["old"]["tpm"] is None
    assert latest["at"] <= time.time()


async def test_concurrent_requests_over_the_limit_get_429(edge: Edge) -> None:
    made = await make_key(edge, limits={"concurrent": 2})
    edge.router.delay_s = 0.3
    statuses = sorted(
        r.status for r in await asyncio.gather(*(chat(edge, made["key"]) for _ in range(5)))
    )
    assert statuses == [200, 200, 429, 429, 429]
    edge.router.delay_s = 0.0
    assert (await chat(edge, made["key"])).status == 200  # the slots were given back


async def test_a_budget_admits_what_its_reservations_allow(edge: Edge) -> None:
    # Three reservations of $0.01 fit in $0.03: of ten requests at once, three go through.
    made = await make_key(edge, budgets={"daily_usd": 0.03, "reserve_usd": 0.01})
    edge.router.delay_s = 0.3
    replies = await asyncio.gather(*(chat(edge, made["key"]) for _ in range(10)))
    assert sorted(r.status for r in replies) == [200] * 3 + [429] * 7
    refused = next(r for r in replies if r.status == 429)
    error = await assert_openai_error(refused, 429)
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
    assert int(refused.headers["Retry-After"]) >= 1
    # The fake's model is free: the reservations settled at $0, the budget is whole again.
    edge.router.delay_s = 0.0
    assert (await chat(edge, made["key"])).status == 200
    constraints = edge.router.seen[-1].request.constraints
    assert constraints.max_price_per_mtok == NO_UNKNOWN_PRICE  # no unpriced model


async def test_a_team_budget_binds_every_key_of_the_team(make_edge: EdgeFactory) -> None:
    async with make_edge(budget_reserve_usd=0.5) as edge:
        resp = await edge.client.put(
            "/v1/admin/teams/ops", json={"budgets": {"monthly_usd": 1.0}}, headers=AUTH
        )
        assert resp.status == 200
        keys = [(await make_key(edge, team="ops"))["key"] for _ in range(3)]
        edge.router.delay_s = 0.3
        replies = await asyncio.gather(*(chat(edge, k) for k in keys))
        assert sorted(r.status for r in replies) == [200, 200, 429]


async def test_a_streamed_request_settles_from_its_last_chunk(edge: Edge) -> None:
    made = await make_key(
        edge, budgets={"daily_usd": 0.01, "reserve_usd": 0.01}, limits={"concurrent": 1}
    )
    for _ in range(3):  # each stream gives back its slot and settles its free cost
        resp = await chat(edge, made["key"], stream=True)
        assert resp.status == 200
        assert (await resp.read()).endswith(b"data: [DONE]\n\n")
