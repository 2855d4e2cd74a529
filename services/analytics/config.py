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

from services.shared.config import ConfigError, load, setting
from services.shared.settings import SuiteSettings

SQLITE_FILE = "analytics.sqlite3"
MAX_BATCH_CEILING = 100_000  # one batch is one transaction and one gRPC message
MAX_INGEST_DEPTH = 64  # each batch in flight holds a database connection


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


def analytics_settings(
    env: Mapping[str, str] | None = None, file_data: Mapping[str, Any] | None = None
) -> AnalyticsSettings:
    """Load `[analytics]` (env > file > defaults), failing fast with the key's name."""
    return load(AnalyticsSettings, "analytics", env, file_data)


def sqlite_path(suite: SuiteSettings) -> Path:
    """The embedded database file, used when DATABASE_URL is not set."""
    return suite.data_dir / SQLITE_FILE
