"""Analytics settings: defaults, env over file, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analytics.config import AnalyticsSettings, analytics_settings, sqlite_path
from services.analytics.retention import Retention
from services.shared.config import ConfigError
from services.shared.settings import SuiteSettings


def test_defaults() -> None:
    settings = analytics_settings(env={}, file_data={})
    assert settings == AnalyticsSettings(
        max_batch_events=1000, ingest_depth=4, shutdown_grace_s=5.0
    )
    assert settings.retention == Retention(raw_days=90, minute_days=2, hour_days=400, day_days=0)
    assert (settings.roll_up_interval_s, settings.prune_interval_s) == (1.0, 3600.0)


def test_env_wins_over_the_file() -> None:
    env = {"FREEWAY_ANALYTICS_MAX_BATCH_EVENTS": "250"}
    file_data = {"analytics": {"max_batch_events": 400, "shutdown_grace_s": 2}}
    settings = analytics_settings(env=env, file_data=file_data)
    assert (settings.max_batch_events, settings.shutdown_grace_s) == (250, 2.0)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"FREEWAY_ANALYTICS_MAX_BATCH_EVENTS": "0"}, "FREEWAY_ANALYTICS_MAX_BATCH_EVENTS"),
        ({"FREEWAY_ANALYTICS_MAX_BATCH_EVENTS": "lots"}, "FREEWAY_ANALYTICS_MAX_BATCH_EVENTS"),
        ({"FREEWAY_ANALYTICS_MAX_BATCH_EVENTS": "100001"}, "FREEWAY_ANALYTICS_MAX_BATCH_EVENTS"),
        ({"FREEWAY_ANALYTICS_INGEST_DEPTH": "0"}, "FREEWAY_ANALYTICS_INGEST_DEPTH"),
        ({"FREEWAY_ANALYTICS_INGEST_DEPTH": "65"}, "FREEWAY_ANALYTICS_INGEST_DEPTH"),
        ({"FREEWAY_ANALYTICS_SHUTDOWN_GRACE_S": "-1"}, "FREEWAY_ANALYTICS_SHUTDOWN_GRACE_S"),
        ({"FREEWAY_ANALYTICS_RAW_RETENTION_DAYS": "-1"}, "FREEWAY_ANALYTICS_RAW_RETENTION_DAYS"),
        (
            {"FREEWAY_ANALYTICS_MINUTE_RETENTION_DAYS": "36501"},
            "FREEWAY_ANALYTICS_MINUTE_RETENTION_DAYS",
        ),
        ({"FREEWAY_ANALYTICS_ROLL_UP_INTERVAL_S": "0"}, "FREEWAY_ANALYTICS_ROLL_UP_INTERVAL_S"),
        ({"FREEWAY_ANALYTICS_PRUNE_INTERVAL_S": "1e9"}, "FREEWAY_ANALYTICS_PRUNE_INTERVAL_S"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        analytics_settings(env=env, file_data={})


def test_unknown_file_key_is_named() -> None:
    with pytest.raises(ConfigError, match="max_batch"):
        analytics_settings(env={}, file_data={"analytics": {"max_batch": 5}})


def test_embedded_database_lives_in_the_data_dir() -> None:
    suite = SuiteSettings(data_dir=Path("/srv/freeway"))
    assert sqlite_path(suite) == Path("/srv/freeway/analytics.sqlite3")
