"""The whole chain: openai client → Envoy → edge → router → provider simulator, with the
catalogue discovered from the simulator's recorded model lists and usage in PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.shared.channels import channel
from services.shared.vocabulary import is_chat_model
from tests.e2e.conftest import RunningSuite

pytestmark = pytest.mark.e2e


_OPEN: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close each test's clients: a pooled socket left to the garbage collector is an
    unraisable ResourceWarning in whichever later test the collector happens to run."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _client(suite: RunningSuite, key: str = "e2e-admin-key") -> openai.OpenAI:
    client = openai.OpenAI(base_url=suite.base_url, api_key=key, max_retries=0, timeout=30)
    _OPEN.append(client)
    return client


def _free_models(suite: RunningSuite, *, chat: bool = True) -> dict[str, str]:
    """The catalog's free models (id → provider), asked over gRPC directly: only those that
    answer chat (text in, text out), unless `chat` is false."""

    async def ask() -> dict[str, str]:
        async with channel(suite.settings.catalog_addr, suite.token) as ch:
            reply = await catalog_pb2_grpc.CatalogServiceStub(ch).ListModels(
                catalog_pb2.ListModelsRequest(free_only=True), timeout=5
            )
        return {
            m.id: m.provider
            for m in reply.models
            if not chat or is_chat_model(m.input_modalities, m.output_modalities)
        }

    return asyncio.run(ask())


def test_chat_completion_is_answered_by_a_discovered_free_model(suite: RunningSuite) -> None:
    free = _free_models(suite)
    assert free, "the catalog discovered no free model from the simulator's recorded lists"
    reply = _client(suite).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Say hello to Freeway."}]
    )
    assert reply.model in free
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    upstream = httpx.get(f"{suite.simulator_url}/_simulator/requests", timeout=5).json()
    sent = [r for r in upstream if r["path"].endswith("/chat/completions")]
    assert sent, "the simulator saw no chat request"


def test_streaming_completion_ends_with_done(suite: RunningSuite) -> None:
    stream = _client(suite).chat.completions.create(
        model="auto",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Stream a short greeting."}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert chunks[0].model in _free_models(suite)
    # The raw wire format: SSE data lines, the last one `[DONE]`.
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream(
        "POST", f"{suite.base_url}/chat/completions", json=body, headers=suite.auth, timeout=30
    ) as raw:
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in raw.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0].removeprefix("data: "))["object"] == "chat.completion.chunk"


def test_models_lists_the_free_chat_models_the_catalog_knows(suite: RunningSuite) -> None:
    listed = {m.id for m in _client(suite).models.list()}
    free = set(_free_models(suite))
    assert free <= listed
    assert "auto" in listed
    speech = set(_free_models(suite, chat=False)) - free
    assert speech  # the recorded Groq list has Whisper and TTS models: never listed as chat
    assert not speech & listed


def test_missing_or_wrong_key_gets_401_in_openai_shape(suite: RunningSuite) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(f"{suite.base_url}/chat/completions", json=body, timeout=10)
    assert reply.status_code == 401
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    with pytest.raises(openai.AuthenticationError):
        _client(suite, key="wrong").chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "auto"}, "messages"),
        ({"model": "auto", "messages": "hi"}, "messages"),
        ({"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "auto", "messages": [{"role": "user", "content": "x"}], "temperature": 7},
            "temperature",
        ),
    ],
)
def test_malformed_body_gets_400_naming_the_field(
    suite: RunningSuite, body: dict[str, object], param: str
) -> None:
    reply = httpx.post(
        f"{suite.base_url}/chat/completions", json=body, headers=suite.auth, timeout=10
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == param
    assert param.split("[")[0] in error["message"]


def test_invalid_json_gets_400(suite: RunningSuite) -> None:
    reply = httpx.post(
        f"{suite.base_url}/chat/completions",
        content=b"{not json",
        headers={**suite.auth, "content-type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_usage_row_lands_in_postgresql(suite: RunningSuite) -> None:
    import asyncpg

    reply = _client(suite).chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Count this one."}],
        extra_headers={"x-request-id": "e2e-usage-1"},
    )

    async def row() -> asyncpg.Record | None:
        conn = await asyncpg.connect(suite.database_url)
        try:
            return await conn.fetchrow(
                "SELECT served_model, prompt_tokens, completion_tokens, status FROM usage_events"
                " WHERE request_id = $1",
                "e2e-usage-1",
            )
        finally:
            await conn.close()

    deadline = time.monotonic() + 20
    found = None
    while found is None and time.monotonic() < deadline:
        found = asyncio.run(row())
        if found is None:
            time.sleep(0.2)
    assert found is not None, "no usage row for the completion within 20s"
    assert found["served_model"] == reply.model
    assert found["prompt_tokens"] > 0
    assert found["completion_tokens"] > 0
