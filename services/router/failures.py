"""What went wrong with one provider call, and whether the next candidate should be tried.

Retryable (move to the next candidate): connect errors, timeouts, 429, 5xx, malformed
replies, and the provider refusing us rather than the request (401/402/403: our key or
account; 404: the model is gone). A 400 or 422 is read for what it says: the model cannot
serve this request (decommissioned, a parameter or content it does not take, a context too
small) moves on — counting against the model's health when the model itself is gone — and
only a rejection that names the request itself (an image that cannot be fetched, …) goes
back to the caller at once. Freeway has already validated the request against OpenAI's
API, so an unexplained 400 is taken as the model's, not the request's: the next candidate
is tried, and when every one of them rejected the request, the caller gets their message.
"""

from __future__ import annotations

import enum
import json
import math
import re
from email.utils import parsedate_to_datetime

from services.shared.redact import redact


class Kind(enum.StrEnum):
    CONNECT = "connect error"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate limited"
    SERVER = "server error"
    MALFORMED = "malformed reply"
    REFUSED = "provider refused"  # 401 / 402 / 403 / 404 / 3xx
    GONE = "model gone"  # a 4xx saying the model is decommissioned or unknown
    UNSUITABLE = "model cannot serve this request"  # other 4xx: parameter, content, context
    REJECTED = "request rejected"  # a 4xx naming the request itself: no model would take it
    POOR_ANSWER = "poor answer"  # answered, but failed the cascade's check: ask the next


_UNHEALTHY = frozenset(
    {Kind.CONNECT, Kind.TIMEOUT, Kind.SERVER, Kind.MALFORMED, Kind.REFUSED, Kind.GONE}
)
# What providers say in a 4xx (see data/chat: Groq, Mistral, OpenRouter, HuggingFace, …).
_GONE = re.compile(
    r"decommission|deprecated|no longer (available|supported)|model[^.]{0,40}(not found|"
    r"does not exist|not exist|unknown|invalid|not available)|(unknown|invalid) model|"
    r"no endpoints found|model_not_found|not a valid model",
    re.IGNORECASE,
)
_REQUEST_FAULT = re.compile(
    r"(failed|unable|could not|cannot) (to )?(download|fetch|retrieve|load)|invalid base64|"
    r"invalid image data|image url is (invalid|not accessible)",
    re.IGNORECASE,
)


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
    def escalation(self) -> bool:
        """The model answered, but the answer failed a check (cascade)."""
        return self.kind is Kind.POOR_ANSWER

    @property
    def rejection(self) -> bool:
        """A 4xx about this request (the caller's to see if no other model takes it)."""
        return self.kind in (Kind.UNSUITABLE, Kind.REJECTED)

    @property
    def unhealthy(self) -> bool:
        """Whether it counts towards opening the model's breaker (a 429 does not: it holds)."""
        return self.kind in _UNHEALTHY

    def __str__(self) -> str:
        status = f"HTTP {self.status} " if self.status else ""
        return f"{status}{self.kind}: {self.message}"


def kind_of_status(status: int, message: str = "") -> Kind:
    """The failure kind of a non-2xx HTTP status (and, for a 4xx, what its body says)."""
    if status < 400:
        return Kind.REFUSED  # a redirect: the provider's URL in the providers file is stale
    if status == 429:
        return Kind.RATE_LIMITED
    if status == 408:
        return Kind.TIMEOUT
    if status >= 500:
        return Kind.SERVER
    if _GONE.search(message):
        return Kind.GONE
    if status in (401, 402, 403, 404):
        return Kind.REFUSED
    if _REQUEST_FAULT.search(message):
        return Kind.REJECTED
    return Kind.UNSUITABLE


def from_status(status: int, body: str, retry_after: str | None, now: float) -> UpstreamFailure:
    """The failure for an HTTP error reply; `now` is epoch seconds (for HTTP-date Retry-After)."""
    message = error_message(body)
    kind = kind_of_status(status, message)
    hold = parse_retry_after(retry_after, now) if kind is Kind.RATE_LIMITED else None
    return UpstreamFailure(kind, message, status=status, retry_after=hold)


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
