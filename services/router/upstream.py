"""The providers' OpenAI-compatible chat APIs over one shared aiohttp session (HTTP/1.1
keep-alive). Each call is one attempt at one model; every failure is an UpstreamFailure."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from services.router.catalogue import ModelInfo
from services.router.chat import (
    ChatParams,
    Completion,
    Delta,
    MalformedReply,
    StreamEvent,
    parse_chunk,
    parse_completion,
    request_body,
)
from services.router.failures import Kind, UpstreamFailure, from_status
from services.router.sse import SseDecoder, SseError
from services.shared.providers import ProviderConfig

MAX_BODY_BYTES = 16 << 20
MAX_ERROR_BYTES = 64 << 10

JSON = "application/json"
SSE = "text/event-stream"  # what a stream asks for, so proxies and caches can tell it apart


@dataclass(frozen=True)
class Endpoint:
    chat_url: str
    headers: Mapping[str, str]
    timeout_s: float
    # Parsed once: aiohttp would parse the URL and merge the headers on every request.
    url: URL = field(init=False, compare=False)
    request_headers: Mapping[str, CIMultiDict[str]] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", URL(self.chat_url))
        by_accept = {
            accept: CIMultiDict({**self.headers, "Accept": accept}) for accept in (JSON, SSE)
        }
        object.__setattr__(self, "request_headers", by_accept)


class ProviderDirectory:
    """Chat endpoints of the configured providers that can be called (enabled, key present)."""

    def __init__(self, providers: Sequence[ProviderConfig], env: Mapping[str, str]) -> None:
        self._endpoints = {
            p.name: Endpoint(
                p.chat_url,
                {**p.auth_headers(env), "Content-Type": "application/json"},
                p.timeout_s,
            )
            for p in providers
            if p.enabled and not p.missing_key(env)
        }
        self.unusable = sorted(p.name for p in providers if p.name not in self._endpoints)

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


class HttpUpstream:
    """One attempt at one model over its provider's chat endpoint."""

    def __init__(
        self, session: aiohttp.ClientSession, directory: ProviderDirectory, connect_timeout_s: float
    ) -> None:
        self.session = session
        self.directory = directory
        self.connect_timeout_s = connect_timeout_s

    async def complete(self, model: ModelInfo, params: ChatParams, timeout: float) -> Completion:
        body = request_body(params, model.upstream_id, stream=False)
        try:
            async with asyncio.timeout(timeout), self._post(model, body, timeout) as response:
                return await _complete_from(response)
        except TimeoutError:
            raise UpstreamFailure(Kind.TIMEOUT, f"no reply within {timeout:.1f}s") from None

    async def stream(
        self, model: ModelInfo, params: ChatParams, timeout: float
    ) -> AsyncGenerator[StreamEvent, None]:
        body = request_body(params, model.upstream_id, stream=True)
        async with self._post(model, body, timeout, SSE) as response:
            if response.headers.get("content-type", "").startswith("application/json"):
                yield _as_event(await _complete_from(response))
                return
            decoder = SseDecoder()
            try:
                async for chunk in response.content.iter_any():
                    for payload in decoder.feed(chunk):
                        if payload.strip() == "[DONE]":
                            return
                        yield _event(payload)
                for payload in decoder.close():
                    if payload.strip() != "[DONE]":
                        yield _event(payload)
            except SseError as exc:
                raise UpstreamFailure(Kind.MALFORMED, str(exc)) from None
            except aiohttp.ServerTimeoutError:
                raise UpstreamFailure(Kind.TIMEOUT, f"no data for {timeout:.1f}s") from None
            except aiohttp.ClientError as exc:
                raise UpstreamFailure(Kind.CONNECT, f"stream broke: {_describe(exc)}") from None

    @asynccontextmanager
    async def _post(
        self, model: ModelInfo, body: dict[str, Any], timeout: float, accept: str = JSON
    ) -> AsyncGenerator[aiohttp.ClientResponse, None]:
        """An open 2xx response (or an UpstreamFailure) for one chat request."""
        endpoint = self.directory.endpoint(model.provider)
        if endpoint is None:
            raise UpstreamFailure(Kind.REFUSED, f"provider {model.provider!r} is not configured")
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
                    data=json.dumps(body).encode(),
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


async def _complete_from(response: aiohttp.ClientResponse) -> Completion:
    """The whole body of a 2xx reply as a chat completion (MALFORMED when it is not one)."""
    raw = await _read(response, MAX_BODY_BYTES)
    try:
        return parse_completion(json.loads(raw))
    except (ValueError, MalformedReply) as exc:
        raise UpstreamFailure(Kind.MALFORMED, str(exc)[:300], status=response.status) from None


def _event(payload: str) -> StreamEvent:
    try:
        return parse_chunk(json.loads(payload))
    except (ValueError, MalformedReply) as exc:
        raise UpstreamFailure(Kind.MALFORMED, f"bad stream chunk: {str(exc)[:200]}") from None


def _as_event(completion: Completion) -> StreamEvent:
    """A provider that ignored `stream: true`: its whole answer as one event."""
    deltas = tuple(Delta(c.index, c.role, c.content, c.finish_reason) for c in completion.choices)
    return StreamEvent(
        completion.id,
        completion.created,
        deltas,
        completion.prompt_tokens,
        completion.completion_tokens,
    )


def _describe(exc: aiohttp.ClientError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
