"""Who may call, and how much: API keys, teams, roles, scopes, limits and budgets.

Plain data and validation (no I/O): the key store persists these records, the admin API
and `freeway keys` build them from JSON / flags, the edge's admission reads them.
Every value from outside is validated here, and an error names its field.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.shared.errors import InvalidArgument
from services.shared.vocabulary import STRATEGY_BY_NAME

ROLES = ("admin", "member", "viewer")
DEFAULT_TEAM = "default"
KEY_PREFIX = "fwk-"
HASH_PREFIX = "sha256:"
SHOWN_CHARS = 12  # of a key, shown after creation: "fwk-" and 8 random characters
MAX_USD = 1_000_000.0  # per period: nano-USD counters stay exact (below 2**53)
NANO = 1_000_000_000
MAX_NAME = 200
MAX_LIST = 1_000


@dataclass(frozen=True)
class Limits:
    """Per minute / day request counts, tokens per minute, requests in flight. None: the
    gateway's default for keys (`FREEWAY_KEY_DEFAULT_*`); 0: unlimited."""

    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    concurrent: int | None = None

    def resolved(self, defaults: Limits) -> Limits:
        return Limits(
            *(
                mine if mine is not None else theirs
                for mine, theirs in zip(self.values(), defaults.values(), strict=True)
            )
        )

    def values(self) -> tuple[int | None, ...]:
        return (self.rpm, self.rpd, self.tpm, self.concurrent)

    def to_json(self) -> dict[str, int | None]:
        return {"rpm": self.rpm, "rpd": self.rpd, "tpm": self.tpm, "concurrent": self.concurrent}


@dataclass(frozen=True)
class Budgets:
    """USD per UTC day / month (None: no budget), and what to reserve per request while its
    cost is not known yet (None: the gateway's `FREEWAY_BUDGET_RESERVE_USD`)."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    reserve_usd: float | None = None

    @property
    def any(self) -> bool:
        return self.daily_usd is not None or self.monthly_usd is not None

    def to_json(self) -> dict[str, float | None]:
        return {
            "daily_usd": self.daily_usd,
            "monthly_usd": self.monthly_usd,
            "reserve_usd": self.reserve_usd,
        }


@dataclass(frozen=True)
class Scopes:
    """What a key may use: models and providers (empty: all; else the union of both lists),
    strategies (empty: all), and whether paid models are allowed at all."""

    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    paid: bool = True

    @property
    def allow(self) -> tuple[str, ...]:
        return self.models + self.providers

    def to_json(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "providers": list(self.providers),
            "strategies": list(self.strategies),
            "paid": self.paid,
        }


@dataclass(frozen=True)
class Team:
    id: str
    name: str = ""
    limits: Limits = field(default_factory=Limits)
    budgets: Budgets = field(default_factory=Budgets)
    created_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "limits": self.limits.to_json(),
            "budgets": self.budgets.to_json(),
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: its digest, never the key; `prefix` is what is shown of it."""

    id: str
    prefix: str
    digest: str
    name: str = ""
    team_id: str = DEFAULT_TEAM
    role: str = "member"
    scopes: Scopes = field(default_factory=Scopes)
    limits: Limits = field(default_factory=Limits)
    budgets: Budgets = field(default_factory=Budgets)
    created_at: float = 0.0
    created_by: str = ""
    expires_at: float | None = None
    revoked_at: float | None = None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def to_json(self) -> dict[str, Any]:
        """What the admin API shows: everything but the digest."""
        return {
            "id": self.id,
            "prefix": self.prefix,
            "name": self.name,
            "team": self.team_id,
            "role": self.role,
            "scopes": self.scopes.to_json(),
            "limits": self.limits.to_json(),
            "budgets": self.budgets.to_json(),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


def new_secret() -> str:
    """A fresh API key: 'fwk-' and 40 URL-safe characters (240 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(30)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def key_digest(key: str) -> str:
    """How a key is stored: 'sha256:' + the hex SHA-256 of the key. Keys are 240 random
    bits, so a slow password KDF would add nothing but milliseconds to every request."""
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def to_nano(usd: float) -> int:
    return round(usd * NANO)


# ---------------------------------------------------------------- validation of JSON input


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgument("expected a JSON object", field=name)
    return value


def _known(data: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in known:
            raise InvalidArgument(
                f"unknown field (known: {', '.join(known)})", field=f"{where}{key}"
            )


def text(value: Any, name: str, default: str = "", max_len: int = MAX_NAME) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > max_len or not value.isprintable():
        raise InvalidArgument(
            f"expected printable text of at most {max_len} characters", field=name
        )
    return value


def identifier(value: Any, name: str, default: str) -> str:
    ident = text(value, name, default, 64)
    if not ident or not all(c.isalnum() or c in "-_." for c in ident):
        raise InvalidArgument("expected letters, digits, '-', '_' or '.'", field=name)
    return ident


def role(value: Any, name: str = "role", default: str = "member") -> str:
    found = text(value, name, default)
    if found not in ROLES:
        raise InvalidArgument(f"expected one of {', '.join(ROLES)}, got {found!r}", field=name)
    return found


def count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
        raise InvalidArgument("expected an integer ≥ 0 (0: unlimited), or null", field=name)
    return value


def usd(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument("expected a number of USD, or null", field=name)
    amount = float(value)
    if not math.isfinite(amount) or not 0 <= amount <= MAX_USD:
        raise InvalidArgument(f"expected 0 to {MAX_USD:g} USD", field=name)
    return amount


def names(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise InvalidArgument(f"expected a list of at most {MAX_LIST} names", field=name)
    return tuple(text(v, f"{name}[{i}]") for i, v in enumerate(value))


def limits(value: Any, name: str = "limits", base: Limits | None = None) -> Limits:
    data = _object(value, name)
    fields = ("rpm", "rpd", "tpm", "concurrent")
    _known(data, fields, f"{name}.")
    base = base or Limits()
    return replace(base, **{k: count(data[k], f"{name}.{k}") for k in fields if k in data})


def budgets(value: Any, name: str = "budgets", base: Budgets | None = None) -> Budgets:
    data = _object(value, name)
    fields = ("daily_usd", "monthly_usd", "reserve_usd")
    _known(data, fields, f"{name}.")
    base = base or Budgets()
    return replace(base, **{k: usd(data[k], f"{name}.{k}") for k in fields if k in data})


def scopes(value: Any, name: str = "scopes", base: Scopes | None = None) -> Scopes:
    data = _object(value, name)
    _known(data, ("models", "providers", "strategies", "paid"), f"{name}.")
    base = base or Scopes()
    lists = {k: names(data.get(k), f"{name}.{k}") for k in ("models", "providers", "strategies")}
    found = Scopes(
        models=lists["models"] if "models" in data else base.models,
        providers=lists["providers"] if "providers" in data else base.providers,
        strategies=lists["strategies"] if "strategies" in data else base.strategies,
        paid=base.paid,
    )
    for i, strategy in enumerate(found.strategies):
        if strategy not in STRATEGY_BY_NAME:
            raise InvalidArgument(
                f"unknown strategy {strategy!r} (known: {', '.join(STRATEGY_BY_NAME)})",
                field=f"{name}.strategies[{i}]",
            )
    if "paid" in data:
        if not isinstance(data["paid"], bool):
            raise InvalidArgument("expected true or false", field=f"{name}.paid")
        found = replace(found, paid=data["paid"])
    return found


def timestamp(value: Any, name: str, now: float) -> float | None:
    """A Unix time in the future (seconds), or null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument("expected a Unix time in seconds, or null", field=name)
    if value <= now:
        raise InvalidArgument("must be in the future", field=name)
    return float(value)
