"""Bearer JWTs from an OIDC issuer (`FREEWAY_JWT_JWKS_URL`): verified with PyJWT against the
issuer's public keys (RS*/PS*/ES* only: never `none` or a shared secret), with `exp`
required and `iss` / `aud` checked when configured. Claims map to the caller: `sub` is the
key id ("jwt:<sub>"), `FREEWAY_JWT_TEAM_CLAIM` the team (whose limits and budgets apply),
`FREEWAY_JWT_ROLE_CLAIM` the role (a string, or a list: its highest known role).

The JWKS is fetched at start and again when a token names a key id it does not hold (at
most every `MIN_REFRESH_S`), so the issuer's key rotation needs no restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
from aiohttp import web

from services.edge.accounts import DEFAULT_TEAM, ROLES, Budgets, Scopes
from services.edge.auth import Caller, Keyring
from services.edge.config import EdgeSettings
from services.shared.errors import PermissionDenied, Unauthenticated

log = logging.getLogger("freeway.edge")

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MIN_REFRESH_S = 10.0
FETCH_TIMEOUT_S = 5.0
LEEWAY_S = 30
MAX_ID = 128


class JwtVerifier:
    def __init__(self, settings: EdgeSettings, keyring: Keyring) -> None:
        self.settings = settings
        self.keyring = keyring
        self.keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: an HTTP session for the JWKS, and a first fetch (not fatal)."""
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
        self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            await self.refresh()
        except Unauthenticated as exc:
            log.warning("%s; retrying when a token arrives", exc)
        yield
        await self._session.close()

    async def refresh(self) -> None:
        """Fetch the JWKS (once at a time; not again within MIN_REFRESH_S)."""
        async with self._lock:
            if time.monotonic() - self._fetched_at < MIN_REFRESH_S and self.keys:
                return
            self._fetched_at = time.monotonic()
            self.keys = await self._fetch()
            log.info("JWKS: %d keys from %s", len(self.keys), self.settings.jwt_jwks_url)

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        assert self._session is not None, "JwtVerifier used outside its app"
        url = self.settings.jwt_jwks_url
        try:
            async with self._session.get(url) as resp:
                resp.raise_for_status()
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise Unauthenticated(f"cannot read the JWKS at {url}: {exc}") from None
        found: dict[str, jwt.PyJWK] = {}
        for i, entry in enumerate(data.get("keys", []) if isinstance(data, dict) else []):
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError as exc:
                log.warning("JWKS key %d skipped: %s", i, exc)
                continue
            if key.algorithm_name in ALGORITHMS:
                found[str(entry.get("kid", ""))] = key
        return found

    async def _key(self, kid: str) -> jwt.PyJWK:
        if kid not in self.keys:
            await self.refresh()
        key = self.keys.get(kid)
        if key is None and not kid and len(self.keys) == 1:
            key = next(iter(self.keys.values()))
        if key is None:
            raise Unauthenticated(f"the token's signing key {kid!r} is not in the issuer's JWKS")
        return key

    async def identify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("Incorrect API key provided.") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthenticated(f"JWT algorithm {alg!r} is not accepted")
        key = await self._key(str(header.get("kid", "")))
        if key.algorithm_name != alg:
            raise Unauthenticated(f"JWT algorithm {alg!r} does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.settings.jwt_audience or None,
                issuer=self.settings.jwt_issuer or None,
                leeway=LEEWAY_S,
                options={"require": ["exp", "sub"], "verify_aud": bool(self.settings.jwt_audience)},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid JWT: {exc}") from None
        return self.caller(claims)

    def caller(self, claims: dict[str, Any]) -> Caller:
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub or len(sub) > MAX_ID:
            raise Unauthenticated(f"JWT claim sub: expected text of 1 to {MAX_ID} characters")
        team = claims.get(self.settings.jwt_team_claim, DEFAULT_TEAM)
        if not isinstance(team, str) or not team or len(team) > MAX_ID:
            raise Unauthenticated(f"JWT claim {self.settings.jwt_team_claim}: expected a team name")
        role = _role(claims.get(self.settings.jwt_role_claim), self.settings)
        return Caller(
            key_id=f"jwt:{sub}",
            role=role,
            team_id=team,
            scopes=Scopes(),
            limits=self.settings.default_limits,
            budgets=Budgets(),
            team=self.keyring.teams.get(team),
        )


def _role(value: Any, settings: EdgeSettings) -> str:
    if value is None:
        return settings.jwt_default_role
    listed = value if isinstance(value, list) else [value]
    known = [r for r in ROLES if r in listed]  # ROLES goes from most to least powerful
    if not known:
        raise PermissionDenied(
            f"JWT claim {settings.jwt_role_claim}: none of {listed!r} is a role"
            f" ({', '.join(ROLES)})",
            code="insufficient_permissions",
        )
    return known[0]
