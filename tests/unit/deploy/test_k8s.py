"""deploy/k8s/: valid Kubernetes objects (kubernetes-validate --strict), in step with the code
(env vars, ports, health), the Dockerfile's targets and compose's addressing."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.shared.settings import SuiteSettings
from tests.conftest import ROOT, unavailable
from tests.unit.deploy.facts import (
    SERVICES,
    address_env,
    default_port,
    dockerfile_stages,
    env_names_read_by_code,
    provider_key_envs,
    tool,
)

K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"


def _load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


@cache
def _kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))
    return data


def _manifests() -> list[Path]:
    return [K8S / name for name in _kustomization()["resources"]]


@cache
def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for p in _manifests() for o in _load(p)}


def _container(name: str) -> dict[str, Any]:
    (container,) = _objects()[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _explicit_env(name: str) -> dict[str, Any]:
    return {e["name"]: e for e in _container(name).get("env", [])}


def _config_map() -> dict[str, str]:
    data: dict[str, str] = _objects()[("ConfigMap", "freeway-config")]["data"]
    return data


def test_manifests_are_valid_kubernetes_objects() -> None:
    validator = tool("kubernetes-validate")
    if validator is None:
        unavailable("kubernetes-validate is not installed (pip install kubernetes-validate)")
    assert validator is not None
    result = subprocess.run(
        [validator, "--strict", "--quiet", *map(str, _manifests())],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomization_lists_every_manifest() -> None:
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {KUSTOMIZATION.name}
    assert set(_kustomization()["resources"]) == on_disk


def test_images_are_dockerfile_targets() -> None:
    targets = set(dockerfile_stages())
    for kind, name in _objects():
        if kind != "Deployment":
            continue
        image = _container(name)["image"]
        assert image == f"freeway/{name}", f"{name}: image {image!r} (tag set by kustomization)"
        assert name in targets
    assert {i["name"] for i in _kustomization()["images"]} == {
        f"freeway/{n}" for n in (*SERVICES, "envoy")
    }


def test_env_vars_are_read_by_the_code() -> None:
    known = env_names_read_by_code() | provider_key_envs()
    assert set(_config_map()) <= known
    for name in SERVICES:
        assert set(_explicit_env(name)) <= known, name


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_binds_its_default_port_and_is_probed_there(name: str) -> None:
    port = default_port(name)
    container = _container(name)
    assert _explicit_env(name)[address_env(name)]["value"] == f"0.0.0.0:{port}"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports.pop("http" if name == "edge" else "grpc") == port
    if name != "edge":  # the gRPC services serve /metrics on a port of their own
        metrics = getattr(SuiteSettings(), f"{name}_metrics_port")
        assert ports == {"metrics": metrics}
        assert _explicit_env(name)[f"FREEWAY_{name.upper()}_METRICS_PORT"]["value"] == str(metrics)
    annotations = _pod_annotations(name)
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(metrics if name != "edge" else port)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = container[probe]
        kind = "httpGet" if name == "edge" else "grpc"
        assert check[kind]["port"] == port, f"{name}: {probe}"
    if name == "edge":
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"


def _pod_annotations(name: str) -> dict[str, str]:
    deployment = _objects()[("Deployment", name)]
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_clients_reach_services_where_they_listen() -> None:
    for key, value in _config_map().items():
        match = re.fullmatch(r"FREEWAY_([A-Z]+)_ADDR", key)
        if not match:
            continue
        target = match[1].lower()
        assert value == f"{target}:{default_port(target)}"
        service = _objects()[("Service", target)]
        assert [p["port"] for p in service["spec"]["ports"]] == [default_port(target)]


def test_scaled_services_are_headless_so_every_replica_is_seen() -> None:
    for name in ("edge", "router"):
        assert _objects()[("Service", name)]["spec"]["clusterIP"] == "None"
        assert ("HorizontalPodAutoscaler", name) in _objects()
    assert _objects()[("Deployment", "catalog")]["spec"]["replicas"] >= 2


def test_secrets_come_from_secret_objects() -> None:
    for name in SERVICES:
        for key, entry in _explicit_env(name).items():
            if re.search(r"KEY|TOKEN|PASSWORD|SECRET|DATABASE_URL", key):
                assert "secretKeyRef" in entry.get("valueFrom", {}), f"{name}: {key}"
    assert not [k for k in _config_map() if re.search(r"KEY|TOKEN|PASSWORD|SECRET", k)]


def test_every_pod_runs_unprivileged_on_a_read_only_filesystem() -> None:
    for (kind, name), obj in _objects().items():
        if kind != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        context = _container(name)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"]["drop"] == ["ALL"], name


def test_only_envoy_faces_outside_the_cluster() -> None:
    services = {name: o for (kind, name), o in _objects().items() if kind == "Service"}
    exposed = {n for n, s in services.items() if s["spec"].get("type", "ClusterIP") != "ClusterIP"}
    assert exposed == {"envoy"}
    assert [p["port"] for p in services["envoy"]["spec"]["ports"]] == [default_port("envoy")]


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_gets_the_service_token_from_a_secret(name: str) -> None:
    token = _explicit_env(name)["FREEWAY_SERVICE_TOKEN"]
    ref = token["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("freeway-secrets", "FREEWAY_SERVICE_TOKEN")
    assert not ref.get("optional"), "a service without the token cannot start"
