"""`GET /v1/alerts` over a real edge and a catalog servicer on loopback: newest first, kinds
as names, each value old → new, filters reaching the catalog, bad parameters a 400 naming
them, readable with the viewer role."""

from __future__ import annotations

from typing import Any

import pytest

from freeway.catalog.v1 import catalog_pb2
from tests.integration.edge.conftest import AUTH, Edge, assert_openai_error
from tests.integration.edge.test_keys import bearer, make_key

pytestmark = pytest.mark.integration


async def get_json(edge: Edge, path: str, headers: dict[str, str] = AUTH) -> Any:
    resp = await edge.client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_alerts_are_listed_newest_first_with_old_and_new_values(edge: Edge) -> None:
    listing = await get_json(edge, "/v1/alerts")

    assert (listing["object"], listing["last_seq"], listing["more"]) == ("list", 2, False)
    down, paid = listing["data"]
    assert (down["kind"], down["topic"], down["model_id"]) == ("provider_down", "providers", None)
    assert down["values"] == [{"field": "last_error", "old": None, "new": "HTTP 503"}]
    assert paid == {
        "seq": 1,
        "id": "went_paid:openrouter/m:free:4",
        "kind": "went_paid",
        "severity": "critical",
        "topic": "catalog",
        "at": "2023-11-14T22:13:20Z",
        "subject": "openrouter/m:free",
        "provider": "openrouter",
        "model_id": "openrouter/m:free",
        "message": "openrouter/m:free is no longer free",
        "source": "catalog",
        "values": [
            {"field": "is_free", "old": True, "new": False},
            {"field": "input_price_per_mtok", "old": 0, "new": 1.5},
        ],
    }


async def test_alert_filters_reach_the_catalog(edge: Edge) -> None:
    listing = await get_json(edge, "/v1/alerts?kind=went_paid,gone&kind=gone&limit=1&before=9")

    [request] = edge.catalog.alert_requests
    assert list(request.kinds) == [catalog_pb2.ALERT_KIND_WENT_PAID, catalog_pb2.ALERT_KIND_GONE]
    assert (request.limit, request.before_seq) == (1, 9)
    assert [a["kind"] for a in listing["data"]] == ["went_paid"]


@pytest.mark.parametrize(
    ("query", "param"),
    [("kind=paid", "kind"), ("limit=0", "limit"), ("limit=1001", "limit"), ("before=-1", "before")],
)
async def test_bad_alert_params_get_400_naming_them(edge: Edge, query: str, param: str) -> None:
    await assert_openai_error(
        await edge.client.get(f"/v1/alerts?{query}", headers=AUTH), 400, param
    )
    assert edge.catalog.alert_requests == []


async def test_a_viewer_reads_alerts_and_no_key_does_not(edge: Edge) -> None:
    viewer = (await make_key(edge, role="viewer"))["key"]

    assert len((await get_json(edge, "/v1/alerts", bearer(viewer)))["data"]) == 2
    await assert_openai_error(await edge.client.get("/v1/alerts"), 401)
