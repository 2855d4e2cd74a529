"""Query parsing and JSON of the operators' catalogue routes (no servers)."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from multidict import MultiDict

from freeway.catalog.v1 import catalog_pb2
from freeway.common.v1 import common_pb2
from services.edge import catalog_json, queries
from services.shared.errors import InvalidArgument


def test_catalog_query_reads_every_filter() -> None:
    query = queries.CatalogQuery.parse(
        MultiDict(
            [
                ("free", "false"),
                ("provider", " groq "),
                ("capability", "JSON, tools"),
                ("capability", "tools"),
                ("min_context", "8192"),
                ("unknown", "ignored"),
            ]
        )
    )

    assert query == queries.CatalogQuery(
        free=False,
        provider="groq",
        capabilities=(common_pb2.CAPABILITY_TOOLS, common_pb2.CAPABILITY_JSON),
        min_context=8192,
        extra=False,
    )
    assert not query.request().free_only  # the paid ones are picked at the edge
    assert queries.CatalogQuery.parse(MultiDict([("free", "yes")])).request().free_only


@pytest.mark.parametrize(
    ("name", "raw", "low", "high"),
    [("n", "-1", 0, 10), ("n", "1e3", 0, 10), ("n", "11", 0, 10), ("n", "٣", 0, 10)],
)
def test_integers_are_plain_decimals_in_range(name: str, raw: str, low: int, high: int) -> None:
    with pytest.raises(InvalidArgument) as bad:
        queries.integer(MultiDict([(name, raw)]), name, 0, low, high)

    assert bad.value.field == name
    assert queries.integer(MultiDict(), name, 7, low, high) == 7


def test_changes_query_defaults() -> None:
    query = queries.ChangesQuery.parse(MultiDict())

    assert (query.since, query.limit, query.extra) == (0, 0, False)
    assert query.request() == catalog_pb2.ListChangesRequest()


def test_a_model_without_prices_shows_null_never_zero() -> None:
    body = catalog_json.record(common_pb2.Model(id="p/x", provider="p", upstream_id="x"))

    assert [body[k] for k in catalog_json.PRICES] == [None, None, None]
    assert (body["unpriced"], body["price_source"], body["free_reason"]) == (True, None, None)
    assert (body["first_seen"], body["last_seen"]) == (None, None)


def test_a_partial_price_is_still_unpriced() -> None:
    model = common_pb2.Model(id="p/x", input_price_per_mtok=0.0, request_price=0.01)

    body = catalog_json.record(model)

    assert (body["input_price_per_mtok"], body["output_price_per_mtok"]) == (0.0, None)
    assert body["request_price"] == 0.01
    assert body["unpriced"]


def test_times_are_rfc3339_utc() -> None:
    model = common_pb2.Model(first_seen=Timestamp(seconds=1_700_000_000, nanos=500_000_000))

    assert catalog_json.record(model)["first_seen"] == "2023-11-14T22:13:20.500Z"


def test_providers_carry_the_catalogs_unpriced_count() -> None:
    reply = catalog_pb2.ListProvidersResponse(
        providers=[
            catalog_pb2.ProviderStatus(name="a", unpriced_count=1),
            catalog_pb2.ProviderStatus(name="c"),
        ]
    )

    listing = json.loads(catalog_json.providers_json(reply))

    assert [(p["name"], p["unpriced_count"]) for p in listing["data"]] == [("a", 1), ("c", 0)]
