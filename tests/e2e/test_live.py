"""The live side through a real Envoy: /v1/ws (a browser's way in: the key in the first
message) receives a request routed through Envoy, and the dashboard at `/`, driven in
headless Chromium, shows the requests in its charts and a new one in its live feed.
Screenshots go to var/artifacts/."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import openai
import orjson
import pytest

from tests.conftest import ROOT, unavailable
from tests.e2e.conftest import ADMIN_KEY, RunningSuite

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("FREEWAY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "var" / "artifacts"
FEED_BOUND_MS = 2000  # the bar: a new request shows in the live feed within 2 s


def _chat(suite: RunningSuite, content: str) -> str:
    """A completion through Envoy; its request id."""
    with openai.OpenAI(base_url=suite.base_url, api_key=ADMIN_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": content}]
        )
        raw.parse()
    return str(raw.headers["x-request-id"])


async def _frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=30)
    assert message.type is aiohttp.WSMsgType.TEXT, (message.type, message.data)
    data: dict[str, Any] = orjson.loads(message.data)
    return data


async def _request_through_the_socket(suite: RunningSuite) -> dict[str, Any]:
    url = f"ws://{suite.settings.envoy_addr}/v1/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_json({"type": "auth", "token": ADMIN_KEY})
        assert (await _frame(ws))["type"] == "ready"
        await ws.send_json({"type": "subscribe", "topics": ["requests"]})
        while (await _frame(ws)) != {
            "type": "status",
            "topic": "requests",
            "state": "live",
            "detail": None,
        }:
            pass
        request_id = await asyncio.to_thread(_chat, suite, "Through the socket, please.")
        async with asyncio.timeout(30):
            while True:
                got = await _frame(ws)
                if got["type"] == "event" and got["data"]["request_id"] == request_id:
                    data: dict[str, Any] = got["data"]
                    return data


def test_a_request_through_envoy_reaches_a_websocket_through_envoy(suite: RunningSuite) -> None:
    seen = asyncio.run(_request_through_the_socket(suite))
    assert seen["status"] == "ok"
    assert seen["key_id"] == "admin"
    assert "Through the socket" not in str(seen)


def test_the_dashboard_page_has_a_csp_and_no_key(suite: RunningSuite) -> None:
    resp = httpx.get(f"http://{suite.settings.envoy_addr}/", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert "<script>" not in resp.text  # no inline script
    js = httpx.get(f"http://{suite.settings.envoy_addr}/dashboard/app.js", timeout=10)
    assert js.status_code == 200
    assert "sessionStorage" in js.text


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (make install)")
    if shutil.which(CHROMIUM) is None:
        unavailable(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def _shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the page did not get there in time"
        time.sleep(0.1)


def _usage_shows(suite: RunningSuite, request_ids: set[str]) -> None:
    """Wait (bounded) until analytics has stored these requests."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = httpx.get(f"{suite.base_url}/usage/export", headers=suite.auth, timeout=10)
        if request_ids <= {orjson.loads(line)["request_id"] for line in rows.text.splitlines()}:
            return
        time.sleep(0.2)
    raise AssertionError(f"requests {request_ids} not stored within 30 s")


def test_the_dashboard_charts_requests_and_feeds_a_new_one_live(
    suite: RunningSuite, browser: Browser
) -> None:
    sent = {_chat(suite, f"Dashboard request {i}") for i in range(3)}
    _usage_shows(suite, sent)
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"http://{suite.settings.envoy_addr}/")
    page.fill("#key", ADMIN_KEY)
    page.click("#sign-in-form button")
    # Polled from here: the page's CSP forbids the eval that wait_for_function needs.
    _until(lambda: float(page.get_attribute("#chart-requests", "data-total") or 0) >= 3)
    assert int(page.text_content("#total-requests") or "0") >= 3
    assert page.locator("#chart-requests rect.bar").count() >= 1
    assert page.locator("#chart-tokens rect.bar").count() >= 1
    assert ADMIN_KEY not in page.url
    _shot(page, "overview")

    page.click("#tabs button[data-view=live]")
    _until(lambda: page.text_content("#live-state") == "live")
    request_id = _chat(suite, "A request the live feed shows")
    page.wait_for_selector(f'#feed tr[data-request-id="{request_id}"]', timeout=FEED_BOUND_MS)
    row = page.text_content(f'#feed tr[data-request-id="{request_id}"]') or ""
    assert "ok" in row
    assert "A request the live feed shows" not in page.content()
    _shot(page, "live")

    page.click("#tabs button[data-view=catalogue]")
    page.wait_for_selector("#models tr", timeout=30_000)
    page.fill("#search", "free")
    _shot(page, "catalogue")
    page.click("#tabs button[data-view=providers]")
    page.wait_for_selector("#quota-rows tr", timeout=30_000)
    _shot(page, "providers")
    assert errors == []
    page.close()
