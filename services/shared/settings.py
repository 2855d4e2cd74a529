"""Settings every process of the suite shares: where each service listens / is reached,
where embedded state lives, the optional servers (PostgreSQL, Redis), and the service
token every internal gRPC call carries.

An address a process *reaches* may list several `host:port`s separated by commas (replicas
on one machine, called round-robin); the address a process *binds* is a single one."""

from __future__ import annotations

import dataclasses
import secrets
import string
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
    catalog_metrics_port: int = setting(
        "FREEWAY_CATALOG_METRICS_PORT", 9151, doc="Prometheus /metrics, on the catalog's host"
    )
    router_metrics_port: int = setting(
        "FREEWAY_ROUTER_METRICS_PORT", 9152, doc="Prometheus /metrics, on the router's host"
    )
    analytics_metrics_port: int = setting(
        "FREEWAY_ANALYTICS_METRICS_PORT", 9153, doc="Prometheus /metrics, on analytics' host"
    )
    metrics_token: str | None = setting(
        "FREEWAY_METRICS_TOKEN",
        None,
        doc="when set, every /metrics needs Authorization: Bearer <it> (the edge's too)",
        secret=True,
    )
    data_dir: Path = setting("FREEWAY_DATA_DIR", Path("var"))
    database_url: str | None = setting("DATABASE_URL", None)
    redis_url: str | None = setting("REDIS_URL", None)
    providers_file: Path = setting("FREEWAY_PROVIDERS_FILE", Path("config/providers.toml"))
    envoy_tls_cert: Path | None = setting(
        "FREEWAY_ENVOY_TLS_CERT", None, doc="PEM certificate (chain): Envoy then serves HTTPS"
    )
    envoy_tls_key: Path | None = setting("FREEWAY_ENVOY_TLS_KEY", None, doc="its PEM private key")
    service_token: str | None = setting(
        "FREEWAY_SERVICE_TOKEN",
        None,
        doc="shared secret of the suite's gRPC calls (authorization: Bearer …); required by"
        " every service process",
        secret=True,
    )
    service_token_file: Path | None = setting(
        "FREEWAY_SERVICE_TOKEN_FILE",
        None,
        doc="a file holding the service token (a compose or Kubernetes secret), when"
        " FREEWAY_SERVICE_TOKEN is not set",
    )

    def __post_init__(self) -> None:
        for name in (
            "catalog_addr",
            "router_addr",
            "analytics_addr",
            "edge_addr",
            "envoy_addr",
            "envoy_admin_addr",
        ):
            for address in getattr(self, name).split(","):
                parse_address(address.strip(), f"FREEWAY_{name.upper()}")
        for service in ("catalog", "router", "analytics"):
            port = getattr(self, f"{service}_metrics_port")
            if not 0 <= port < 65536:
                raise ConfigError(
                    f"FREEWAY_{service.upper()}_METRICS_PORT: expected 0..65535, got {port}"
                )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"REDIS_URL: expected redis://…, got {self.redis_url!r}")
        if self.service_token is not None:
            check_token(self.service_token)
        if (self.envoy_tls_cert is None) != (self.envoy_tls_key is None):
            raise ConfigError(
                "FREEWAY_ENVOY_TLS_CERT and FREEWAY_ENVOY_TLS_KEY: set both (HTTPS) or neither"
            )


MIN_TOKEN_CHARS = 16
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-._~+/=")


def check_token(token: str) -> None:
    """A service token is sent as an HTTP/2 header value: printable, and not guessable."""
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"FREEWAY_SERVICE_TOKEN: at least {MIN_TOKEN_CHARS} characters, got {len(token)}"
            " (`freeway token` makes one)"
        )
    if not set(token) <= _TOKEN_CHARS:
        raise ConfigError("FREEWAY_SERVICE_TOKEN: only letters, digits and -._~+/= allowed")


def new_token() -> str:
    """A fresh service token (256 random bits)."""
    return secrets.token_urlsafe(32)


def suite_settings(env: dict[str, str] | None = None) -> SuiteSettings:
    return load(SuiteSettings, "suite", env)


def service_settings(env: dict[str, str] | None = None) -> SuiteSettings:
    """The suite settings of a service process, which must have its service token."""
    suite = suite_settings(env)
    if not suite.service_token and suite.service_token_file is not None:
        suite = dataclasses.replace(suite, service_token=_read_token(suite.service_token_file))
    if not suite.service_token:
        raise ConfigError(
            "FREEWAY_SERVICE_TOKEN: required: every gRPC call between Freeway services carries"
            " it (`freeway run` / `demo` make one; compose and Kubernetes read it from a"
            " Secret; `freeway token` prints a new one)"
        )
    return suite


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(
            f"FREEWAY_SERVICE_TOKEN_FILE: cannot read {path}: {exc.strerror}"
        ) from None
