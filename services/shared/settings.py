"""Settings every process of the suite shares: where each service listens / is reached,
where embedded state lives, and the optional servers (PostgreSQL, Redis)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.shared.config import ConfigError, load, parse_address, setting


@dataclass(frozen=True)
class SuiteSettings:
    catalog_addr: str = setting("FREEWAY_CATALOG_ADDR", "127.0.0.1:50051")
    router_addr: str = setting("FREEWAY_ROUTER_ADDR", "127.0.0.1:50052")
    analytics_addr: str = setting("FREEWAY_ANALYTICS_ADDR", "127.0.0.1:50053")
    edge_addr: str = setting("FREEWAY_EDGE_ADDR", "127.0.0.1:8081")
    envoy_addr: str = setting("FREEWAY_ENVOY_ADDR", "127.0.0.1:8080")
    envoy_admin_addr: str = setting("FREEWAY_ENVOY_ADMIN_ADDR", "127.0.0.1:9901")
    data_dir: Path = setting("FREEWAY_DATA_DIR", Path("var"))
    database_url: str | None = setting("DATABASE_URL", None)
    redis_url: str | None = setting("REDIS_URL", None)
    providers_file: Path = setting("FREEWAY_PROVIDERS_FILE", Path("config/providers.toml"))

    def __post_init__(self) -> None:
        for name in (
            "catalog_addr",
            "router_addr",
            "analytics_addr",
            "edge_addr",
            "envoy_addr",
            "envoy_admin_addr",
        ):
            parse_address(getattr(self, name), f"FREEWAY_{name.upper()}")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"REDIS_URL: expected redis://…, got {self.redis_url!r}")


def suite_settings(env: dict[str, str] | None = None) -> SuiteSettings:
    return load(SuiteSettings, "suite", env)
