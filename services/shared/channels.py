"""gRPC client channels to sibling services, and the metadata every call carries."""

from __future__ import annotations

from typing import Any

import grpc

from services.shared.logs import request_id
from services.shared.server import REQUEST_ID_HEADER

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
]


def channel(address: str) -> grpc.aio.Channel:
    """An insecure channel (loopback / private network; TLS terminates at Envoy)."""
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


def call_metadata() -> tuple[tuple[str, str], ...]:
    """Metadata carrying the current request id to the next hop."""
    rid = request_id.get()
    return ((REQUEST_ID_HEADER, rid),) if rid else ()
