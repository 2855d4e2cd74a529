"""API keys: who is calling. Keys are known only by their SHA-256 digests, compared in
constant time; the clear key never leaves the request header it came in."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from services.edge.config import HASH_PREFIX
from services.shared.errors import Unauthenticated

ADMIN_KEY_ID = "admin"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the key id (never the key) and its role."""

    key_id: str
    admin: bool = False


ADMIN = Caller(ADMIN_KEY_ID, admin=True)


class Keyring:
    """The keys the edge accepts, known only by their digests ('sha256:<hex>'): the admin
    key, and callers' keys mapped to their key ids."""

    def __init__(self, admin_digest: str = "", keys: Mapping[str, str] | None = None) -> None:
        self._admin = _raw(admin_digest) if admin_digest else b""
        self._keys = {_raw(digest): Caller(key_id) for digest, key_id in (keys or {}).items()}

    def identify(self, authorization: str | None) -> Caller:
        """The caller behind an `Authorization: Bearer <key>` header, or Unauthenticated."""
        digest = hashlib.sha256(bearer_token(authorization).encode()).digest()
        if self._admin and hmac.compare_digest(digest, self._admin):
            return ADMIN
        # A dict lookup by digest: the time it takes says nothing about the key itself.
        caller = self._keys.get(digest)
        if caller is None:
            raise Unauthenticated("Incorrect API key provided.")
        return caller


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
