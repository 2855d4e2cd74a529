"""The operators' catalogue routes (/v1/catalog, /v1/catalog/changes, /v1/providers) over
real HTTP, against the fake catalog on a real gRPC server."""

from __future__ import annotations

from typing import Any

import pytest

from freeway.common.v1 import common_pb2
from tests.integration.edge.conftest import AUTH, Edge, assert_openai_error
from tests.integration.edge.fakes import SERVED_MODEL

RECORD_FIELDS = {
    "id",
    "provider",
    "upstream_id",
    "display_name",
    "context_window",
    "max_output_tokens",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "request_price",
    "price_source",
    "unpriced",
    "is_free",
    "free_reason",
    "capabilities",
    "input_modalities",
    "output_modalities",
    "quality",
    "quality_source",
    "free_tier",
    "first_seen",
    "last_seen",
    "status",
}


async def get_json(edge: Edge, path: str) -> Any:
    resp = await edge.client.get(path, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


# --- /v1/catalog ---------------------------------------------------------------------


async def test_catalog_lists_every_model_as_a_full_record(edge: Edge) -> None:
    listing = await get_json(edge, "/v1/catalog")

    assert (listing["object"], listing["version"]) == ("list", 3)
    by_id = {m["id"]: m for m in listing["data"]}
    assert list(by_id) == [m.id for m in edge.catalog.models]  # paid ones too, no "auto"
    assert all(set(m) == RECORD_FIELDS for m in listing["data"])
    gpt = by_id["openai/gpt-4o"]
    assert gpt == {
        "id": "openai/gpt-4o",
        "provider": "openai",
        "upstream_id": "gpt-4o",
        "display_name": "GPT-4o",
        "context_window": 128_000,
        "max_output_tokens": 16_384,
        "input_price_per_mtok": 2.5,
        "output_price_per_mtok": 10.0,
        "request_price": None,
        "price_source": "provider",
        "unpriced": False,
        "is_free": False,
        "free_reason": None,
        "capabilities": ["tools", "vision"],
        "input_modalities": ["text", "image"],
        "output_modalities": ["text"],
        "quality": None,
        "quality_source": None,
        "free_tier": {
            "requests_per_minute": 0,
            "requests_per_day": 0,
            "tokens_per_minute": 0,
            "tokens_per_day": 0,
            "scope": None,
        },
        "first_seen": "2023-11-14T22:13:20Z",
        "last_seen": "2023-11-14T22:23:20Z",
        "status": "active",
    }
    assert by_id[SERVED_MODEL]["free_reason"] == "free_variant"
    assert by_id["groq/llama-3.1-8b-instant"]["free_reason"] == "provider_free_tier"


async def test_unknown_prices_are_null_and_a_known_zero_stays_zero(edge: Edge) -> None:
    by_id = {m["id"]: m for m in (await get_json(edge, "/v1/catalog"))["data"]}

    unknown, zero = by_id["mistral/mystery-large"], by_id[SERVED_MODEL]
    assert (unknown["input_price_per_mtok"], unknown["output_price_per_mtok"]) == (None, None)
    assert (unknown["unpriced"], unknown["price_source"], unknown["is_free"]) == (
        True,
        None,
        False,
    )
    assert (zero["input_price_per_mtok"], zero["output_price_per_mtok"]) == (0.0, 0.0)
    assert zero["unpriced"] is False


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("free=true", [SERVED_MODEL, "groq/llama-3.1-8b-instant"]),
        ("free=false", ["openai/gpt-4o", "mistral/mystery-large"]),
        ("provider=openai", ["openai/gpt-4o"]),
        ("capability=tools&capability=vision", ["openai/gpt-4o"]),
        ("capability=tools,vision", ["openai/gpt-4o"]),
        ("capability=reasoning", []),
        ("min_context=100000", [SERVED_MODEL, "groq/llama-3.1-8b-instant", "openai/gpt-4o"]),
        ("free=true&provider=groq", ["groq/llama-3.1-8b-instant"]),
    ],
)
async def test_catalog_filters(edge: Edge, query: str, ids: list[str]) -> None:
    listing = await get_json(edge, f"/v1/catalog?{query}")

    assert [m["id"] for m in listing["data"]] == ids


async def test_catalog_filters_reach_the_catalog(edge: Edge) -> None:
    await get_json(edge, "/v1/catalog?free=1&provider=groq&capability=json,tools&min_context=5")

    [request] = edge.catalog.requests
    assert request.free_only
    assert request.provider == "groq"
    assert list(request.capabilities) == [common_pb2.CAPABILITY_TOOLS, common_pb2.CAPABILITY_JSON]
    assert request.min_context == 5


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("free=maybe", "free"),
        ("capability=teleport", "capability"),
        ("capability=tools&capability=", None),  # an empty value is no filter: not an error
        ("min_context=-1", "min_context"),
        ("min_context=lots", "min_context"),
        ("min_context=" + "9" * 40, "min_context"),
        ("extra=please", "extra"),
    ],
)
async def test_catalog_bad_filters_get_400_naming_the_param(
    edge: Edge, query: str, param: str | None
) -> None:
    resp = await edge.client.get(f"/v1/catalog?{query}", headers=AUTH)
    if param is None:
        assert resp.status == 200
        return
    error = await assert_openai_error(resp, 400, param)
    assert error["message"].startswith(f"{param}: ")
    assert edge.catalog.requests == []


async def test_catalog_extra_shows_the_provider_fields_decoded(edge: Edge) -> None:
    listing = await get_json(edge, "/v1/catalog?provider=openai&extra=true")

    [gpt] = listing["data"]
    assert gpt["extra"] == {"created": 1715367049, "owned_by": "openai"}


async def test_catalog_json_is_rebuilt_when_the_version_changes(edge: Edge) -> None:
    async def ids() -> list[str]:
        return [m["id"] for m in (await get_json(edge, "/v1/catalog?free=false"))["data"]]

    before = await ids()
    edge.catalog.models.pop()
    cached = await ids()
    edge.catalog.version += 1
    after = await ids()

    assert cached == before  # same version, same filter: the JSON built last time
    assert after == before[:-1]


# --- /v1/catalog/changes -------------------------------------------------------------


async def test_changes_since_a_version(edge: Edge) -> None:
    page = await get_json(edge, "/v1/catalog/changes?since=0")

    assert {k: page[k] for k in ("object", "version", "history_truncated", "more")} == {
        "object": "list",
        "version": 3,
        "history_truncated": False,
        "more": False,
    }
    added, changed, removed = page["data"]
    assert [c["version"] for c in page["data"]] == [1, 2, 3]
    assert [c["type"] for c in page["data"]] == ["added", "changed", "removed"]
    assert all(c["model_id"] == SERVED_MODEL for c in page["data"])
    assert added["at"] == "2023-11-14T22:15:00Z"
    assert (added["old"], added["new"]["id"]) == (None, SERVED_MODEL)
    assert changed["changed_fields"] == ["context_window"]
    assert changed["new"]["context_window"] == 2 * changed["old"]["context_window"]
    assert set(changed["new"]) == RECORD_FIELDS
    assert (removed["new"], removed["old"]["context_window"]) == (None, 262144)


async def test_changes_pages_with_limit_and_more(edge: Edge) -> None:
    first = await get_json(edge, "/v1/catalog/changes?since=0&limit=2")
    rest = await get_json(edge, f"/v1/catalog/changes?since={first['data'][-1]['version']}")

    assert ([c["version"] for c in first["data"]], first["more"]) == ([1, 2], True)
    assert ([c["version"] for c in rest["data"]], rest["more"]) == ([3], False)
    assert [(r.since_version, r.limit) for r in edge.catalog.change_requests] == [(0, 2), (2, 0)]


async def test_changes_too_far_behind_say_history_truncated(edge: Edge) -> None:
    page = await get_json(edge, "/v1/catalog/changes?since=99")

    assert (page["history_truncated"], page["data"], page["version"]) == (True, [], 3)


async def test_changes_since_defaults_to_the_beginning(edge: Edge) -> None:
    page = await get_json(edge, "/v1/catalog/changes")

    assert len(page["data"]) == 3


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("since=-1", "since"),
        ("since=v3", "since"),
        ("since=0&limit=0", "limit"),
        ("since=0&limit=5001", "limit"),
        ("since=0&limit=ten", "limit"),
    ],
)
async def test_changes_bad_params_get_400_naming_them(edge: Edge, query: str, param: str) -> None:
    resp = await edge.client.get(f"/v1/catalog/changes?{query}", headers=AUTH)

    await assert_openai_error(resp, 400, param)
    assert edge.catalog.change_requests == []


# --- /v1/providers -------------------------------------------------------------------


async def test_providers_show_status_counts_and_unpriced(edge: Edge) -> None:
    listing = await get_json(edge, "/v1/providers")

    assert listing["object"] == "list"
    by_name = {p["name"]: p for p in listing["data"]}
    assert list(by_name) == ["openrouter", "mistral", "groq"]
    assert by_name["openrouter"] == {
        "name": "openrouter",
        "format": "openrouter",
        "base_url": "https://openrouter.ai/api/v1",
        "healthy": True,
        "last_success": "2023-11-14T22:13:20Z",
        "last_error": None,
        "next_poll": "2023-11-14T23:13:20Z",
        "model_count": 1,
        "free_count": 1,
        "unpriced_count": 0,
    }
    mistral = by_name["mistral"]
    assert (mistral["healthy"], mistral["last_success"], mistral["unpriced_count"]) == (
        False,
        None,
        1,
    )
    assert mistral["last_error"].startswith("HTTP 503")
    assert by_name["groq"]["unpriced_count"] == 1  # free by its tier, but no price is known
    assert by_name["groq"]["last_error"] == "missing API key GROQ_API_KEY"


# --- every route ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/catalog", "/v1/catalog/changes?since=0", "/v1/providers"])
async def test_operator_routes_need_a_key(edge: Edge, path: str) -> None:
    await assert_openai_error(await edge.client.get(path), 401)
    await assert_openai_error(
        await edge.client.get(path, headers={"Authorization": "Bearer wrong"}), 401
    )


@pytest.mark.parametrize("path", ["/v1/catalog", "/v1/catalog/changes", "/v1/providers"])
async def test_operator_routes_answer_503_when_the_catalog_is_down(edge: Edge, path: str) -> None:
    await edge.backends.catalog_server.stop(0)

    error = await assert_openai_error(await edge.client.get(path, headers=AUTH), 503)
    assert error["code"] == "service_unavailable"
