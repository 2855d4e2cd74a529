"""The provider client against a scripted HTTP server on loopback: what it sends, and how
each way a provider can fail becomes an UpstreamFailure of the right kind."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services.router.catalogue import ModelInfo
from services.router.failures import Kind, UpstreamFailure
from services.router.request import read_body
from services.router.upstream import MAX_BODY_BYTES, HttpUpstream, ProviderDirectory, http_session
from services.shared.providers import load_providers

TIMEOUT = 0.5
SEEN = web.AppKey("seen", dict[str, Any])  # request headers by requested model
BODIES = web.AppKey("bodies", dict[str, Any])  # request bodies by requested model
COMPLETION = {
    "id": "c",
    "created": 1,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2},
}


def sse(content: str) -> bytes:
    body = {"id": "c", "created": 1, "choices": [{"index": 0, "delta": {"content": content}}]}
    return f"data: {json.dumps(body)}\n\n".encode()


async def chat(request: web.Request) -> web.StreamResponse:
    """The requested model name picks the behaviour."""
    body = await request.json()
    name = body["model"]
    request.app[SEEN][name] = request.headers.copy()
    request.app[BODIES][name] = body
    if name == "ok" or name == "s-json":
        return web.json_response(COMPLETION)
    if name == "slow":
        await asyncio.sleep(3)
    if name == "limited":
        error = {"error": {"message": "slow down"}}
        return web.json_response(error, status=429, headers={"Retry-After": "7"})
    if name == "server":
        return web.Response(status=503, text="x" * 100_000)
    if name == "redirect":
        return web.Response(status=302, headers={"Location": "/elsewhere"})
    if name == "reject":
        return web.json_response({"error": {"message": "bad field"}}, status=400)
    if name == "garbage":
        return web.Response(text="{nope", content_type="application/json")
    if name == "huge":
        return web.Response(body=b" " * (MAX_BODY_BYTES + 1), content_type="application/json")
    if name == "drop":
        assert request.transport is not None
        request.transport.close()
        return web.Response()
    return await stream(request, name)


async def stream(request: web.Request, name: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b": comment\n\n" + sse("a"))
    if name == "s-cut":
        assert request.transport is not None
        request.transport.close()
    elif name == "s-stall":
        await asyncio.sleep(3)
    elif name == "s-bad":
        await response.write(b"data: {bad\n\n")
    else:
        await response.write(sse("b") + b"data: [DONE]\n\n")
        await response.write_eof()
    return response


@dataclass
class Provider:
    upstream: HttpUpstream
    seen: dict[str, Any]
    bodies: dict[str, Any]

    async def complete(self, name: str, provider: str = "p", **fields: Any) -> Any:
        chat = read_body({"messages": [{"role": "user", "content": "hi"}], **fields})
        raw = await self.upstream.complete(_model(name, provider), chat, TIMEOUT)
        return json.loads(raw)

    async def stream(self, name: str) -> list[str]:
        """The content of a stream's payloads (or of the whole answer it was sent as)."""
        texts: list[str] = []
        async for item in self.upstream.stream(_model(name, "p"), CHAT, TIMEOUT):
            if isinstance(item, bytes):  # a whole JSON answer
                texts.append(json.loads(item)["choices"][0]["message"]["content"])
                continue
            for payload in item:
                if payload != b"[DONE]":
                    texts.append(json.loads(payload)["choices"][0]["delta"]["content"])
        return texts


CHAT = read_body({"messages": [{"role": "user", "content": "hi"}]})


def _model(name: str, provider: str) -> ModelInfo:
    return ModelInfo(id=f"{provider}/{name}", provider=provider, upstream_id=name, is_free=True)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[Provider]:
    app = web.Application()
    app[SEEN] = {}
    app[BODIES] = {}
    app.router.add_post("/p/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    providers_file = tmp_path / "providers.toml"
    providers_file.write_text(
        f'[[providers]]\nname = "p"\nbase_url = "http://127.0.0.1:{port}/p"\napi_key_env = "K"\n'
        'rename = { max_completion_tokens = "max_tokens", seed = "random_seed" }\n'
        'advisory = ["user"]\n'
        f'\n[[providers]]\nname = "dead"\nbase_url = "http://127.0.0.1:{_closed_port()}/p"\n'
        'api_key_env = "K"\n'
    )
    providers, errors = load_providers(providers_file)
    assert errors == []
    session = http_session()
    upstream = HttpUpstream(session, ProviderDirectory(providers, {"K": "sk"}), TIMEOUT / 2)
    yield Provider(upstream, app[SEEN], app[BODIES])
    await session.close()
    await runner.cleanup()


async def test_a_completion_with_its_headers(provider: Provider) -> None:
    completion = await provider.complete("ok")
    assert completion == COMPLETION  # the body as the provider sent it (reply reads it)
    headers = provider.seen["ok"]
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer sk"


@pytest.mark.parametrize(
    ("name", "kind", "status", "message"),
    [
        ("slow", Kind.TIMEOUT, 0, f"no reply within {TIMEOUT:.1f}s"),
        ("limited", Kind.RATE_LIMITED, 429, "slow down"),
        ("server", Kind.SERVER, 503, "x" * 300),
        ("redirect", Kind.REFUSED, 302, "(empty body)"),
        ("reject", Kind.UNSUITABLE, 400, "bad field"),
        ("huge", Kind.MALFORMED, 0, f"reply larger than {MAX_BODY_BYTES} bytes"),
        ("drop", Kind.CONNECT, 0, "connection closed before a reply"),
    ],
)
async def test_failures_of_a_completion(
    provider: Provider, name: str, kind: Kind, status: int, message: str
) -> None:
    with pytest.raises(UpstreamFailure) as caught:
        await provider.complete(name)
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert caught.value.message.startswith(message)
    assert caught.value.retry_after == (7.0 if name == "limited" else None)


async def test_an_unreachable_provider_is_a_connect_error(provider: Provider) -> None:
    with pytest.raises(UpstreamFailure) as caught:
        await provider.complete("ok", provider="dead")
    assert caught.value.kind is Kind.CONNECT


async def test_the_providers_dialect_is_applied_and_nothing_else_changes(
    provider: Provider,
) -> None:
    await provider.complete(
        "ok", max_completion_tokens=9, seed=3, user="u", metadata={"a": "b"}, temperature=0.5
    )
    assert provider.bodies["ok"] == {
        "model": "ok",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 9,  # renamed for this provider
        "random_seed": 3,
        "user": "u",  # an advisory field it takes; metadata it does not, so it is left out
        "temperature": 0.5,
        "stream": False,
    }
    [_ async for _ in provider.upstream.stream(_model("s-ok", "p"), CHAT, TIMEOUT)]
    assert provider.bodies["s-ok"]["stream_options"] == {"include_usage": True}
    assert provider.bodies["s-ok"]["stream"] is True


async def test_a_stream_asks_for_events_and_decodes_them(provider: Provider) -> None:
    assert await provider.stream("s-ok") == ["a", "b"]
    assert provider.seen["s-ok"]["Accept"] == "text/event-stream"
    assert await provider.stream("s-json") == ["hi"]  # a provider that ignored stream: true


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("s-cut", Kind.CONNECT, "stream broke: connection closed before the reply ended"),
        ("s-stall", Kind.TIMEOUT, f"no data for {TIMEOUT:.1f}s"),
        ("limited", Kind.RATE_LIMITED, "slow down"),
    ],
)
async def test_failures_of_a_stream(
    provider: Provider, name: str, kind: Kind, message: str
) -> None:
    with pytest.raises(UpstreamFailure) as caught:
        await provider.stream(name)
    assert caught.value.kind is kind
    assert caught.value.message.startswith(message)
