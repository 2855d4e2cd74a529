"""Analytics settings: read once into a frozen object, failing fast with the key's name.

Where the service listens and which database it uses come from the suite settings
(`FREEWAY_ANALYTICS_ADDR`, `DATABASE_URL`, `FREEWAY_DATA_DIR`); this holds what only
analytics cares about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.analytics.retention import Retention
from services.shared.config import ConfigError, load, setting
from services.shared.settings import SuiteSettings

SQLITE_FILE = "analytics.sqlite3"
MAX_BATCH_CEILING = 100_000  # one batch is one transaction and one gRPC message
MAX_INGEST_DEPTH = 64  # each batch in flight holds a database connection
MAX_RETENTION_DAYS = 36_500
MAX_INTERVAL_S = 86_400.0


@dataclass(frozen=True)
class AnalyticsSettings:
    """`[analytics]` in freeway.toml, or the FREEWAY_ANALYTICS_* env vars."""

    max_batch_events: int = setting(
        "FREEWAY_ANALYTICS_MAX_BATCH_EVENTS", 1000, doc="most usage events in one Ingest batch"
    )
    ingest_depth: int = setting(
        "FREEWAY_ANALYTICS_INGEST_DEPTH", 4, doc="batches of one Ingest stream stored at once"
    )
    shutdown_grace_s: float = setting(
        "FREEWAY_ANALYTICS_SHUTDOWN_GRACE_S", 5.0, doc="how long running calls get on stop"
    )
    raw_retention_days: int = setting(
        "FREEWAY_ANALYTICS_RAW_RETENTION_DAYS", 90, doc="days raw usage rows are kept (0: forever)"
    )
    minute_retention_days: int = setting(
        "FREEWAY_ANALYTICS_MINUTE_RETENTION_DAYS", 2, doc="days per-minute rollups are kept"
    )
    hour_retention_days: int = setting(
        "FREEWAY_ANALYTICS_HOUR_RETENTION_DAYS", 400, doc="days per-hour rollups are kept"
    )
    day_retention_days: int = setting(
        "FREEWAY_ANALYTICS_DAY_RETENTION_DAYS", 0, doc="days per-day rollups are kept"
    )
    roll_up_interval_s: float = setting(
        "FREEWAY_ANALYTICS_ROLL_UP_INTERVAL_S", 1.0, doc="how often pending usage is rolled up"
    )
    prune_interval_s: float = setting(
        "FREEWAY_ANALYTICS_PRUNE_INTERVAL_S", 3600.0, doc="how often retention is applied"
    )

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch_events <= MAX_BATCH_CEILING:
            raise ConfigError(
                f"max_batch_events (FREEWAY_ANALYTICS_MAX_BATCH_EVENTS):"
                f" expected 1..{MAX_BATCH_CEILING},"
                f" got {self.max_batch_events}"
            )
        if not 1 <= self.ingest_depth <= MAX_INGEST_DEPTH:
            raise ConfigError(
                f"ingest_depth (FREEWAY_ANALYTICS_INGEST_DEPTH):"
                f" expected 1..{MAX_INGEST_DEPTH}, got {self.ingest_depth}"
            )
        if self.shutdown_grace_s < 0:
            raise ConfigError(
                f"shutdown_grace_s (FREEWAY_ANALYTICS_SHUTDOWN_GRACE_S):"
                f" expected >= 0, got {self.shutdown_grace_s}"
            )
        for name in ("raw", "minute", "hour", "day"):
            days = getattr(self, f"{name}_retention_days")
            if not 0 <= days <= MAX_RETENTION_DAYS:
                raise ConfigError(
                    f"{name}_retention_days (FREEWAY_ANALYTICS_{name.upper()}_RETENTION_DAYS):"
                    f" expected 0 (forever) to {MAX_RETENTION_DAYS}, got {days}"
                )
        for name in ("roll_up_interval_s", "prune_interval_s"):
            value = getattr(self, name)
            if not 0.01 <= value <= MAX_INTERVAL_S:
                raise ConfigError(
                    f"{name} (FREEWAY_ANALYTICS_{name.upper()}):"
                    f" expected 0.01 to {MAX_INTERVAL_S:g} seconds, got {value}"
                )

    @property
    def retention(self) -> Retention:
        return Retention(
            self.raw_retention_days,
            self.minute_retention_days,
            self.hour_retention_days,
            self.day_retention_days,
        )


def analytics_settings(
    env: Mapping[str, str] | None = None, file_data: Mapping[str, Any] | None = None
) -> AnalyticsSettings:
    """Load `[analytics]` (env > file > defaults), failing fast with the key's name."""
    return load(AnalyticsSettings, "analytics", env, file_data)


def sqlite_path(suite: SuiteSettings) -> Path:
    """The embedded database file, used when DATABASE_URL is not set."""
    return suite.data_dir / SQLITE_FILE
