"""Router settings: defaults, env overrides, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.router import strategies
from services.router.config import load_settings
from services.shared.config import ConfigError
from services.shared.settings import SuiteSettings


def test_defaults() -> None:
    settings = load_settings({}, {})
    assert settings.strategy_number == strategies.FREE_FIRST
    assert settings.candidates == 4
    assert not settings.allow_paid
    assert (settings.baseline_input_per_mtok, settings.baseline_output_per_mtok) == (0.15, 0.60)
    assert settings.quota  # free-tier quota awareness is on unless switched off
    suite = SuiteSettings(data_dir=Path("/srv/freeway"))
    assert settings.spool_path(suite) == Path("/srv/freeway/spool/router")


def test_env_overrides() -> None:
    settings = load_settings(
        {
            "FREEWAY_ROUTER_STRATEGY": "cascade",
            "FREEWAY_ROUTER_CANDIDATES": "2",
            "FREEWAY_ROUTER_ALLOW_PAID": "yes",
            "FREEWAY_ROUTER_SPOOL_DIR": "/tmp/spool",
            "FREEWAY_ROUTER_QUOTA": "false",
        },
        {},
    )
    assert not settings.quota
    assert settings.strategy_number == strategies.CASCADE
    assert settings.candidates == 2
    assert settings.allow_paid
    assert settings.spool_path(SuiteSettings()) == Path("/tmp/spool")


def test_file_section_is_read_and_checked() -> None:
    settings = load_settings({}, {"router": {"strategy": "quality", "attempt_timeout_s": 12}})
    assert (settings.strategy, settings.attempt_timeout_s) == ("quality", 12.0)
    with pytest.raises(ConfigError, match="fallbacks: unknown key"):
        load_settings({}, {"router": {"fallbacks": 3}})


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"FREEWAY_ROUTER_STRATEGY": "cheapest"}, "FREEWAY_ROUTER_STRATEGY"),
        ({"FREEWAY_ROUTER_CANDIDATES": "0"}, "FREEWAY_ROUTER_CANDIDATES"),
        ({"FREEWAY_ROUTER_CANDIDATES": "four"}, "FREEWAY_ROUTER_CANDIDATES"),
        ({"FREEWAY_ROUTER_ATTEMPT_TIMEOUT_S": "-1"}, "FREEWAY_ROUTER_ATTEMPT_TIMEOUT_S"),
        ({"FREEWAY_ROUTER_QUOTA_SYNC_S": "0"}, "FREEWAY_ROUTER_QUOTA_SYNC_S"),
        (
            {"FREEWAY_ROUTER_BASELINE_INPUT_PER_MTOK": "-0.1"},
            "FREEWAY_ROUTER_BASELINE_INPUT_PER_MTOK",
        ),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings(env, {})
