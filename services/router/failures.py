"""What went wrong with one provider call, and whether the next candidate should be tried.

Retryable (move to the next candidate): connect errors, timeouts, 429, 5xx, malformed
replies, and the provider refusing us rather than the request (401/402/403: our key or
account; 404: the model is gone). Other 4xx reject the request itself: no other model would
accept it either, so the caller gets INVALID_ARGUMENT with the provider's message.
"""

from __future__ import annotations

import enum
import json
import math
from email.utils import parsedate_to_datetime

from services.shared.redact import redact


class Kind(enum.StrEnum):
    CONNECT = "connect error"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate limited"
    SERVER = "server error"
    MALFORMED = "malformed reply"
    REFUSED = "provider refused"  # 401 / 402 / 403 / 404 / 3xx
    REJECTED = "request rejected"  # other 4xx


_UNHEALTHY = frozenset({Kind.CONNECT, Kind.TIMEOUT, Kind.SERVER, Kind.MALFORMED, Kind.REFUSED})


class UpstreamFailure(Exception):
    """One failed attempt at one model."""

    def __init__(
        self, kind: Kind, message: str, *, status: int = 0, retry_after: float | None = None
    ) -> None:
        message = redact(message)  # the provider's words may echo the key it was sent
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind is not Kind.REJECTED

    @property
    def unhealthy(self) -> bool:
        """Whether it counts towards opening the model's breaker (a 429 does not: it holds)."""
        return self.kind in _UNHEALTHY

    def __str__(self) -> str:
        status = f"HTTP {self.status} " if self.status else ""
        return f"{status}{self.kind}: {self.message}"


def kind_of_status(status: int) -> Kind:
    """The failure kind of a non-2xx HTTP status."""
    if status < 400:
        return Kind.REFUSED  # a redirect: the provider's URL in the providers file is stale
    if status == 429:
        return Kind.RATE_LIMITED
    if status == 408:
        return Kind.TIMEOUT
    if status >= 500:
        return Kind.SERVER
    if status in (401, 402, 403, 404):
        return Kind.REFUSED
    return Kind.REJECTED


def from_status(status: int, body: str, retry_after: str | None, now: float) -> UpstreamFailure:
    """The failure for an HTTP error reply; `now` is epoch seconds (for HTTP-date Retry-After)."""
    kind = kind_of_status(status)
    hold = parse_retry_after(retry_after, now) if kind is Kind.RATE_LIMITED else None
    return UpstreamFailure(kind, error_message(body), status=status, retry_after=hold)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def error_message(body: str, limit: int = 300) -> str:
    """The provider's own message from an error body (`{"error": {"message": ...}}` or text)."""
    text = body.strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:limit] or "(empty body)"
    if isinstance(doc, dict):
        error = doc.get("error", doc)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("error")
            if isinstance(message, str) and message:
                return message[:limit]
        elif isinstance(error, str) and error:
            return error[:limit]
        if isinstance(doc.get("message"), str):
            return str(doc["message"])[:limit]
    return text[:limit]
