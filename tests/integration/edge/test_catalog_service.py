"""The operators' catalogue routes against the real catalog service (SQLite, polling a
recorded OpenRouter list on loopback), not a fake: the two sides agree on the contract."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.catalog.app import App, build
from services.shared.settings import SuiteSettings
from tests.integration.catalog.conftest import expected, fast_settings, keyless, openrouter
from tests.integration.catalog.provider import FakeProvider, LoopbackTransport
from tests.integration.edge.conftest import AUTH, Backends, EdgeFactory

pytestmark = pytest.mark.integration


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[App]:
    provider = FakeProvider.recorded()
    await provider.start()
    app = await build(
        fast_settings(),
        SuiteSettings(catalog_addr="127.0.0.1:0", data_dir=tmp_path, database_url=None),
        providers=[openrouter(), keyless()],
        env={"FREEWAY_TEST_OPENROUTER_KEY": "sk-test"},
        client=httpx.AsyncClient(transport=LoopbackTransport(provider.port)),
    )
    app.owns_client = True
    await app.start("127.0.0.1:0")
    async with asyncio.timeout(30):
        while app.catalogue.version == 0:
            await asyncio.sleep(0.01)
    yield app
    await app.stop(grace=0.5)
    await provider.stop()


async def get_json(client: Any, path: str) -> Any:
    resp = await client.get(path, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_catalog_changes_and_providers_from_the_real_service(
    catalog: App, backends: Backends, make_edge: EdgeFactory
) -> None:
    want = expected()
    suite = backends.suite(catalog_addr=f"127.0.0.1:{catalog.port}")

    async with make_edge(suite=suite) as edge:
        listing = await get_json(edge.client, "/v1/catalog")
        free = await get_json(edge.client, "/v1/catalog?free=true&provider=openrouter")
        page = await get_json(edge.client, "/v1/catalog/changes?since=0&limit=10")
        providers = await get_json(edge.client, "/v1/providers")

    by_id = {m["id"]: m for m in listing["data"]}
    assert listing["version"] == catalog.catalogue.version == len(want)
    assert set(by_id) == set(want)
    assert {m["id"] for m in free["data"]} == {i for i, r in want.items() if r.is_free}
    for model_id, record in want.items():
        assert by_id[model_id]["input_price_per_mtok"] == record.input_price_per_mtok
        assert by_id[model_id]["is_free"] == record.is_free
    assert [c["version"] for c in page["data"]] == list(range(1, 11))
    assert all(c["type"] == "added" and c["old"] is None for c in page["data"])
    assert (page["more"], page["history_truncated"]) == (True, False)
    polled, groq = providers["data"]
    assert (polled["name"], polled["healthy"], polled["model_count"]) == (
        "openrouter",
        True,
        len(want),
    )
    assert polled["unpriced_count"] == sum(1 for r in want.values() if not r.priced)
    assert (groq["name"], groq["healthy"]) == ("groq", False)
