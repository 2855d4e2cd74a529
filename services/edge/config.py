"""The edge's settings: one frozen object, read once at start (STYLE.md §7).

Where the edge listens and where router / catalog / Redis are come from the suite settings
(`SuiteSettings`); this section holds what only the edge cares about. The admin key is
hashed as it is loaded: only its SHA-256 digest is ever kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.shared.config import ConfigError, load, setting

HASH_PREFIX = "sha256:"


@dataclass(frozen=True)
class EdgeSettings:
    """`[edge]` in freeway.toml, or the FREEWAY_EDGE_* env vars (and FREEWAY_ADMIN_KEY)."""

    admin_key: str = setting(
        "FREEWAY_ADMIN_KEY",
        "",
        doc="accepted as an admin API key; kept only as 'sha256:<hex>' (a digest is accepted too)",
    )
    rpm: int = setting(
        "FREEWAY_EDGE_RPM", 600, doc="requests per minute per API key (0: unlimited)"
    )
    completion_timeout_s: float = setting(
        "FREEWAY_EDGE_COMPLETION_TIMEOUT_S",
        300.0,
        doc="deadline of Complete / CompleteStream calls to the router",
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

    def __post_init__(self) -> None:
        if self.admin_key and not self.admin_key.startswith(HASH_PREFIX):
            object.__setattr__(self, "admin_key", key_digest(self.admin_key))
        if self.rpm < 0:
            raise ConfigError(f"FREEWAY_EDGE_RPM: expected ≥ 0, got {self.rpm}")
        if self.max_body_bytes < 1024:
            raise ConfigError(
                f"FREEWAY_EDGE_MAX_BODY_BYTES: expected ≥ 1024, got {self.max_body_bytes}"
            )
        for name in (
            "completion_timeout_s",
            "rpc_timeout_s",
            "health_timeout_s",
            "shutdown_grace_s",
        ):
            if getattr(self, name) <= 0:
                env = f"FREEWAY_EDGE_{name.upper()}"
                raise ConfigError(f"{env}: expected a positive number, got {getattr(self, name)}")


def key_digest(key: str) -> str:
    """How an API key is stored: 'sha256:' + the hex SHA-256 of the key."""
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def edge_settings(
    env: Mapping[str, str] | None = None, file_data: Mapping[str, Any] | None = None
) -> EdgeSettings:
    """Load `[edge]` (env > file > defaults), failing fast with the key's name."""
    return load(EdgeSettings, "edge", env, file_data)
