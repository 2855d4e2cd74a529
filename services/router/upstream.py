"""The providers' OpenAI-compatible chat APIs over one shared httpx client (HTTP/1.1
keep-alive). Each call is one attempt at one model; every failure is an UpstreamFailure."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

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


@dataclass(frozen=True)
class Endpoint:
    chat_url: str
    headers: Mapping[str, str]
    timeout_s: float


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

    @property
    def names(self) -> list[str]:
        return sorted(self._endpoints)


def http_client(max_connections: int = 512) -> httpx.AsyncClient:
    """The one client of a router process: pooled keep-alive connections, no env proxies."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=128)
    return httpx.AsyncClient(limits=limits, trust_env=False, follow_redirects=False)


JSON = "application/json"
SSE = "text/event-stream"  # what a stream asks for, so proxies and caches can tell it apart


class HttpUpstream:
    """One attempt at one model over its provider's chat endpoint."""

    def __init__(
        self, client: httpx.AsyncClient, directory: ProviderDirectory, connect_timeout_s: float
    ) -> None:
        self.client = client
        self.directory = directory
        self.connect_timeout_s = connect_timeout_s

    async def complete(self, model: ModelInfo, params: ChatParams, timeout: float) -> Completion:
        body = request_body(params, model.upstream_id, stream=False)
        try:
            async with asyncio.timeout(timeout), self._post(model, body, timeout) as response:
                raw = await _read(response, MAX_BODY_BYTES)
        except TimeoutError:
            raise UpstreamFailure(Kind.TIMEOUT, f"no reply within {timeout:.1f}s") from None
        try:
            return parse_completion(json.loads(raw))
        except (ValueError, MalformedReply) as exc:
            raise UpstreamFailure(
                Kind.MALFORMED, str(exc)[:300], status=response.status_code
            ) from None

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
                async for chunk in response.aiter_bytes():
                    for payload in decoder.feed(chunk):
                        if payload.strip() == "[DONE]":
                            return
                        yield _event(payload)
                for payload in decoder.close():
                    if payload.strip() != "[DONE]":
                        yield _event(payload)
            except SseError as exc:
                raise UpstreamFailure(Kind.MALFORMED, str(exc)) from None
            except httpx.TimeoutException:
                raise UpstreamFailure(Kind.TIMEOUT, f"no data for {timeout:.1f}s") from None
            except httpx.HTTPError as exc:
                raise UpstreamFailure(Kind.CONNECT, f"stream broke: {_describe(exc)}") from None

    @asynccontextmanager
    async def _post(
        self, model: ModelInfo, body: dict[str, Any], timeout: float, accept: str = JSON
    ) -> AsyncGenerator[httpx.Response, None]:
        """An open 2xx response (or an UpstreamFailure) for one chat request."""
        endpoint = self.directory.endpoint(model.provider)
        if endpoint is None:
            raise UpstreamFailure(Kind.REFUSED, f"provider {model.provider!r} is not configured")
        limit = min(timeout, endpoint.timeout_s)
        timeouts = httpx.Timeout(limit, connect=min(self.connect_timeout_s, limit))
        request = self.client.build_request(
            "POST",
            endpoint.chat_url,
            content=json.dumps(body).encode(),
            headers={**endpoint.headers, "accept": accept},
            timeout=timeouts,
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.ConnectTimeout:
            raise UpstreamFailure(Kind.CONNECT, "connect timed out") from None
        except httpx.TimeoutException:
            raise UpstreamFailure(Kind.TIMEOUT, f"no reply within {limit:.1f}s") from None
        except httpx.HTTPError as exc:
            raise UpstreamFailure(Kind.CONNECT, _describe(exc)) from None
        try:
            if response.status_code >= 300:
                text = (await _read(response, MAX_ERROR_BYTES, truncate=True)).decode(
                    "utf-8", "replace"
                )
                retry_after = response.headers.get("retry-after")
                raise from_status(response.status_code, text, retry_after, time.time())
            yield response
        finally:
            await response.aclose()


async def _read(response: httpx.Response, limit: int, truncate: bool = False) -> bytes:
    """The body, at most `limit` bytes (a larger body is malformed unless `truncate`)."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                if truncate:
                    break
                raise UpstreamFailure(Kind.MALFORMED, f"reply larger than {limit} bytes")
    except httpx.TimeoutException:
        raise UpstreamFailure(Kind.TIMEOUT, "reply body stalled") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailure(Kind.CONNECT, f"reply broke: {_describe(exc)}") from None
    return b"".join(parts)


async def _complete_from(response: httpx.Response) -> Completion:
    raw = await _read(response, MAX_BODY_BYTES)
    try:
        return parse_completion(json.loads(raw))
    except (ValueError, MalformedReply) as exc:
        raise UpstreamFailure(Kind.MALFORMED, str(exc)[:300]) from None


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


def _describe(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
