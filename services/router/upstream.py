"""The providers' OpenAI-compatible chat APIs over one shared aiohttp session (HTTP/1.1
keep-alive). Each call is one attempt at one model; every failure is an UpstreamFailure.

The request body is the client's, as read (`request.ChatRequest.body`), with `model`,
`stream` and `stream_options` set, and the provider's dialect applied: the parameters it
names differently renamed, advisory fields it does not take left out. Replies come back
raw (a whole body, or the `data:` payloads of each network read of a stream): `reply`
reads them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from services.router.catalogue import ModelInfo
from services.router.failures import Kind, UpstreamFailure, from_status
from services.router.request import ChatRequest
from services.router.sse import SseDecoder, SseError
from services.shared.providers import ProviderConfig
from services.shared.vocabulary import ADVISORY_PARAMETERS

MAX_BODY_BYTES = 16 << 20
MAX_ERROR_BYTES = 64 << 10

JSON = "application/json"
SSE = "text/event-stream"  # what a stream asks for, so proxies and caches can tell it apart
_STREAM_USAGE = {"include_usage": True}


@dataclass(frozen=True)
class Endpoint:
    chat_url: str
    headers: Mapping[str, str]
    timeout_s: float
    rename: Mapping[str, str] = field(default_factory=dict)
    advisory: frozenset[str] = frozenset()
    stream_usage: bool = True
    # Parsed once: aiohttp would parse the URL and merge the headers on every request.
    url: URL = field(init=False, compare=False)
    request_headers: Mapping[str, CIMultiDict[str]] = field(init=False, compare=False)
    dropped: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", URL(self.chat_url))
        by_accept = {
            accept: CIMultiDict({**self.headers, "Accept": accept}) for accept in (JSON, SSE)
        }
        object.__setattr__(self, "request_headers", by_accept)
        dropped = tuple(name for name in ADVISORY_PARAMETERS if name not in self.advisory)
        object.__setattr__(self, "dropped", dropped)

    def body(self, chat: ChatRequest, upstream_id: str, stream: bool) -> bytes:
        """The provider's request body for `chat`."""
        body: dict[str, Any] = {"model": upstream_id, **chat.body, "stream": stream}
        for name in self.dropped:
            body.pop(name, None)
        for name, theirs in self.rename.items():
            if name in body:
                body[theirs] = body.pop(name)
        if stream and self.stream_usage:
            body["stream_options"] = _STREAM_USAGE
        return orjson.dumps(body)


class ProviderDirectory:
    """Chat endpoints of the configured providers that can be called (enabled, key present)."""

    def __init__(self, providers: Sequence[ProviderConfig], env: Mapping[str, str]) -> None:
        self._endpoints = {
            p.name: Endpoint(
                p.chat_url,
                {**p.auth_headers(env), "Content-Type": "application/json"},
                p.timeout_s,
                dict(p.rename),
                frozenset(p.advisory),
                p.stream_usage,
            )
            for p in providers
            if p.enabled and not p.missing_key(env)
        }
        self.unusable = sorted(p.name for p in providers if p.name not in self._endpoints)

    @property
    def names(self) -> list[str]:
        """The providers that can be called."""
        return sorted(self._endpoints)

    def endpoint(self, provider: str) -> Endpoint | None:
        return self._endpoints.get(provider)

    def can_call(self, provider: str) -> bool:
        return provider in self._endpoints


def http_session(max_connections: int = 512) -> aiohttp.ClientSession:
    """The one HTTP client of a router process: pooled keep-alive connections, no env
    proxies, no redirects. Create it inside the event loop that will use it."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, keepalive_timeout=15.0, ttl_dns_cache=60
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False, raise_for_status=False)


# What a stream yields per network read: the `data:` payloads completed by it, or (when a
# provider ignored `stream: true` and answered JSON) the whole body once.
StreamItem = list[bytes] | bytes


class HttpUpstream:
    """One attempt at one model over its provider's chat endpoint."""

    def __init__(
        self, session: aiohttp.ClientSession, directory: ProviderDirectory, connect_timeout_s: float
    ) -> None:
        self.session = session
        self.directory = directory
        self.connect_timeout_s = connect_timeout_s

    async def complete(self, model: ModelInfo, chat: ChatRequest, timeout: float) -> bytes:
        """The whole 2xx body of a non-streamed call."""
        endpoint = self._endpoint(model)
        body = endpoint.body(chat, model.upstream_id, stream=False)
        try:
            async with asyncio.timeout(timeout), self._post(endpoint, body, timeout) as response:
                return await _read(response, MAX_BODY_BYTES)
        except TimeoutError:
            raise UpstreamFailure(Kind.TIMEOUT, f"no reply within {timeout:.1f}s") from None

    async def stream(
        self, model: ModelInfo, chat: ChatRequest, timeout: float
    ) -> AsyncGenerator[StreamItem, None]:
        """The payloads of a streamed call, a batch per network read. `timeout` bounds
        getting the response and each wait for more bytes."""
        endpoint = self._endpoint(model)
        body = endpoint.body(chat, model.upstream_id, stream=True)
        async with self._post(endpoint, body, timeout, SSE) as response:
            if response.headers.get("content-type", "").startswith(JSON):
                yield await _read(response, MAX_BODY_BYTES)
                return
            decoder = SseDecoder()
            try:
                async for data in response.content.iter_any():
                    payloads = decoder.feed(data)
                    if payloads:
                        yield payloads
                tail = decoder.close()
                if tail:
                    yield tail
            except SseError as exc:
                raise UpstreamFailure(Kind.MALFORMED, str(exc)) from None
            except aiohttp.ServerTimeoutError:
                raise UpstreamFailure(Kind.TIMEOUT, f"no data for {timeout:.1f}s") from None
            except aiohttp.ClientError as exc:
                raise UpstreamFailure(Kind.CONNECT, f"stream broke: {_describe(exc)}") from None

    def _endpoint(self, model: ModelInfo) -> Endpoint:
        endpoint = self.directory.endpoint(model.provider)
        if endpoint is None:
            raise UpstreamFailure(Kind.REFUSED, f"provider {model.provider!r} is not configured")
        return endpoint

    @asynccontextmanager
    async def _post(
        self, endpoint: Endpoint, body: bytes, timeout: float, accept: str = JSON
    ) -> AsyncGenerator[aiohttp.ClientResponse, None]:
        """An open 2xx response (or an UpstreamFailure) for one chat request."""
        limit = min(timeout, endpoint.timeout_s)
        # sock_read bounds each wait for bytes (headers, then every body read); the
        # asyncio.timeout bounds getting a response at all (pool wait included).
        timeouts = aiohttp.ClientTimeout(
            total=None,
            connect=None,
            sock_connect=min(self.connect_timeout_s, limit),
            sock_read=limit,
        )
        try:
            async with asyncio.timeout(limit):
                response = await self.session.post(
                    endpoint.url,
                    data=body,
                    headers=endpoint.request_headers[accept],
                    timeout=timeouts,
                    allow_redirects=False,
                )
        except aiohttp.ConnectionTimeoutError:
            raise UpstreamFailure(Kind.CONNECT, "connect timed out") from None
        except TimeoutError:  # asyncio's, or aiohttp's read timeout (both are TimeoutError)
            raise UpstreamFailure(Kind.TIMEOUT, f"no reply within {limit:.1f}s") from None
        except aiohttp.ClientError as exc:
            raise UpstreamFailure(Kind.CONNECT, _describe(exc)) from None
        try:
            if response.status >= 300:
                text = (await _read(response, MAX_ERROR_BYTES, truncate=True)).decode(
                    "utf-8", "replace"
                )
                retry_after = response.headers.get("retry-after")
                raise from_status(response.status, text, retry_after, time.time())
            yield response
        finally:
            # Back to the pool when the body was read to its end, closed otherwise.
            response.release()


async def _read(response: aiohttp.ClientResponse, limit: int, truncate: bool = False) -> bytes:
    """The body, at most `limit` bytes (a larger body is malformed unless `truncate`)."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_any():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                if truncate:
                    break
                raise UpstreamFailure(Kind.MALFORMED, f"reply larger than {limit} bytes")
    except aiohttp.ServerTimeoutError:
        raise UpstreamFailure(Kind.TIMEOUT, "reply body stalled") from None
    except aiohttp.ClientError as exc:
        raise UpstreamFailure(Kind.CONNECT, f"reply broke: {_describe(exc)}") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _describe(exc: aiohttp.ClientError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
