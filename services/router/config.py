"""The router's settings: one frozen object, read once at start, failing fast naming the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.router import strategies
from services.shared.config import ConfigError, load, setting
from services.shared.settings import SuiteSettings


@dataclass(frozen=True)
class RouterSettings:
    """How the router chooses, calls and reports. Addresses come from `SuiteSettings`."""

    strategy: str = setting("FREEWAY_ROUTER_STRATEGY", "free-first", doc="default strategy")
    candidates: int = setting(
        "FREEWAY_ROUTER_CANDIDATES", 4, doc="chosen model plus fallbacks tried per request"
    )
    allow_paid: bool = setting(
        "FREEWAY_ROUTER_ALLOW_PAID", False, doc="route to paid models when no free one fits"
    )
    unknown_context: int = setting(
        "FREEWAY_ROUTER_UNKNOWN_CONTEXT",
        8192,
        doc="context window assumed when a model states none",
    )
    attempt_timeout_s: float = setting(
        "FREEWAY_ROUTER_ATTEMPT_TIMEOUT_S",
        30.0,
        doc="the most one attempt waits for its answer (or for the next bytes of a stream)",
    )
    max_attempts: int = setting(
        "FREEWAY_ROUTER_MAX_ATTEMPTS",
        32,
        doc="attempts per request, over its candidates and more decided when they fail",
    )
    hedge_floor_s: float = setting(
        "FREEWAY_ROUTER_HEDGE_FLOOR_S",
        0.25,
        doc="never start the next candidate beside a slow attempt sooner than this",
    )
    hedge_cold_s: float = setting(
        "FREEWAY_ROUTER_HEDGE_COLD_S",
        2.0,
        doc="how long an attempt may take before any model has shown its speed",
    )
    connect_timeout_s: float = setting("FREEWAY_ROUTER_CONNECT_TIMEOUT_S", 5.0)
    breaker_failures: int = setting(
        "FREEWAY_ROUTER_BREAKER_FAILURES", 3, doc="consecutive failures that open a breaker"
    )
    breaker_cooldown_s: float = setting("FREEWAY_ROUTER_BREAKER_COOLDOWN_S", 30.0)
    breaker_max_cooldown_s: float = setting("FREEWAY_ROUTER_BREAKER_MAX_COOLDOWN_S", 300.0)
    retry_after_default_s: float = setting(
        "FREEWAY_ROUTER_RETRY_AFTER_DEFAULT_S", 5.0, doc="skip time after a 429 without Retry-After"
    )
    retry_after_max_s: float = setting("FREEWAY_ROUTER_RETRY_AFTER_MAX_S", 600.0)
    baseline_model: str = setting("FREEWAY_ROUTER_BASELINE_MODEL", "openai/gpt-4o-mini")
    baseline_input_per_mtok: float = setting("FREEWAY_ROUTER_BASELINE_INPUT_PER_MTOK", 0.15)
    baseline_output_per_mtok: float = setting("FREEWAY_ROUTER_BASELINE_OUTPUT_PER_MTOK", 0.60)
    weights_file: Path | None = setting(
        "FREEWAY_ROUTER_WEIGHTS_FILE",
        None,
        doc="scoring weights (default: the packaged ones); a changed file is taken up live",
    )
    weights_check_s: float = setting(
        "FREEWAY_ROUTER_WEIGHTS_CHECK_S", 5.0, doc="how often the weights file is looked at"
    )
    keep_features: bool = setting(
        "FREEWAY_ROUTER_KEEP_FEATURES",
        False,
        doc="keep each prompt's feature vector (never its text) in usage, to refit the scorer",
    )
    usage_batch_size: int = setting("FREEWAY_ROUTER_USAGE_BATCH_SIZE", 200)
    usage_flush_interval_s: float = setting("FREEWAY_ROUTER_USAGE_FLUSH_INTERVAL_S", 0.25)
    usage_spool_max_bytes: int = setting(
        "FREEWAY_ROUTER_USAGE_SPOOL_MAX_BYTES",
        1 << 30,
        doc="bound of unacknowledged usage on disk; at it, completions are refused",
    )
    usage_fsync_s: float = setting(
        "FREEWAY_ROUTER_USAGE_FSYNC_S",
        1.0,
        doc="how often spooled usage is fsync'd (0: never; a write already survives kill -9)",
    )
    spool_dir: Path | None = setting(
        "FREEWAY_ROUTER_SPOOL_DIR", None, doc="default: <data_dir>/spool/router"
    )
    shutdown_grace_s: float = setting("FREEWAY_ROUTER_SHUTDOWN_GRACE_S", 5.0)
    quota: bool = setting(
        "FREEWAY_ROUTER_QUOTA", True, doc="count free-tier quotas and route around used-up ones"
    )
    quota_sync_s: float = setting(
        "FREEWAY_ROUTER_QUOTA_SYNC_S",
        0.25,
        doc="how often replicas read each other's quota use from Redis (with REDIS_URL)",
    )
    quota_prefix: str = setting("FREEWAY_ROUTER_QUOTA_PREFIX", "freeway:quota:")
    quota_alerts: tuple[float, ...] = setting(
        "FREEWAY_ROUTER_QUOTA_ALERTS",
        (0.8, 0.95),
        doc="shares of a free-tier limit whose crossing raises a QUOTA_LOW alert, once per"
        " window (empty: none)",
    )
    quota_alert_queue: int = setting(
        "FREEWAY_ROUTER_QUOTA_ALERT_QUEUE",
        256,
        doc="alerts waiting to reach the catalog; beyond it new ones are dropped (logged)",
    )
    cache: bool = setting(
        "FREEWAY_ROUTER_CACHE",
        True,
        doc="answer repeated deterministic requests from the response cache",
    )
    cache_ttl_s: float = setting("FREEWAY_ROUTER_CACHE_TTL_S", 3600.0, doc="cache entry lifetime")
    cache_max_entries: int = setting(
        "FREEWAY_ROUTER_CACHE_MAX_ENTRIES", 10_000, doc="in-process cache size (without Redis)"
    )
    cache_prefix: str = setting("FREEWAY_ROUTER_CACHE_PREFIX", "freeway:cache:")

    def __post_init__(self) -> None:
        if self.strategy not in strategies.BY_NAME:
            known = ", ".join(strategies.BY_NAME)
            raise ConfigError(
                f"FREEWAY_ROUTER_STRATEGY: expected one of {known}, got {self.strategy!r}"
            )
        for key, value in self._positive().items():
            if not value > 0:
                raise ConfigError(f"{key}: must be > 0, got {value!r}")
        for key, value in self._not_negative().items():
            if value < 0:
                raise ConfigError(f"{key}: must be >= 0, got {value!r}")
        if any(not 0 < share <= 1 for share in self.quota_alerts):
            raise ConfigError(
                "FREEWAY_ROUTER_QUOTA_ALERTS: each share must be in (0, 1],"
                f" got {self.quota_alerts}"
            )

    def _positive(self) -> dict[str, float]:
        return {
            "FREEWAY_ROUTER_CANDIDATES": self.candidates,
            "FREEWAY_ROUTER_UNKNOWN_CONTEXT": self.unknown_context,
            "FREEWAY_ROUTER_ATTEMPT_TIMEOUT_S": self.attempt_timeout_s,
            "FREEWAY_ROUTER_HEDGE_FLOOR_S": self.hedge_floor_s,
            "FREEWAY_ROUTER_MAX_ATTEMPTS": self.max_attempts,
            "FREEWAY_ROUTER_HEDGE_COLD_S": self.hedge_cold_s,
            "FREEWAY_ROUTER_CONNECT_TIMEOUT_S": self.connect_timeout_s,
            "FREEWAY_ROUTER_BREAKER_FAILURES": self.breaker_failures,
            "FREEWAY_ROUTER_BREAKER_COOLDOWN_S": self.breaker_cooldown_s,
            "FREEWAY_ROUTER_BREAKER_MAX_COOLDOWN_S": self.breaker_max_cooldown_s,
            "FREEWAY_ROUTER_RETRY_AFTER_MAX_S": self.retry_after_max_s,
            "FREEWAY_ROUTER_USAGE_BATCH_SIZE": self.usage_batch_size,
            "FREEWAY_ROUTER_USAGE_FLUSH_INTERVAL_S": self.usage_flush_interval_s,
            "FREEWAY_ROUTER_USAGE_SPOOL_MAX_BYTES": self.usage_spool_max_bytes,
            "FREEWAY_ROUTER_SHUTDOWN_GRACE_S": self.shutdown_grace_s,
            "FREEWAY_ROUTER_QUOTA_SYNC_S": self.quota_sync_s,
            "FREEWAY_ROUTER_CACHE_TTL_S": self.cache_ttl_s,
            "FREEWAY_ROUTER_WEIGHTS_CHECK_S": self.weights_check_s,
            "FREEWAY_ROUTER_CACHE_MAX_ENTRIES": self.cache_max_entries,
            "FREEWAY_ROUTER_QUOTA_ALERT_QUEUE": self.quota_alert_queue,
        }

    def _not_negative(self) -> dict[str, float]:
        return {
            "FREEWAY_ROUTER_RETRY_AFTER_DEFAULT_S": self.retry_after_default_s,
            "FREEWAY_ROUTER_BASELINE_INPUT_PER_MTOK": self.baseline_input_per_mtok,
            "FREEWAY_ROUTER_BASELINE_OUTPUT_PER_MTOK": self.baseline_output_per_mtok,
            "FREEWAY_ROUTER_USAGE_FSYNC_S": self.usage_fsync_s,
        }

    @property
    def strategy_number(self) -> int:
        return strategies.BY_NAME[self.strategy]

    def spool_path(self, suite: SuiteSettings) -> Path:
        """Where every usage event is written before its answer leaves, until analytics has it."""
        return self.spool_dir or suite.data_dir / "spool" / "router"


def load_settings(
    env: Mapping[str, str] | None = None, file_data: Mapping[str, Any] | None = None
) -> RouterSettings:
    """RouterSettings from env > freeway.toml [router] (or `file_data`) > defaults."""
    return load(RouterSettings, "router", env, file_data)
