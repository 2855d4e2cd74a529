"""The provider simulator over real loopback HTTP: recorded model lists, chat, scripted faults."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from services.simulator import ChunkDelay, Drop, Error, Latency, Malformed, Reply, Simulator
from services.simulator.providers import PROVIDERS, RECORDINGS
from tests.conftest import ROOT, free_port

CHAT = {
    "model": "meta-llama/llama-3.3-70b-instruct:free",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(port=0) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def chat_url(s: Simulator, provider: str = "openrouter") -> str:
    return s.base_url(provider) + "/chat/completions"


async def sse_events(resp: aiohttp.ClientResponse) -> list[str]:
    text = (await resp.read()).decode()
    return [line.removeprefix("data: ") for line in text.split("\n\n") if line]


@pytest.mark.parametrize("spec", PROVIDERS, ids=lambda p: p.name)
async def test_models_are_the_recorded_bodies(
    sim: Simulator, http: aiohttp.ClientSession, spec: Any
) -> None:
    async with http.get(sim.base_url(spec.name) + "/models") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.read() == (RECORDINGS / spec.recording).read_bytes()
        assert resp.headers["ETag"]


async def test_openrouter_list_has_free_variants(sim: Simulator) -> None:
    ids = [m["id"] for m in sim.recorded_models("openrouter")["data"]]
    assert any(i.endswith(":free") for i in ids)


async def test_etag_gives_304_until_the_list_is_replaced(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    url = sim.base_url("groq") + "/models"
    async with http.get(url) as resp:
        etag = resp.headers["ETag"]
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    body = sim.recorded_models("groq")
    body["data"] = body["data"][:1]
    sim.replace_models("groq", body)
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 200
        assert len((await resp.json())["data"]) == 1
        assert resp.headers["ETag"] != etag
    sim.restore_models("groq")
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304


async def test_chat_completion_echoes_the_last_user_message(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(chat_url(sim), json=CHAT) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == CHAT["model"]
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert "capital of France" in message["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_max_tokens_truncates_with_finish_reason_length(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(chat_url(sim), json={**CHAT, "max_tokens": 2}) as resp:
        body = await resp.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] <= 2


async def test_stream_is_sse_chunks_ending_with_done_and_usage(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    request = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with http.post(chat_url(sim, "groq"), json=request) as resp:
        assert resp.content_type == "text/event-stream"
        events = await sse_events(resp)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    async with http.post(chat_url(sim, "groq"), json=CHAT) as resp:
        assert text == (await resp.json())["choices"][0]["message"]["content"]


async def test_stream_without_include_usage_has_no_usage_chunk(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(chat_url(sim), json={**CHAT, "stream": True}) as resp:
        events = await sse_events(resp)
    assert all("usage" not in json.loads(e) for e in events[:-1])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": CHAT["messages"]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": ["user"]}]}, "messages[0].role"),
    ],
)
async def test_bad_chat_body_is_400_naming_the_param(
    sim: Simulator, http: aiohttp.ClientSession, body: dict[str, Any], param: str
) -> None:
    async with http.post(chat_url(sim), json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["param"] == param


async def test_scripted_429_with_retry_after_then_recovery(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("openrouter", Error(429, retry_after=3), times=1)
    async with http.post(chat_url(sim), json=CHAT) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "3"
        assert (await resp.json())["error"]["code"] == "rate_limit_exceeded"
    async with http.post(chat_url(sim), json=CHAT) as resp:
        assert resp.status == 200


async def test_scripted_error_is_per_model(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("openrouter", Error(503, body='{"error": "down"}'), model="broken")
    async with http.post(chat_url(sim), json={**CHAT, "model": "broken"}) as resp:
        assert resp.status == 503
        assert await resp.json() == {"error": "down"}
    async with http.post(chat_url(sim), json=CHAT) as resp:
        assert resp.status == 200


async def test_scripted_reply_text(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("*", Reply("forty-two"))
    async with http.post(chat_url(sim, "cerebras"), json=CHAT) as resp:
        assert (await resp.json())["choices"][0]["message"]["content"] == "forty-two"


async def test_latency_delays_the_headers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("groq", Latency(5), endpoint="models")
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):
        await http.get(sim.base_url("groq") + "/models", timeout=timeout)


async def test_slow_stream_still_completes(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("openrouter", ChunkDelay(0.001))
    async with http.post(chat_url(sim), json={**CHAT, "stream": True}) as resp:
        assert (await sse_events(resp))[-1] == "[DONE]"


async def test_malformed_bodies(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("openrouter", Malformed())
    sim.script("openrouter", Malformed(), endpoint="models")
    async with http.post(chat_url(sim), json=CHAT) as resp:
        assert resp.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.read())
    async with http.get(sim.base_url("openrouter") + "/models") as resp:
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.read())
    async with http.post(chat_url(sim), json={**CHAT, "stream": True}) as resp:
        events = await sse_events(resp)
    with pytest.raises(json.JSONDecodeError):
        [json.loads(e) for e in events[:-1]]


@pytest.mark.parametrize("stream", [True, False])
async def test_connection_drops_mid_response(
    sim: Simulator, http: aiohttp.ClientSession, stream: bool
) -> None:
    sim.script("groq", Drop(after_chunks=2))
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(chat_url(sim, "groq"), json={**CHAT, "stream": stream}) as resp:
            await resp.read()


async def test_request_log_keeps_headers_and_body(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": "Bearer sk-test"}
    async with http.post(chat_url(sim, "openai"), json=CHAT, headers=headers):
        pass
    [logged] = sim.requests(provider="openai", endpoint="chat")
    assert logged.method == "POST"
    assert logged.path == "/openai/v1/chat/completions"
    assert logged.headers["Authorization"] == "Bearer sk-test"
    assert logged.body == CHAT
    sim.clear_requests()
    assert sim.requests() == []


async def test_admin_api_scripts_and_inspects(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as client:
        assert (await client.get("/_simulator/health")).json() == {"status": "ok"}
        rule = {"provider": "groq", "faults": [{"kind": "error", "status": 500}], "times": 1}
        assert (await client.post("/_simulator/script", json=rule)).status_code == 201
        assert (await client.post(chat_url(sim, "groq"), json=CHAT)).status_code == 500
        assert (await client.post(chat_url(sim, "groq"), json=CHAT)).status_code == 200
        bad = await client.post("/_simulator/script", json={"provider": "nobody"})
        assert bad.status_code == 400
        assert "provider" in bad.json()["error"]
        replaced = await client.put("/_simulator/models/groq", content=b'{"data": []}')
        assert replaced.status_code == 200
        assert (await client.get(sim.base_url("groq") + "/models")).json() == {"data": []}
        await client.delete("/_simulator/models/groq")
        assert len((await client.get(sim.base_url("groq") + "/models")).json()["data"]) > 1
        logged = (await client.get("/_simulator/requests")).json()
        assert [r["endpoint"] for r in logged].count("chat") == 2
        assert (await client.get("/_simulator/providers")).json()["providers"][0]["base_url"]


def test_runs_as_a_process_and_stops_on_sigterm() -> None:
    addr = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.simulator", "--addr", addr],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = httpx.get(f"http://{addr}/openrouter/api/v1/models", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the simulator did not start within 20s"
                time.sleep(0.1)
        assert reply.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
