"""The provider simulator over real loopback HTTP: recorded model lists, the request log,
scripted faults, the admin API, and running as a process."""

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

from services.simulator import (
    PROVIDERS,
    ChunkDelay,
    Decommissioned,
    Drop,
    EchoKey,
    Error,
    FirstTokenDelay,
    Hang,
    HtmlPage,
    InvalidRequest,
    Latency,
    Malformed,
    Reply,
    Simulator,
    StreamError,
    Truncate,
)
from tests import corpus
from tests.conftest import ROOT, free_port
from tests.integration.simulator.recorded import chunks, sse_lines

pytestmark = pytest.mark.integration

MODEL = "meta-llama/llama-3.3-70b-instruct:free"  # in OpenRouter's recorded list, not recorded
CHAT = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France? Name it and say why."},
    ],
}
STREAM = {**CHAT, "stream": True}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(port=0) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, sim: Simulator, body: Any, provider: str = "openrouter", **kw: Any
) -> tuple[int, dict[str, str], str]:
    async with http.post(sim.chat_url(provider), json=body, **kw) as resp:
        return resp.status, dict(resp.headers), (await resp.read()).decode()


# --- model lists ----------------------------------------------------------------------


@pytest.mark.parametrize("spec", [p for p in PROVIDERS if p.models], ids=lambda p: p.name)
async def test_models_are_the_recorded_bodies(
    sim: Simulator, http: aiohttp.ClientSession, spec: Any
) -> None:
    async with http.get(sim.url + spec.models_path) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        recorded = corpus.read("providers", f"{spec.name}/maruel-genai/{spec.models}")
        assert await resp.read() == recorded  # the vendored corpus holds the same body
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


# --- a plain answer, and what it received --------------------------------------------


async def test_chat_completion_answers_about_the_last_user_message(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    status, _, text = await post(http, sim, CHAT)
    assert status == 200
    body = json.loads(text)
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert "capital of France" in message["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_every_request_is_recorded_exactly(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    raw = json.dumps({**CHAT, "temperature": 0.25, "metadata": {"k": "v"}}, indent=1).encode()
    headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
    async with http.post(sim.chat_url("openai"), data=raw, headers=headers):
        pass
    [logged] = sim.requests(provider="openai", endpoint="chat")
    assert logged.method == "POST"
    assert logged.path == "/openai/v1/chat/completions"
    assert logged.headers["Authorization"] == "Bearer sk-test"
    assert logged.raw == raw  # byte for byte, whitespace included
    assert logged.body == json.loads(raw)
    assert logged.model == MODEL
    assert sim.chat_requests("openai") == [json.loads(raw)]
    assert sim.last_request("openai").raw == raw
    assert sim.requests(model="nobody") == []
    sim.clear_requests()
    assert sim.requests() == []
    with pytest.raises(LookupError):
        sim.last_request("openai")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": CHAT["messages"]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": ["user"]}]}, "messages[0].role"),
        ({**CHAT, "n": 0}, "n"),
        ({**CHAT, "temperature": 3}, "temperature"),
        ({**CHAT, "top_logprobs": 2}, "top_logprobs"),
        ({**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({**CHAT, "tool_choice": "required"}, "tool_choice"),
        ({**CHAT, "response_format": {"type": "yaml"}}, "response_format.type"),
    ],
)
async def test_a_bad_request_is_400_naming_the_param(
    sim: Simulator, http: aiohttp.ClientSession, body: dict[str, Any], param: str
) -> None:
    status, _, text = await post(http, sim, body, "openai")
    assert status == 400
    assert json.loads(text)["error"]["param"] == param


async def test_errors_keep_each_providers_recorded_shape(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    bad = {**CHAT, "n": 0}
    shapes = {}
    for provider in ("openai", "mistral", "cerebras", "deepseek", "xiaomi", "huggingface"):
        status, headers, text = await post(http, sim, bad, provider)
        assert status == 400
        shapes[provider] = (headers["Content-Type"], json.loads(text))
    assert shapes["openai"][1]["error"]["param"] == "n"
    assert shapes["mistral"][1]["object"] == "error"  # {"object": "error", "message", …}
    assert "message" in shapes["cerebras"][1]  # unwrapped
    assert shapes["deepseek"][0] == "application/octet-stream"  # as DeepSeek serves JSON
    assert shapes["xiaomi"][1]["error"]["code"] == "400"  # a string
    hf = shapes["huggingface"][1]  # a backend's own: {"detail"} or {"code", "reason", …}
    assert "error" not in hf
    assert "detail" in hf or "reason" in hf


# --- scripted faults ------------------------------------------------------------------


async def test_scripted_429_with_retry_after_then_recovery(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("openai", Error(429, retry_after=3), times=1)
    status, headers, text = await post(http, sim, CHAT, "openai")
    assert status == 429
    assert headers["Retry-After"] == "3"
    assert json.loads(text)["error"]["code"] == "rate_limit_exceeded"
    assert (await post(http, sim, CHAT, "openai"))[0] == 200


async def test_scripted_error_is_per_model(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("openrouter", Error(503, body='{"error": "down"}'), model="broken")
    status, _, text = await post(http, sim, {**CHAT, "model": "broken"})
    assert (status, json.loads(text)) == (503, {"error": "down"})
    assert (await post(http, sim, CHAT))[0] == 200


async def test_a_fraction_of_requests_fails_evenly(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("groq", Error(500), fraction=0.25)
    statuses = [(await post(http, sim, CHAT, "groq"))[0] for _ in range(12)]
    assert statuses == [200, 200, 200, 500] * 3


async def test_scripted_reply_text(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("*", Reply("forty-two"))
    _, _, text = await post(http, sim, CHAT, "cerebras")
    assert json.loads(text)["choices"][0]["message"]["content"] == "forty-two"


async def test_decommissioned_is_a_model_specific_400(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    old = "llama3-70b-8192"
    sim.script("groq", Decommissioned(), model=old)
    status, _, text = await post(http, sim, {**CHAT, "model": old}, "groq")
    assert status == 400
    error = json.loads(text)["error"]
    assert "decommissioned" in error["message"]
    assert old in error["message"]
    assert (await post(http, sim, CHAT, "groq"))[0] == 200


async def test_invalid_request_is_the_requests_own_fault(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("openai", InvalidRequest("messages[0].content", "Invalid content."), times=1)
    status, _, text = await post(http, sim, CHAT, "openai")
    assert status == 400
    assert json.loads(text)["error"] == {
        "message": "Invalid content.",
        "type": "invalid_request_error",
        "param": "messages[0].content",
        "code": "invalid_value",
    }


async def test_html_error_page(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("openrouter", HtmlPage(503))
    status, headers, text = await post(http, sim, STREAM)
    assert status == 503
    assert headers["Content-Type"].startswith("text/html")
    assert text.lstrip().lower().startswith("<!doctype html>")


async def test_an_error_body_can_echo_the_api_key(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    key = "sk-or-v1-0123456789abcdef0123456789abcdef"
    sim.script("openrouter", EchoKey())
    status, _, text = await post(http, sim, CHAT, headers={"Authorization": f"Bearer {key}"})
    assert status == 401
    assert key in text


async def test_latency_delays_the_headers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("groq", Latency(5), endpoint="models")
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):
        await http.get(sim.base_url("groq") + "/models", timeout=timeout)


async def test_first_token_delay_sends_headers_then_waits(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("openrouter", FirstTokenDelay(5))
    timeout = aiohttp.ClientTimeout(sock_read=0.3)
    async with http.post(sim.chat_url("openrouter"), json=STREAM, timeout=timeout) as resp:
        assert resp.status == 200  # the headers came at once
        with pytest.raises(asyncio.TimeoutError):
            await resp.content.readany()  # the first chunk did not


async def test_a_hung_request_never_answers_and_does_not_block_stopping(
    http: aiohttp.ClientSession,
) -> None:
    sim = await Simulator(port=0).start()
    sim.script("groq", Hang())
    with pytest.raises(asyncio.TimeoutError):
        await http.post(sim.chat_url("groq"), json=CHAT, timeout=aiohttp.ClientTimeout(total=0.3))
    await asyncio.wait_for(sim.stop(), 10)


async def test_slow_stream_still_completes(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("openai", ChunkDelay(0.001))
    _, _, text = await post(http, sim, STREAM, "openai")
    assert sse_lines(text)[-1] == "data: [DONE]"


async def test_truncate_ends_a_stream_cleanly_mid_answer(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.script("openai", Truncate(after_chunks=3))
    status, _, text = await post(http, sim, STREAM, "openai")  # read to a clean EOF
    assert status == 200
    got = chunks(text)
    assert len(got) == 3
    assert "data: [DONE]" not in text
    assert all(c["choices"][0]["finish_reason"] is None for c in got)
    assert any(c["choices"][0]["delta"].get("content") for c in got)


@pytest.mark.parametrize("after", [0, 3])
async def test_an_error_inside_an_http_200_stream(
    sim: Simulator, http: aiohttp.ClientSession, after: int
) -> None:
    sim.script("openrouter", StreamError(after_chunks=after, message="Upstream overloaded"))
    status, _, text = await post(http, sim, STREAM)
    assert status == 200
    got = chunks(text)
    assert len(got) == after + 1
    error = got[-1]
    assert error["error"]["message"] == "Upstream overloaded"
    assert error["choices"] == []  # OpenRouter's recorded in-stream error shape
    assert "data: [DONE]" not in text
    assert not any(c["choices"] and c["choices"][0].get("finish_reason") for c in got)


async def test_malformed_bodies(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.script("openrouter", Malformed())
    sim.script("openrouter", Malformed(), endpoint="models")
    status, _, text = await post(http, sim, CHAT)
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    async with http.get(sim.base_url("openrouter") + "/models") as resp:
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.read())
    _, _, text = await post(http, sim, STREAM)
    with pytest.raises(json.JSONDecodeError):
        chunks(text)


@pytest.mark.parametrize("stream", [True, False])
async def test_connection_drops_mid_response(
    sim: Simulator, http: aiohttp.ClientSession, stream: bool
) -> None:
    sim.script("groq", Drop(after_chunks=2))
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(http, sim, {**CHAT, "stream": stream}, "groq")


# --- the admin API --------------------------------------------------------------------


async def test_admin_api_scripts_and_inspects(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as client:
        assert (await client.get("/_simulator/health")).json() == {"status": "ok"}
        rule = {"provider": "groq", "faults": [{"kind": "error", "status": 500}], "times": 1}
        assert (await client.post("/_simulator/script", json=rule)).status_code == 201
        assert (await client.post(sim.chat_url("groq"), json=CHAT)).status_code == 500
        assert (await client.post(sim.chat_url("groq"), json=CHAT)).status_code == 200
        rule = {"provider": "openai", "fraction": 0.5, "faults": [{"kind": "truncate"}]}
        created = await client.post("/_simulator/script", json=rule)
        assert created.json()["fraction"] == 0.5
        listed = (await client.get("/_simulator/script")).json()["rules"]
        assert [r["provider"] for r in listed] == ["openai"]
        await client.delete("/_simulator/script")
        assert (await client.get("/_simulator/script")).json()["rules"] == []
        bad = await client.post("/_simulator/script", json={"provider": "nobody"})
        assert bad.status_code == 400
        assert "provider" in bad.json()["error"]
        bad = await client.post(
            "/_simulator/script",
            json={"provider": "groq", "faults": [{"kind": "latency", "seconds": "soon"}]},
        )
        assert bad.status_code == 400
        assert bad.json()["error"].startswith("faults[0].seconds")
        replaced = await client.put("/_simulator/models/groq", content=b'{"data": []}')
        assert replaced.status_code == 200
        assert (await client.get(sim.base_url("groq") + "/models")).json() == {"data": []}
        await client.delete("/_simulator/models/groq")
        assert len((await client.get(sim.base_url("groq") + "/models")).json()["data"]) > 1
        logged = (await client.get("/_simulator/requests", params={"endpoint": "chat"})).json()
        assert [r["model"] for r in logged] == [MODEL, MODEL]
        assert json.loads(logged[0]["raw"]) == logged[0]["body"] == CHAT
        providers = (await client.get("/_simulator/providers")).json()["providers"]
        by_name = {p["name"]: p for p in providers}
        assert by_name["groq"]["base_url"] == sim.base_url("groq")
        assert by_name["perplexity"]["models_path"] is None  # Perplexity lists no models
        recordings = (await client.get("/_simulator/recordings?provider=mistral")).json()
        assert {r["provider"] for r in recordings} == {"mistral"}
        one = recordings[0]["key"]
        exchange = (await client.get(f"/_simulator/recordings/{one}")).json()
        assert exchange["request"]["model"].startswith("mistral-")
        assert (await client.get("/_simulator/recordings/a/b/c")).status_code == 404
        await client.delete("/_simulator/requests")
        assert (await client.get("/_simulator/requests")).json() == []


def test_runs_as_a_process_and_stops_on_sigterm() -> None:
    addr = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.simulator", "--addr", addr],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.get(f"http://{addr}/openrouter/api/v1/models", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the simulator did not start within 30s"
                time.sleep(0.1)
        assert reply.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
