"""The real `openai` client against the edge served on a real loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from services.edge.app import bound_port, create_app, serve
from services.edge.config import EdgeSettings
from tests.integration.edge.conftest import ADMIN_KEY, Backends, away_from_window_edge
from tests.integration.edge.fakes import SERVED_MODEL, Failure

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]


@pytest.fixture
async def base_url(backends: Backends) -> AsyncIterator[str]:
    app = create_app(EdgeSettings(admin_key=ADMIN_KEY, rpm=3), backends.suite())
    runner = await serve(app, "127.0.0.1:0", grace=1)
    yield f"http://127.0.0.1:{bound_port(runner)}/v1"
    await runner.cleanup()


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=base_url, api_key=ADMIN_KEY, max_retries=0) as c:
        yield c


async def test_non_streaming_completion(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(model="auto", messages=MESSAGES)
    assert reply.model == SERVED_MODEL
    assert reply.choices[0].message.content == "echo: hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.total_tokens == 12


async def test_streaming_completion_with_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="auto",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hello there"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


async def test_models_list(client: openai.AsyncOpenAI) -> None:
    ids = [m.id async for m in client.models.list()]
    assert ids[0] == "auto"
    assert SERVED_MODEL in ids


async def test_wrong_key_is_an_authentication_error(base_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=base_url, api_key="wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="auto", messages=MESSAGES)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


async def test_bad_parameter_is_a_bad_request_naming_it(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="auto", messages=MESSAGES, temperature=3)
    assert caught.value.param == "temperature"


async def test_rate_limit_is_a_rate_limit_error(client: openai.AsyncOpenAI) -> None:
    await away_from_window_edge()
    for _ in range(3):  # limits count chat completions
        await client.chat.completions.create(model="auto", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="auto", messages=MESSAGES)


async def test_failure_mid_stream_raises_in_the_client(
    client: openai.AsyncOpenAI, backends: Backends
) -> None:
    backends.router.failure = Failure(grpc.StatusCode.UNAVAILABLE, "provider left", after_chunks=2)
    stream = await client.chat.completions.create(model="auto", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="provider left"):
        async for _ in stream:
            pass
