"""Provider keys never leave Freeway: every configured key is masked out of text that came
from outside (a provider's error body, an HTTP client's error) before Freeway logs, stores
or returns it.

A provider may echo the key it was sent ("Incorrect API key provided: sk-…"). The places
where provider text enters are few — the router's failed upstream calls, the catalog's
failed polls — and they pass it through `redact`; every log line is redacted as it is
formatted, whatever it quotes. The redactor is process-wide, like logging: each service
adds the keys of the providers it loaded (`protect_providers`) when it is built.

Keys shorter than MIN_SECRET characters are not masked (masking "abc" everywhere would
mangle text); a warning says so. Besides the key itself, its URL-encoded and JSON-escaped
forms are masked.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

from services.shared.providers import ProviderConfig

MASK = "[redacted]"
MIN_SECRET = 8
_CREDENTIAL_HEADER = re.compile(r"authorization|key|token|secret", re.IGNORECASE)

log = logging.getLogger("freeway.redact")


class Redactor:
    """Masks every known secret (and its encoded forms) in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        fresh = {s for s in secrets if s} - self._secrets
        for secret in sorted(fresh):
            if len(secret) < MIN_SECRET:
                log.warning(
                    "a provider key of %d characters is too short to be masked in logs", len(secret)
                )
        self._secrets |= {s for s in fresh if len(s) >= MIN_SECRET}
        forms = {form for s in self._secrets for form in _forms(s)}
        # Longest first, so a key that contains another is masked whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __len__(self) -> int:
        return len(self._secrets)


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}


def provider_secrets(providers: Sequence[ProviderConfig], env: Mapping[str, str]) -> set[str]:
    """Every configured provider's key, and the values of credential-like extra headers."""
    secrets: set[str] = set()
    for provider in providers:
        key = provider.api_key(env)
        if key:
            secrets.add(key)
        for name, value in provider.headers.items():
            if _CREDENTIAL_HEADER.search(name):
                secrets.add(value.removeprefix("Bearer ").strip())
    return secrets


_PROCESS = Redactor()


def redact(text: str) -> str:
    """`text` with every key this process knows masked."""
    return _PROCESS(text)


def protect_providers(providers: Sequence[ProviderConfig], env: Mapping[str, str]) -> None:
    """Add these providers' keys to what this process masks."""
    _PROCESS.add(provider_secrets(providers, env))
