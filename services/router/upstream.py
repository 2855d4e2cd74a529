"""The providers' OpenAI-compatible chat APIs over one shared lean HTTP/1.1 client (pooled
keep-alive connections, `http1`). Each call is one attempt at one model; every failure is
an UpstreamFailure.

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

import orjson

from services.router.catalogue import ModelInfo
from services.router.failures import Kind, UpstreamFailure, from_status
from services.router.http1 import Http1Client, HttpError, Response, Target
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
    # Parsed once: the URL and the request head (per Accept) are the same for every call.
    target: Target = field(init=False, compare=False)
    request_heads: Mapping[str, bytes] = field(init=False, compare=False)
    dropped: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        target = Target(self.chat_url)
        object.__setattr__(self, "target", target)
        heads = {accept: target.head({**self.headers, "Accept": accept}) for accept in (JSON, SSE)}
        object.__setattr__(self, "request_heads", heads)
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


def http_session(max_connections: int = 512) -> Http1Client:
    """The one HTTP client of a router process: pooled keep-alive connections, no env
    proxies, no redirects. Create it inside the event loop that will use it."""
    return Http1Client(max_per_host=max_connections)


# What a stream yields per network read: the `data:` payloads completed by it, or (when a
# provider ignored `stream: true` and answered JSON) the whole body once.
StreamItem = list[bytes] | bytes


class HttpUpstream:
    """One attempt at one model over its provider's chat endpoint."""

    def __init__(
        self, session: Http1Client, directory: ProviderDirectory, connect_timeout_s: float
    ) -> None:
        self.session = session
        self.directory = directory
        self.connect_timeout_s = connect_timeout_s

    async def complete(self, model: ModelInfo, chat: ChatRequest, timeout: float) -> bytes:
        """The whole 2xx body of a non-streamed call."""
        endpoint = self._endpoint(model)
        body = endpoint.body(chat, model.upstream_id, stream=False)
        limit = min(timeout, endpoint.timeout_s)
        try:
            async with asyncio.timeout(limit), self._post(endpoint, body, limit) as response:
                return await _read(response, MAX_BODY_BYTES, limit)
        except TimeoutError:
            raise UpstreamFailure(Kind.TIMEOUT, f"no reply within {limit:.1f}s") from None

    async def stream(
        self, model: ModelInfo, chat: ChatRequest, timeout: float
    ) -> AsyncGenerator[StreamItem, None]:
        """The payloads of a streamed call, a batch per network read. `timeout` bounds
        getting the response and each wait for more bytes."""
        endpoint = self._endpoint(model)
        body = endpoint.body(chat, model.upstream_id, stream=True)
        limit = min(timeout, endpoint.timeout_s)
        async with self._post(endpoint, body, limit, SSE) as response:
            if response.headers.get("content-type", "").startswith(JSON):
                yield await _read(response, MAX_BODY_BYTES, limit)
                return
            decoder = SseDecoder()
            try:
                async for data in response.iter(limit):
                    payloads = decoder.feed(data)
                    if payloads:
                        yield payloads
                tail = decoder.close()
                if tail:
                    yield tail
            except SseError as exc:
                raise UpstreamFailure(Kind.MALFORMED, str(exc)) from None
            except TimeoutError:
                raise UpstreamFailure(Kind.TIMEOUT, f"no data for {limit:.1f}s") from None
            except HttpError as exc:
                raise _failure(exc, "stream broke: ") from None

    def _endpoint(self, model: ModelInfo) -> Endpoint:
        endpoint = self.directory.endpoint(model.provider)
        if endpoint is None:
            raise UpstreamFailure(Kind.REFUSED, f"provider {model.provider!r} is not configured")
        return endpoint

    @asynccontextmanager
    async def _post(
        self, endpoint: Endpoint, body: bytes, limit: float, accept: str = JSON
    ) -> AsyncGenerator[Response, None]:
        """An open 2xx response (or an UpstreamFailure) for one chat request. `limit`
        bounds connecting (with the connect timeout), getting the response head, and every
        wait for body bytes."""
        try:
            response = await self.session.post(
                endpoint.target,
                endpoint.request_heads[accept],
                body,
                min(self.connect_timeout_s, limit),
                limit,
            )
        except TimeoutError:
            raise UpstreamFailure(Kind.TIMEOUT, f"no reply within {limit:.1f}s") from None
        except HttpError as exc:
            raise _failure(exc) from None
        try:
            if response.status >= 300:
                raw, _ = await _bounded(response, MAX_ERROR_BYTES, limit)
                text = raw.decode("utf-8", "replace")
                retry_after = response.headers.get("retry-after")
                raise from_status(response.status, text, retry_after, time.time())
            yield response
        finally:
            # Back to the pool when the body was read to its end, closed otherwise.
            response.release()


async def _bounded(response: Response, limit: int, timeout: float) -> tuple[bytes, bool]:
    try:
        return await response.read(limit, timeout)
    except TimeoutError:
        raise UpstreamFailure(Kind.TIMEOUT, "reply body stalled") from None
    except HttpError as exc:
        raise _failure(exc, "reply broke: ") from None


async def _read(response: Response, limit: int, timeout: float) -> bytes:
    """The body, at most `limit` bytes (a larger body is malformed)."""
    body, cut = await _bounded(response, limit, timeout)
    if cut:
        raise UpstreamFailure(Kind.MALFORMED, f"reply larger than {limit} bytes")
    return body


def _failure(exc: HttpError, prefix: str = "") -> UpstreamFailure:
    kind = Kind.MALFORMED if exc.kind == "malformed" else Kind.CONNECT
    return UpstreamFailure(kind, f"{prefix}{exc}")
