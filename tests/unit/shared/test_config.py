from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from services.shared.config import ConfigError, load, parse_address, setting
from services.shared.settings import SuiteSettings, suite_settings


@dataclass(frozen=True)
class Sample:
    addr: str = setting("X_ADDR", "127.0.0.1:1")
    workers: int = setting("X_WORKERS", 4)
    ratio: float = setting("X_RATIO", 0.5)
    debug: bool = setting("X_DEBUG", False)
    tags: tuple[str, ...] = setting("X_TAGS", ())
    url: str | None = setting("X_URL", None)
    path: Path = setting("X_PATH", Path("var"))


def test_defaults_when_nothing_is_set() -> None:
    assert load(Sample, "sample", env={}, file_data={}) == Sample()


def test_env_beats_file_beats_default() -> None:
    data = {"sample": {"workers": 8, "ratio": 0.25}}
    cfg = load(Sample, "sample", env={"X_WORKERS": "16"}, file_data=data)
    assert (cfg.workers, cfg.ratio) == (16, 0.25)


def test_values_are_typed() -> None:
    env = {"X_DEBUG": "yes", "X_TAGS": "a, b", "X_URL": "redis://h", "X_PATH": "/tmp/x"}
    cfg = load(Sample, "sample", env=env, file_data={})
    assert cfg.debug is True
    assert cfg.tags == ("a", "b")
    assert cfg.url == "redis://h"
    assert cfg.path == Path("/tmp/x")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"X_WORKERS": "many"}, "X_WORKERS"),
        ({"X_DEBUG": "perhaps"}, "X_DEBUG"),
        ({"X_RATIO": "half"}, "X_RATIO"),
    ],
)
def test_bad_env_value_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load(Sample, "sample", env=env, file_data={})


def test_bad_file_value_names_the_section_and_key() -> None:
    with pytest.raises(ConfigError, match=r"\[sample\] workers"):
        load(Sample, "sample", env={}, file_data={"sample": {"workers": "x"}})


def test_unknown_file_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"\[sample\] wokers: unknown key"):
        load(Sample, "sample", env={}, file_data={"sample": {"wokers": 2}})


def test_config_file_from_env(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text('[suite]\nrouter_addr = "127.0.0.1:6000"\n')
    assert suite_settings({"FREEWAY_CONFIG": str(path)}).router_addr == "127.0.0.1:6000"


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FREEWAY_CONFIG: no such file"):
        suite_settings({"FREEWAY_CONFIG": str(tmp_path / "nope.toml")})


def test_suite_defaults_are_the_documented_ports() -> None:
    s = SuiteSettings()
    assert [
        parse_address(a, "k")[1]
        for a in (
            s.envoy_addr,
            s.edge_addr,
            s.catalog_addr,
            s.router_addr,
            s.analytics_addr,
            s.envoy_admin_addr,
        )
    ] == [8080, 8081, 50051, 50052, 50053, 9901]
    assert s.envoy_admin_addr.startswith("127.0.0.1:")


def test_bad_address_fails_fast_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="FREEWAY_ROUTER_ADDR: expected host:port"):
        suite_settings({"FREEWAY_ROUTER_ADDR": "router"})


def test_bad_redis_url_is_named() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        suite_settings({"REDIS_URL": "localhost:6379"})
