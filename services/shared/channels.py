"""gRPC client channels to sibling services, and the metadata every call carries.

With a service token (FREEWAY_SERVICE_TOKEN) every call made through the channel carries
`authorization: Bearer <token>`, which the servers' interceptor checks. The token is merged
into each call's metadata by a thin wrapper around the channel's multicallables (about a
microsecond a call); a grpc.aio client interceptor would do the same for ~50 µs of CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from services.shared.logs import request_id
from services.shared.server import AUTH_HEADER, REQUEST_ID_HEADER, bearer

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 1),
    # Spread calls over every resolved address (a headless Service lists each replica).
    ("grpc.lb_policy_name", "round_robin"),
    # Sibling services restart fast on one host: reconnect sooner than gRPC's 1 s → 120 s.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 5000),
    # Each channel its own connections: grpc otherwise shares subchannels process-wide by
    # address, so a new channel to a port that a stopped server used a moment ago inherits
    # that old connection's failure and backoff, and its first calls fail at once.
    ("grpc.use_local_subchannel_pool", 1),
]

Metadata = Sequence[tuple[str, str | bytes]]


def channel(address: str, token: str | None = None) -> grpc.aio.Channel:
    """An insecure channel (loopback / private network; TLS terminates at Envoy), whose
    calls carry the service token when one is given. `address` may list several
    `host:port`s separated by commas (replicas on one machine): calls go round-robin."""
    inner = grpc.aio.insecure_channel(target(address), options=CHANNEL_OPTIONS)
    if not token:
        return inner
    return CredentialChannel(inner, ((AUTH_HEADER, bearer(token)),))


def target(address: str) -> str:
    """A gRPC target for one address, or for several (`ipv4:a:1,b:2` lists every replica)."""
    addresses = [a.strip() for a in address.split(",") if a.strip()]
    if len(addresses) == 1:
        return addresses[0]
    return "ipv4:" + ",".join(addresses)


def call_metadata() -> tuple[tuple[str, str], ...]:
    """Metadata carrying the current request id to the next hop."""
    rid = request_id.get()
    return ((REQUEST_ID_HEADER, rid),) if rid else ()


class CredentialChannel(grpc.aio.Channel):  # type: ignore[misc]
    """A channel whose every call also carries `credential` metadata."""

    def __init__(self, inner: grpc.aio.Channel, credential: Metadata) -> None:
        self._inner = inner
        self._credential = tuple(credential)

    async def __aenter__(self) -> CredentialChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.close(None)

    async def close(self, grace: float | None = None) -> None:
        await self._inner.close(grace)

    def get_state(self, try_to_connect: bool = False) -> Any:
        return self._inner.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: Any) -> None:
        await self._inner.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._inner.channel_ready()

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _Credentialed(self._inner.unary_unary(*args, **kwargs), self._credential)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _Credentialed(self._inner.unary_stream(*args, **kwargs), self._credential)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _Credentialed(self._inner.stream_unary(*args, **kwargs), self._credential)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _Credentialed(self._inner.stream_stream(*args, **kwargs), self._credential)


class _Credentialed:
    """A multicallable that adds the credential to whatever metadata the caller passes."""

    __slots__ = ("_call", "_credential")

    def __init__(
        self, call: Callable[..., Any], credential: tuple[tuple[str, str | bytes], ...]
    ) -> None:
        self._call = call
        self._credential = credential

    def __call__(self, *args: Any, metadata: Metadata | None = None, **kwargs: Any) -> Any:
        merged = (*metadata, *self._credential) if metadata else self._credential
        return self._call(*args, metadata=merged, **kwargs)
