"""API keys: who is calling. Keys are known only by their SHA-256 digests; the clear key
never leaves the request header it came in.

The keyring holds every usable key in memory (a dict by digest: one hash and one lookup
per request, nothing awaited), replaced whole whenever the key store changes (see
`keysync`). With `FREEWAY_JWT_JWKS_URL` set, a bearer token that is not a known key but a
JWT is verified against the issuer's keys instead (see `jwt_auth`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from services.edge.accounts import HASH_PREFIX, ApiKey, Budgets, Limits, Scopes, Team
from services.shared.errors import Unauthenticated

ADMIN_KEY_ID = "admin"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the key id (never the key), its team and role, what it may
    use, and its limits (the gateway's defaults filled in) and budgets; `team` carries the
    team's own limits and budgets."""

    key_id: str
    role: str = "member"
    team_id: str = ""
    scopes: Scopes = field(default_factory=Scopes)
    limits: Limits = field(default_factory=Limits)
    budgets: Budgets = field(default_factory=Budgets)
    team: Team | None = None

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    @property
    def sees_all_usage(self) -> bool:
        """Admins and viewers read everyone's usage; a member only its own key's."""
        return self.role in ("admin", "viewer")


ADMIN = Caller(ADMIN_KEY_ID, role="admin")


class TokenVerifier(Protocol):
    async def identify(self, token: str) -> Caller: ...


class Keyring:
    """The keys the edge accepts, by digest: the admin key of the settings, and the key
    store's keys (`load`). Expiry is checked on every use; revocation by the next `load`."""

    def __init__(self, admin_digest: str = "", keys: Mapping[str, str] | None = None) -> None:
        self._admin = _raw(admin_digest) if admin_digest else b""
        self._admin_caller = ADMIN
        # Keys given here (tests, tools) stay accepted whatever the store says.
        self._static = {_raw(digest): key_id for digest, key_id in (keys or {}).items()}
        self._keys: dict[bytes, tuple[float | None, Caller]] = {}
        self.teams: dict[str, Team] = {}
        self.load((), (), Limits())

    def load(self, keys: Iterable[ApiKey], teams: Iterable[Team], defaults: Limits) -> None:
        """Accept exactly these keys from now on (revoked and expired ones are left out);
        `defaults` are the limits of keys that set none (the admin key's too)."""
        now = time.time()
        by_id = {t.id: t for t in teams}
        accepted: dict[bytes, tuple[float | None, Caller]] = {
            digest: (None, Caller(key_id, limits=defaults))
            for digest, key_id in self._static.items()
        }
        for k in keys:
            if k.usable(now):
                accepted[_raw(k.digest)] = (k.expires_at, caller(k, by_id.get(k.team_id), defaults))
        self._keys, self.teams = accepted, by_id
        self._admin_caller = Caller(ADMIN_KEY_ID, role="admin", limits=defaults)

    def lookup(self, token: str) -> Caller | None:
        """The caller whose key is `token`, or None."""
        digest = hashlib.sha256(token.encode()).digest()
        if self._admin and hmac.compare_digest(digest, self._admin):
            return self._admin_caller
        # A dict lookup by digest: the time it takes says nothing about the key itself.
        found = self._keys.get(digest)
        if found is None:
            return None
        expires_at, known = found
        if expires_at is not None and time.time() >= expires_at:
            return None
        return known

    def identify(self, authorization: str | None) -> Caller:
        """The caller behind an `Authorization: Bearer <key>` header, or Unauthenticated."""
        known = self.lookup(bearer_token(authorization))
        if known is None:
            raise Unauthenticated("Incorrect API key provided.")
        return known

    def __len__(self) -> int:
        return len(self._keys)


class Authenticator:
    """Keys first (the hot path), then, when configured, bearer JWTs."""

    def __init__(self, keyring: Keyring, jwt: TokenVerifier | None = None) -> None:
        self.keyring = keyring
        self.jwt = jwt

    async def identify(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        known = self.keyring.lookup(token)
        if known is not None:
            return known
        if self.jwt is not None and token.count(".") == 2:
            return await self.jwt.identify(token)
        raise Unauthenticated("Incorrect API key provided.")


def caller(key: ApiKey, team: Team | None, defaults: Limits) -> Caller:
    return Caller(
        key_id=key.id,
        role=key.role,
        team_id=key.team_id,
        scopes=key.scopes,
        limits=key.limits.resolved(defaults),
        budgets=key.budgets,
        team=team,
    )


def _raw(digest: str) -> bytes:
    return bytes.fromhex(digest.removeprefix(HASH_PREFIX))


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    # Bytes that are not UTF-8 arrive as lone surrogates: no key is made of them.
    if scheme.lower() != "bearer" or not token or not token.isprintable():
        raise Unauthenticated("Expected 'Authorization: Bearer <key>'.")
    return token
