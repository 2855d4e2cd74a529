"""compose.yaml against the Compose Specification, the Dockerfile, and the code it starts.

Docker cannot run here, so these tests check what would otherwise only fail at
`docker compose up`: a schema error, a dependency that starts too early, a target or env
var or port that the code does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from services.shared.settings import SuiteSettings
from tests.conftest import ROOT, unavailable
from tests.unit.deploy.facts import (
    COMPOSE_FILE,
    SERVICES,
    address_env,
    compose,
    compose_services,
    default_address,
    default_port,
    dockerfile_stages,
    env_names_read_by_code,
    environment,
    envoy_config,
    freeway_services,
    interpolated,
    provider_key_envs,
    tool,
)

# Dependencies whose address the code reads from a URL rather than a FREEWAY_<NAME>_ADDR.
URL_SERVICES = {"DATABASE_URL": ("postgres", 5432), "REDIS_URL": ("redis", 6379)}
SECRET_NAME = re.compile(r"KEY|TOKEN|PASSWORD|SECRET")
HOST_VALUE = re.compile(r"^\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}$")


def _schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    checker = tool("check-jsonschema")
    if checker is None:
        unavailable("check-jsonschema is not installed (pip install -e '.[dev]')")
    assert checker is not None
    return subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _port(address: str) -> int:
    return int(address.rpartition(":")[2])


def test_compose_file_matches_the_compose_specification() -> None:
    result = _schema_check(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = compose() | {
        "services": {"edge": {"image": "x", "depends_on": {"router": {"condition": "whenever"}}}}
    }
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert _schema_check(path).returncode != 0


OBSERVABILITY = {"prometheus", "grafana"}  # only with `--profile observability`


def test_the_suite_is_all_there() -> None:
    assert set(compose_services()) == {*SERVICES, "envoy", "postgres", "redis", *OBSERVABILITY}
    for name in OBSERVABILITY:
        assert compose_services()[name]["profiles"] == ["observability"]
    assert not any(
        "profiles" in svc for name, svc in compose_services().items() if name not in OBSERVABILITY
    )
    assert set(freeway_services()) == set(SERVICES)


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_every_service_has_a_healthcheck(name: str) -> None:
    check = compose_services()[name].get("healthcheck", {})
    assert not check.get("disable", False), f"{name}: healthcheck disabled"
    test = check.get("test")
    assert test, f"{name}: no healthcheck test"
    assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test {test!r}"


def test_dependencies_wait_until_healthy() -> None:
    services = compose_services()
    for name, svc in services.items():
        depends = svc.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must use the long form"
        for dep, spec in depends.items():
            assert dep in services, f"{name}: depends on unknown service {dep!r}"
            assert spec.get("condition") == "service_healthy", (
                f"{name} → {dep}: not service_healthy"
            )


def _talks_to(service: dict[str, Any]) -> set[str]:
    """Compose services this container's environment points at."""
    env = environment(service)
    targets = {
        value.rpartition(":")[0]
        for key, value in env.items()
        if key.startswith("FREEWAY_") and key.endswith("_ADDR") and not value.startswith("0.0.0.0:")
    }
    targets |= {
        urlparse(interpolated(env[key])).hostname or "" for key in URL_SERVICES if key in env
    }
    return targets


def test_every_service_a_container_talks_to_is_one_it_waits_for() -> None:
    services = compose_services()
    for name, svc in freeway_services().items():
        talks_to = _talks_to(svc)
        assert talks_to <= set(services), f"{name}: env points at unknown hosts {talks_to}"
        assert talks_to <= set(svc.get("depends_on", {})), f"{name}: must wait for {talks_to}"
    assert set(services["envoy"]["depends_on"]) == {"edge"}


def test_dependencies_have_no_cycle() -> None:
    graph = {name: set(svc.get("depends_on", {})) for name, svc in compose_services().items()}
    started: list[str] = []
    while graph:
        ready = sorted(name for name, deps in graph.items() if deps <= set(started))
        assert ready, f"dependency cycle among {sorted(graph)}"
        started += ready
        graph = {name: deps for name, deps in graph.items() if name not in ready}


def test_built_services_use_dockerfile_targets() -> None:
    targets = set(dockerfile_stages())
    for name, svc in compose_services().items():
        build = svc.get("build")
        if build is None:
            continue
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).is_file()
        assert build.get("target") in targets, (
            f"{name}: no Dockerfile target {build.get('target')!r}"
        )
        # Same name everywhere: compose service, Dockerfile target, services/<name>.
        assert build["target"] == name


def test_pulled_images_are_pinned() -> None:
    for name, svc in compose_services().items():
        if "build" in svc:
            continue
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo, f"{name}: pin a version, not {image!r}"
        assert tag not in ("", "latest"), f"{name}: pin a version, not {image!r}"


def test_env_vars_set_for_freeway_services_are_read_by_the_code() -> None:
    known = env_names_read_by_code() | provider_key_envs()
    for name, svc in freeway_services().items():
        unknown = set(environment(svc)) - known
        assert not unknown, f"{name}: sets env vars no code reads: {sorted(unknown)}"


def test_env_scan_finds_every_suite_setting() -> None:
    """The scan behind the env check sees what the settings dataclass declares."""
    from dataclasses import fields

    from services.shared.settings import SuiteSettings

    declared = {f.metadata["env"] for f in fields(SuiteSettings)}
    assert declared <= env_names_read_by_code()
    assert {"FREEWAY_LOG_FORMAT", "FREEWAY_LOG_LEVEL"} <= env_names_read_by_code()


@pytest.mark.parametrize("name", ["catalog", "router"])
def test_provider_keys_pass_through_from_the_host(name: str) -> None:
    """The services that call providers get every key the providers file names."""
    env = environment(compose_services()[name])
    for key in provider_key_envs():
        assert env.get(key) == f"${{{key}:-}}", f"{name}: pass {key} through as ${{{key}:-}}"


def test_secrets_come_from_the_host_environment() -> None:
    declared = set(compose().get("secrets", {}))
    for name, svc in compose_services().items():
        for key, value in environment(svc).items():
            if key.endswith("_FILE"):  # a compose secret, mounted under /run/secrets
                secret = value.removeprefix("/run/secrets/")
                assert value.startswith("/run/secrets/"), f"{name}: {key} must name a secret"
                assert secret in declared, f"{name}: {key}: no secret {secret!r} declared"
                assert secret in svc.get("secrets", []), f"{name}: {key}: {secret} not mounted"
            elif SECRET_NAME.search(key):
                match = HOST_VALUE.match(value)
                assert match, f"{name}: {key} must come from the host (${{{key}…}}), not a literal"
                assert match[1] == key, f"{name}: {key} is read from the host's {match[1]}"
        database_url = environment(svc).get("DATABASE_URL")
        if database_url:
            password = urlparse(interpolated(database_url)).password
            assert password == "from-host", f"{name}: DATABASE_URL: password must be ${{…}}"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_binds_its_default_port(name: str) -> None:
    svc = compose_services()[name]
    own = environment(svc)[address_env(name)]
    assert own == f"0.0.0.0:{default_port(name)}"
    probe = " ".join(svc["healthcheck"]["test"][1:])
    assert f"127.0.0.1:{default_port(name)}" in probe, f"{name}: health probe on the wrong port"


def test_clients_reach_services_where_they_listen() -> None:
    services = compose_services()
    for name, svc in freeway_services().items():
        for key, value in environment(svc).items():
            match = re.fullmatch(r"FREEWAY_([A-Z]+)_ADDR", key)
            if not match or value.startswith("0.0.0.0:"):
                continue
            target = match[1].lower()
            assert value == f"{target}:{default_port(target)}", f"{name}: {key}={value}"
            assert environment(services[target])[key] == f"0.0.0.0:{default_port(target)}"
        for key, (host, port) in URL_SERVICES.items():
            if key in environment(svc):
                url = urlparse(interpolated(environment(svc)[key]))
                assert (url.hostname, url.port) == (host, port), f"{name}: {key}"


def test_grpc_services_are_probed_with_the_health_module() -> None:
    for name in ("catalog", "router", "analytics"):
        test = compose_services()[name]["healthcheck"]["test"]
        assert test == [
            "CMD",
            "python",
            "-m",
            "services.shared.healthcheck",
            "grpc",
            f"127.0.0.1:{default_port(name)}",
        ]
    assert (ROOT / "services" / "shared" / "healthcheck.py").is_file()


def test_edge_is_probed_where_envoy_checks_it() -> None:
    test = compose_services()["edge"]["healthcheck"]["test"]
    assert test[:5] == ["CMD", "python", "-m", "services.shared.healthcheck", "http"]
    url = urlparse(test[5])
    (check,) = envoy_config()["static_resources"]["clusters"][0]["health_checks"]
    assert (url.port, url.path) == (default_port("edge"), check["http_health_check"]["path"])


def _published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, published port, container port) per short-form port mapping, with each
    `${VAR:-default}` at its default (what an unset host variable gives)."""
    mappings = []
    for entry in service.get("ports", []):
        resolved = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(entry))
        *host, published, target = resolved.split(":")
        mappings.append((host[0] if host else "0.0.0.0", int(published), int(target)))
    return mappings


def test_only_envoy_is_published_on_loopback_by_default() -> None:
    for name, svc in compose_services().items():
        if name in OBSERVABILITY:  # an operator's tools, on this host only
            assert all(host == "127.0.0.1" for host, _, _ in _published(svc)), name
            continue
        assert name == "envoy" or not svc.get("ports"), f"{name}: only Envoy faces the network"
    envoy = envoy_config()
    listener = envoy["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    admin = envoy["admin"]["address"]["socket_address"]["port_value"]
    public_port, admin_port = default_port("envoy"), default_address("envoy_admin")[1]
    assert sorted(_published(compose_services()["envoy"])) == sorted(
        [("127.0.0.1", public_port, listener), ("127.0.0.1", admin_port, admin)]
    )
    assert (listener, admin) == (public_port, admin_port)
    probe = " ".join(compose_services()["envoy"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{admin}/ready" in probe


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes", {}))
    for name, svc in compose_services().items():
        for volume in svc.get("volumes", []):
            source = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(volume)).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source!r} is not declared"
    assert "postgres-data" in declared


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_gets_the_service_token_as_a_secret_file(name: str) -> None:
    svc = compose_services()[name]
    assert environment(svc)["FREEWAY_SERVICE_TOKEN_FILE"] == "/run/secrets/service-token"
    assert "service-token" in svc["secrets"]
    assert compose()["secrets"]["service-token"] == {"environment": "FREEWAY_SERVICE_TOKEN"}


@pytest.mark.parametrize("name", ["catalog", "router", "analytics"])
def test_metrics_ports_are_the_defaults_exposed_and_annotated(name: str) -> None:
    svc = compose_services()[name]
    port = getattr(SuiteSettings(), f"{name}_metrics_port")
    assert environment(svc)[f"FREEWAY_{name.upper()}_METRICS_PORT"] == str(port)
    assert svc["expose"] == [str(port)]
    assert svc["labels"]["prometheus.io/scrape"] == "true"
    assert svc["labels"]["prometheus.io/port"] == str(port)


def test_prometheus_scrapes_every_service_where_it_serves_metrics() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text("utf-8"))
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    settings = SuiteSettings()
    for name in ("catalog", "router", "analytics"):
        assert targets[name] == [f"{name}:{getattr(settings, f'{name}_metrics_port')}"]
    assert targets["edge"] == [f"edge:{default_port('edge')}"]
    assert compose_services()["edge"]["labels"]["prometheus.io/port"] == str(default_port("edge"))
    for mount in [
        *compose_services()["prometheus"]["volumes"],
        *compose_services()["grafana"]["volumes"],
    ]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).is_dir(), f"{mount}: no such folder"
