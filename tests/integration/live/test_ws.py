"""/v1/ws against the real suite on loopback: authentication, the protocol's replies to
bad messages, an event on each topic after a real request or catalogue change, a slow
client closed while a fast one keeps receiving, and 1001 on shutdown."""

from __future__ import annotations

import asyncio
import copy

import aiohttp
import pytest

from services.edge.live.ws import CLOSE_GOING_AWAY, CLOSE_TOO_SLOW, CLOSE_UNAUTHORIZED
from tests.integration.live.conftest import ADMIN_KEY, AUTH, PROVIDER, WAIT_S, Live, event, frame

pytestmark = pytest.mark.integration


async def _closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """Read until the close; the close message."""
    async with asyncio.timeout(WAIT_S):
        while True:
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return message


async def test_a_wrong_key_in_the_header_is_refused_before_the_upgrade(live: Live) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await live.connect(headers={"Authorization": "Bearer wrong"})
    assert refused.value.status == 401


async def test_a_plain_get_without_a_key_is_401_in_openai_shape(live: Live) -> None:
    async with live.session.get(live.ws_url) as resp:
        assert resp.status == 401
        assert set((await resp.json())["error"]) == {"message", "type", "param", "code"}


async def test_the_header_key_is_accepted(live: Live) -> None:
    ws = await live.connect(headers=AUTH)
    ready = await frame(ws)
    assert ready == {
        "type": "ready",
        "key_id": "admin",
        "role": "admin",
        "topics": ["catalog", "metrics", "requests", "providers"],
    }
    await ws.close()


async def test_a_browser_signs_in_with_its_first_message(live: Live) -> None:
    ws = await live.connect()
    await ws.send_json({"type": "auth", "token": ADMIN_KEY})
    assert (await frame(ws))["type"] == "ready"
    await ws.close()


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "not-a-key"},
        {"type": "subscribe", "topics": ["catalog"]},
        {"type": "auth"},
    ],
)
async def test_a_wrong_first_message_closes_4401(live: Live, first: object) -> None:
    ws = await live.connect()
    await ws.send_json(first)
    closed = await _closed(ws)
    assert closed.data == CLOSE_UNAUTHORIZED, closed


async def test_no_first_message_in_time_closes_4401(live: Live) -> None:
    ws = await live.connect()
    closed = await _closed(ws)  # the fixture's edge waits 1 s
    assert (closed.data, closed.extra) == (CLOSE_UNAUTHORIZED, "no auth message in time")


@pytest.mark.parametrize(
    ("sent", "param"),
    [
        ("not json", None),
        ("[1, 2]", None),
        ('{"type": "dance"}', "type"),
        ('{"type": "auth", "token": "x"}', "type"),
        ('{"type": "subscribe"}', "topics"),
        ('{"type": "subscribe", "topics": []}', "topics"),
        ('{"type": "subscribe", "topics": "catalog"}', "topics"),
        ('{"type": "subscribe", "topics": ["catalog", "weather"]}', "topics[1]"),
        ('{"type": "unsubscribe", "topics": [7]}', "topics[0]"),
    ],
)
async def test_a_bad_message_gets_an_error_frame_naming_the_field(
    live: Live, sent: str, param: str | None
) -> None:
    ws = await live.connect(headers=AUTH)
    await frame(ws)
    await ws.send_str(sent)
    reply = await frame(ws)
    assert reply["type"] == "error"
    assert reply["error"]["param"] == param
    assert reply["error"]["message"]
    await ws.send_json({"type": "ping", "id": 7})  # and the connection goes on
    assert await frame(ws) == {"type": "pong", "id": 7}
    await ws.close()


async def test_a_binary_frame_gets_an_error_frame(live: Live) -> None:
    ws = await live.connect(headers=AUTH)
    await frame(ws)
    await ws.send_bytes(b"\x00\x01")
    assert (await frame(ws))["error"]["code"] == "binary_frame"
    await ws.close()


async def test_a_routed_request_reaches_the_requests_and_metrics_topics(live: Live) -> None:
    ws = await live.signed_in("requests", "metrics")
    secret = "a prompt that never leaves the gateway"
    resp = await live.chat(secret)
    assert resp.status == 200
    request_id = resp.headers["x-request-id"]
    seen = await event(ws, "requests", request_id=request_id)
    assert seen["status"] == "ok"
    assert seen["key_id"] == "admin"
    assert seen["provider"] == PROVIDER
    assert seen["model"].startswith(PROVIDER + "/")
    assert seen["prompt_tokens"] > 0
    assert seen["latency_ms"] > 0
    assert seen["cost_usd"] == 0.0
    assert seen["saving_usd"] > 0
    assert secret not in str(seen)
    async with asyncio.timeout(WAIT_S):
        while (await event(ws, "metrics"))["total"]["requests"] < 1:
            pass
    await ws.close()


async def test_a_catalogue_change_reaches_the_catalog_topic_old_and_new(live: Live) -> None:
    ws = await live.signed_in("catalog")
    models = copy.deepcopy(live.simulator.recorded_models(PROVIDER))
    model = next(m for m in models["data"] if m["id"] == "openrouter/elephant-alpha")
    model["context_length"] = 1234
    model["pricing"] = {"prompt": "0.000001", "completion": "0.000002"}
    live.simulator.replace_models(PROVIDER, models)
    await live.refresh()
    change = await event(ws, "catalog", model_id="openrouter/openrouter/elephant-alpha")
    assert change["kind"] == "changed"
    assert change["changes"]["context_window"] == {"old": 262144, "new": 1234}
    assert change["changes"]["is_free"] == {"old": True, "new": False}
    assert change["alert"] == "went_paid"
    await ws.close()


async def test_the_providers_topic_shows_poll_status_and_model_health(live: Live) -> None:
    resp = await live.chat("hello")
    assert resp.status == 200
    ws = await live.signed_in("providers")
    async with asyncio.timeout(WAIT_S):
        while True:
            picture = await event(ws, "providers")
            if picture["models"]:
                break
    assert [p["name"] for p in picture["providers"]] == [PROVIDER]
    assert picture["providers"][0]["healthy"] is True
    assert picture["providers"][0]["last_success"]
    assert (picture["catalog_error"], picture["router_error"]) == (None, None)
    called = [m for m in picture["models"] if m["latency_ms"] > 0]
    assert called
    assert all(m["breaker"] == "closed" for m in called)
    await ws.close()


async def test_every_client_shares_one_feed_per_topic(live: Live) -> None:
    first = await live.signed_in("catalog", "requests")
    second = await live.signed_in("catalog")
    assert live.hub.running_feeds == {"catalog", "requests"}
    assert (live.hub.subscribers("catalog"), live.hub.subscribers("requests")) == (2, 1)
    await first.close()
    async with asyncio.timeout(WAIT_S):  # the edge sees the close when it reads it
        while live.hub.subscribers("requests"):
            await asyncio.sleep(0.01)
    await second.send_json({"type": "unsubscribe", "topics": ["catalog"]})
    assert await frame(second) == {"type": "subscribed", "topics": []}
    assert live.hub.running_feeds == frozenset()
    await second.close()


async def test_a_slow_client_is_closed_while_a_fast_one_keeps_receiving(live: Live) -> None:
    fast = await live.signed_in("catalog")
    slow = await live.signed_in("catalog")  # and never reads, until the end
    payload = "x" * 16_384
    count = 2000  # 32 MB: more than loopback's socket buffers hold for the slow one
    for i in range(count):
        live.hub.publish("catalog", {"kind": "test", "n": i, "pad": payload})
        got = await event(fast, "catalog", kind="test")
        assert got["n"] == i
    closed = await _closed(slow)
    assert closed.data == CLOSE_TOO_SLOW
    assert "too slow" in str(closed.extra)
    assert live.hub.subscribers("catalog") == 1
    await fast.close()


async def test_shutdown_closes_every_client_1001(live: Live) -> None:
    sockets = [await live.signed_in("catalog"), await live.signed_in("requests")]
    await live.stop_edge()
    for ws in sockets:
        closed = await _closed(ws)
        assert closed.data == CLOSE_GOING_AWAY
