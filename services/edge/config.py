"""The edge's settings: one frozen object, read once at start (STYLE.md §7).

Where the edge listens and where router / catalog / Redis are come from the suite settings
(`SuiteSettings`); this section holds what only the edge cares about. The admin key is
hashed as it is loaded: only its SHA-256 digest is ever kept. Limits here are the defaults
of keys that set none; 0 is unlimited, and every default is 0, so a single-key install is
never throttled without saying so (see the README, "Keys, teams and budgets").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.edge.accounts import HASH_PREFIX, ROLES, Limits, key_digest
from services.shared.config import ConfigError, load, setting

__all__ = ["HASH_PREFIX", "EdgeSettings", "edge_settings", "key_digest"]
UNKNOWN_PRICE_POLICIES = ("refuse", "ceiling")


@dataclass(frozen=True)
class EdgeSettings:
    """`[edge]` in freeway.toml, or the FREEWAY_EDGE_* env vars (and FREEWAY_ADMIN_KEY)."""

    admin_key: str = setting(
        "FREEWAY_ADMIN_KEY",
        "",
        doc="accepted as an admin API key; kept only as 'sha256:<hex>' (a digest is accepted too)",
    )
    rpm: int = setting(
        "FREEWAY_EDGE_RPM", 0, doc="requests per minute of a key that sets none (0: unlimited)"
    )
    rpd: int = setting(
        "FREEWAY_EDGE_RPD", 0, doc="requests per UTC day of a key that sets none (0: unlimited)"
    )
    tpm: int = setting(
        "FREEWAY_EDGE_TPM", 0, doc="tokens per minute of a key that sets none (0: unlimited)"
    )
    concurrent: int = setting(
        "FREEWAY_EDGE_CONCURRENT", 0, doc="requests in flight of a key that sets none (0: any)"
    )
    limits_prefix: str = setting(
        "FREEWAY_EDGE_LIMITS_PREFIX", "freeway:rl:", doc="Redis key prefix of limits and budgets"
    )
    budget_reserve_usd: float = setting(
        "FREEWAY_BUDGET_RESERVE_USD",
        0.01,
        doc="reserved from a budget per request until its cost is known (a key may set its own)",
    )
    unknown_price: str = setting(
        "FREEWAY_BUDGET_UNKNOWN_PRICE",
        "refuse",
        doc="a budgeted caller and a model of unknown price: refuse it, or count a ceiling",
    )
    unknown_price_usd: float = setting(
        "FREEWAY_BUDGET_UNKNOWN_PRICE_USD",
        0.05,
        doc="what a request of unknown cost counts against a budget (never $0)",
    )
    keys_sync_s: float = setting(
        "FREEWAY_KEYS_SYNC_S", 0.25, doc="how often each edge looks for key changes"
    )
    jwt_jwks_url: str = setting(
        "FREEWAY_JWT_JWKS_URL", "", doc="accept bearer JWTs signed by this JWKS's keys"
    )
    jwt_issuer: str = setting("FREEWAY_JWT_ISSUER", "", doc="required `iss` of JWTs")
    jwt_audience: str = setting("FREEWAY_JWT_AUDIENCE", "", doc="required `aud` of JWTs")
    jwt_team_claim: str = setting("FREEWAY_JWT_TEAM_CLAIM", "team", doc="claim naming the team")
    jwt_role_claim: str = setting("FREEWAY_JWT_ROLE_CLAIM", "role", doc="claim naming the role")
    jwt_default_role: str = setting(
        "FREEWAY_JWT_DEFAULT_ROLE", "member", doc="role of a JWT without the role claim"
    )
    completion_timeout_s: float = setting(
        "FREEWAY_EDGE_COMPLETION_TIMEOUT_S",
        300.0,
        doc="deadline of Complete / CompleteStream calls to the router",
    )
    router_streams: int = setting(
        "FREEWAY_EDGE_ROUTER_STREAMS",
        2,
        doc="RouterService.Exchange streams that carry the chat calls (0: one unary call each)",
    )
    rpc_timeout_s: float = setting(
        "FREEWAY_EDGE_RPC_TIMEOUT_S", 10.0, doc="deadline of Route, ListModels, GetModel"
    )
    health_timeout_s: float = setting(
        "FREEWAY_EDGE_HEALTH_TIMEOUT_S", 1.0, doc="deadline of the health checks of /healthz"
    )
    max_body_bytes: int = setting(
        "FREEWAY_EDGE_MAX_BODY_BYTES", 4 * 1024 * 1024, doc="larger request bodies get 413"
    )
    shutdown_grace_s: float = setting(
        "FREEWAY_EDGE_SHUTDOWN_GRACE_S", 10.0, doc="how long in-flight requests may finish"
    )

    ws_queue: int = setting(
        "FREEWAY_WS_QUEUE",
        256,
        doc="events a WebSocket client may leave unread before it is closed (4008)",
    )
    ws_heartbeat_s: float = setting(
        "FREEWAY_WS_HEARTBEAT_S", 20.0, doc="WebSocket ping interval (a lost pong closes)"
    )
    ws_auth_timeout_s: float = setting(
        "FREEWAY_WS_AUTH_TIMEOUT_S", 5.0, doc="how long a WebSocket may wait to send its key"
    )
    live_poll_s: float = setting(
        "FREEWAY_LIVE_POLL_S",
        3.0,
        doc="how often the `providers` topic polls catalog and router (only changes are sent)",
    )

    def __post_init__(self) -> None:
        if self.admin_key and not self.admin_key.startswith(HASH_PREFIX):
            object.__setattr__(self, "admin_key", key_digest(self.admin_key))
        for name in ("rpm", "rpd", "tpm", "concurrent"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{_env(name)}: expected ≥ 0, got {getattr(self, name)}")
        if self.unknown_price not in UNKNOWN_PRICE_POLICIES:
            raise ConfigError(
                "FREEWAY_BUDGET_UNKNOWN_PRICE: expected refuse or ceiling,"
                f" got {self.unknown_price!r}"
            )
        for name in ("budget_reserve_usd", "unknown_price_usd"):
            if not 0 < getattr(self, name) <= 1000:
                raise ConfigError(
                    f"{_env(name)}: expected a positive USD amount ≤ 1000,"
                    f" got {getattr(self, name)}"
                )
        if self.jwt_default_role not in ROLES:
            raise ConfigError(
                f"FREEWAY_JWT_DEFAULT_ROLE: expected one of {', '.join(ROLES)}, "
                f"got {self.jwt_default_role!r}"
            )
        if self.jwt_jwks_url and not self.jwt_jwks_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"FREEWAY_JWT_JWKS_URL: expected http(s)://…, got {self.jwt_jwks_url!r}"
            )
        if self.ws_queue < 1:
            raise ConfigError(f"FREEWAY_WS_QUEUE: expected ≥ 1, got {self.ws_queue}")
        if self.max_body_bytes < 1024:
            raise ConfigError(
                f"FREEWAY_EDGE_MAX_BODY_BYTES: expected ≥ 1024, got {self.max_body_bytes}"
            )
        for name in (
            "completion_timeout_s",
            "rpc_timeout_s",
            "health_timeout_s",
            "shutdown_grace_s",
            "keys_sync_s",
            "ws_heartbeat_s",
            "ws_auth_timeout_s",
            "live_poll_s",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"{_env(name)}: expected a positive number, got {getattr(self, name)}"
                )

    @property
    def default_limits(self) -> Limits:
        return Limits(self.rpm, self.rpd, self.tpm, self.concurrent)


def _env(name: str) -> str:
    return str(next(f for f in dataclasses.fields(EdgeSettings) if f.name == name).metadata["env"])


def edge_settings(
    env: Mapping[str, str] | None = None, file_data: Mapping[str, Any] | None = None
) -> EdgeSettings:
    """Load `[edge]` (env > file > defaults), failing fast with the key's name."""
    return load(EdgeSettings, "edge", env, file_data)
