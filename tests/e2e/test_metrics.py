"""Prometheus /metrics of every service of the running suite: real requests through Envoy
move the counters by exactly what was sent, and every scrape passes `promtool check
metrics`. /metrics is never served through Envoy."""

from __future__ import annotations

import time

import httpx
import pytest

from services.shared.metrics import metrics_address
from tests.e2e.conftest import RunningSuite
from tests.prometheus_text import Samples, check_metrics, parse, total

pytestmark = pytest.mark.e2e

REQUESTS = 5


def _url(suite: RunningSuite, service: str) -> str:
    s = suite.settings
    if service == "edge":
        return f"http://{s.edge_addr}/metrics"
    host, port = metrics_address(
        getattr(s, f"{service}_addr"), getattr(s, f"{service}_metrics_port")
    )
    return f"http://{host}:{port}/metrics"


def _scrape(suite: RunningSuite, service: str) -> str:
    resp = httpx.get(_url(suite, service), timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return resp.text


def _samples(suite: RunningSuite, service: str) -> Samples:
    return parse(_scrape(suite, service))


def _complete(suite: RunningSuite, stream: bool = False) -> None:
    body: dict[str, object] = {
        "model": "auto",
        "messages": [{"role": "user", "content": "Count me."}],
    }
    if stream:
        body["stream"] = True
    resp = httpx.post(
        f"{suite.base_url}/chat/completions", json=body, headers=suite.auth, timeout=30
    )
    assert resp.status_code == 200, resp.text


def test_requests_move_every_service_s_counters_by_exactly_what_was_sent(
    suite: RunningSuite,
) -> None:
    _complete(suite)  # the catalogue is in and analytics is reachable
    # The suite is shared: wait until no usage event (the warm-up's, or an earlier test's) is
    # still on its way to analytics, so the counts below are this test's alone.
    deadline = time.monotonic() + 30
    stored_so_far, steady_since = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        now_stored = total(_samples(suite, "analytics"), "freeway_analytics_events_ingested_total")
        if now_stored != stored_so_far:
            stored_so_far, steady_since = now_stored, time.monotonic()
        elif now_stored >= 1 and time.monotonic() - steady_since >= 1.0:
            break
        time.sleep(0.1)
    edge_before, router_before = _samples(suite, "edge"), _samples(suite, "router")
    analytics_before = _samples(suite, "analytics")
    for _ in range(REQUESTS):
        _complete(suite)
    edge, router = _samples(suite, "edge"), _samples(suite, "router")

    def moved(after: Samples, before: Samples, name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    chat = {"route": "/v1/chat/completions", "method": "POST", "status": "200"}
    assert moved(edge, edge_before, "freeway_edge_http_requests_total", **chat) == REQUESTS
    assert (
        moved(edge, edge_before, "freeway_edge_http_request_duration_seconds_count",
              route="/v1/chat/completions")
        == REQUESTS
    )  # fmt: skip
    assert moved(router, router_before, "freeway_router_requests_total", status="ok") == REQUESTS
    assert moved(router, router_before, "freeway_router_requests_total") == REQUESTS
    assert moved(router, router_before, "freeway_router_request_duration_seconds_count") == REQUESTS
    assert moved(router, router_before, "freeway_router_tokens_total", kind="prompt") > 0
    assert moved(router, router_before, "freeway_router_tokens_total", kind="completion") > 0
    assert moved(router, router_before, "freeway_router_saving_usd_total") > 0
    assert total(router, "freeway_router_provider_up") >= 1
    assert total(router, "freeway_router_catalogue_models") > 0

    deadline = time.monotonic() + 30  # usage reaches analytics in the reporter's next batch
    while True:
        analytics = _samples(suite, "analytics")
        stored = moved(
            analytics, analytics_before, "freeway_analytics_events_ingested_total", result="stored"
        )
        if stored >= REQUESTS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert stored == REQUESTS
    assert moved(analytics, analytics_before, "freeway_analytics_ingest_lag_seconds_count") >= 1

    catalog = _samples(suite, "catalog")
    assert total(catalog, "freeway_catalog_models", pricing="free") > 0
    assert total(catalog, "freeway_catalog_polls_total") >= 1
    assert total(catalog, "freeway_catalog_provider_up") >= 1
    assert total(catalog, "freeway_catalog_last_successful_poll_timestamp_seconds") > 0


def test_a_stream_is_timed_to_its_first_token(suite: RunningSuite) -> None:
    before = _samples(suite, "router")
    _complete(suite, stream=True)
    after = _samples(suite, "router")
    name = "freeway_router_time_to_first_token_seconds_count"
    assert total(after, name) - total(before, name) == 1


@pytest.mark.parametrize("service", ["edge", "catalog", "router", "analytics"])
def test_every_scrape_passes_promtool(suite: RunningSuite, service: str) -> None:
    _complete(suite)
    text = _scrape(suite, service)
    assert f'freeway_service_info{{service="{service}"}} 1' in text
    check_metrics(text)


@pytest.mark.parametrize("path", ["/metrics", "/%6Detrics", "//metrics"])
def test_envoy_never_serves_metrics(suite: RunningSuite, path: str) -> None:
    resp = httpx.get(f"http://{suite.settings.envoy_addr}{path}", timeout=10)
    assert resp.status_code in (301, 401, 404), resp.text  # 401: a path the edge does not have
    assert "freeway_" not in resp.text
