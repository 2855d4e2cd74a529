"""The catalog service's settings: one frozen object, read once at start (STYLE.md §7).

Where it listens, the providers file, the database and the data directory come from the
suite settings (`SuiteSettings`); this section holds what only the catalog cares about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.shared.config import ConfigError, load, setting


@dataclass(frozen=True)
class CatalogSettings:
    """`[catalog]` in freeway.toml, or the FREEWAY_CATALOG_* env vars."""

    misses_before_removal: int = setting(
        "FREEWAY_CATALOG_MISSES_BEFORE_REMOVAL",
        3,
        doc="consecutive successful polls without a model before it is REMOVED",
    )
    history_retention: int = setting(
        "FREEWAY_CATALOG_HISTORY_RETENTION",
        10_000,
        doc="changes kept for WatchCatalog resumption; older clients get a snapshot",
    )
    jitter_fraction: float = setting(
        "FREEWAY_CATALOG_JITTER", 0.1, doc="poll interval jitter, as a fraction of the interval"
    )
    backoff_base_s: float = setting("FREEWAY_CATALOG_BACKOFF_BASE_S", 30.0)
    backoff_max_s: float = setting("FREEWAY_CATALOG_BACKOFF_MAX_S", 3600.0)
    min_poll_gap_s: float = setting(
        "FREEWAY_CATALOG_MIN_POLL_GAP_S",
        5.0,
        doc="per-provider rate limit on polling: never two polls closer than this",
    )
    max_pages: int = setting("FREEWAY_CATALOG_MAX_PAGES", 50, doc="pagination cap per poll")
    max_body_bytes: int = setting("FREEWAY_CATALOG_MAX_BODY_BYTES", 64 * 1024 * 1024)
    subscriber_queue: int = setting(
        "FREEWAY_CATALOG_SUBSCRIBER_QUEUE",
        1024,
        doc="events buffered per WatchCatalog subscriber before it gets a fresh snapshot",
    )
    leader_retry_s: float = setting(
        "FREEWAY_CATALOG_LEADER_RETRY_S",
        5.0,
        doc="how often a standby replica tries to become the poller (PostgreSQL only)",
    )
    follower_sync_s: float = setting(
        "FREEWAY_CATALOG_FOLLOWER_SYNC_S",
        2.0,
        doc="how often a standby replica re-reads the catalogue version from the store",
    )
    refresh_timeout_s: float = setting(
        "FREEWAY_CATALOG_REFRESH_TIMEOUT_S",
        60.0,
        doc="how long a standby waits for the leader to poll a provider it was asked to refresh",
    )
    webhooks: tuple[str, ...] = setting(
        "FREEWAY_CATALOG_WEBHOOKS", (), doc="URLs that receive a JSON notice of every change"
    )
    webhook_attempts: int = setting(
        "FREEWAY_CATALOG_WEBHOOK_ATTEMPTS",
        8,
        doc="attempts per notice and URL before it is given up on (kept as dead)",
    )
    webhook_timeout_s: float = setting("FREEWAY_CATALOG_WEBHOOK_TIMEOUT_S", 10.0)
    webhook_backoff_base_s: float = setting(
        "FREEWAY_CATALOG_WEBHOOK_BACKOFF_BASE_S",
        1.0,
        doc="wait after a webhook's first failed attempt; doubled after each next one",
    )
    webhook_backoff_max_s: float = setting("FREEWAY_CATALOG_WEBHOOK_BACKOFF_MAX_S", 300.0)
    webhook_queue: int = setting(
        "FREEWAY_CATALOG_WEBHOOK_QUEUE",
        10_000,
        doc="pending notices kept per URL; the oldest beyond it are given up on",
    )
    webhook_keep_days: int = setting(
        "FREEWAY_CATALOG_WEBHOOK_KEEP_DAYS",
        7,
        doc="days a delivered or dead webhook row is kept (to inspect); 0: forever",
    )
    webhook_secret: str = setting(
        "FREEWAY_CATALOG_WEBHOOK_SECRET",
        "",
        doc="signs every webhook body (X-Freeway-Signature: sha256 HMAC); empty: unsigned",
        secret=True,
    )
    alert_down_after: int = setting(
        "FREEWAY_CATALOG_ALERT_DOWN_AFTER",
        3,
        doc="failed polls in a row before a provider is reported down",
    )
    alert_retention: int = setting(
        "FREEWAY_CATALOG_ALERT_RETENTION", 10_000, doc="alerts kept in the store"
    )
    price_files: tuple[str, ...] = setting(
        "FREEWAY_CATALOG_PRICE_FILES",
        (),
        doc="price catalogues (LiteLLM price-map JSON, models.dev api.json or checkout) that"
        " fill in prices a provider's list does not state; the first that knows a model wins",
    )
    poll: bool = setting(
        "FREEWAY_CATALOG_POLL", True, doc="run the scheduler (false: serve reads only)"
    )

    def __post_init__(self) -> None:
        _at_least(self, "misses_before_removal", 1)
        _at_least(self, "history_retention", 1)
        _at_least(self, "max_pages", 1)
        _at_least(self, "max_body_bytes", 1024)
        _at_least(self, "subscriber_queue", 1)
        _at_least(self, "webhook_attempts", 1)
        _at_least(self, "webhook_queue", 1)
        _at_least(self, "webhook_keep_days", 0)
        _at_least(self, "alert_down_after", 1)
        _at_least(self, "alert_retention", 1)
        if not 0.0 <= self.jitter_fraction < 1.0:
            raise ConfigError(
                f"jitter_fraction: expected 0 ≤ value < 1, got {self.jitter_fraction}"
            )
        for name in (
            "backoff_base_s",
            "backoff_max_s",
            "leader_retry_s",
            "follower_sync_s",
            "refresh_timeout_s",
            "webhook_timeout_s",
            "webhook_backoff_base_s",
            "webhook_backoff_max_s",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: expected a positive number, got {getattr(self, name)}")
        if self.min_poll_gap_s < 0:
            raise ConfigError(f"min_poll_gap_s: expected ≥ 0, got {self.min_poll_gap_s}")
        for url in self.webhooks:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"webhooks: expected http(s) URLs, got {url!r}")


def _at_least(settings: CatalogSettings, name: str, low: int) -> None:
    value = getattr(settings, name)
    if value < low:
        raise ConfigError(f"{name}: expected ≥ {low}, got {value}")


def catalog_settings(
    env: Mapping[str, str] | None = None, file_data: Mapping[str, Any] | None = None
) -> CatalogSettings:
    """Load `[catalog]` (env > file > defaults), failing fast with the key's name."""
    return load(CatalogSettings, "catalog", env, file_data)
