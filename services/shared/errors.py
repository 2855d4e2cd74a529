"""Typed domain errors. Domains raise these; each boundary translates them once
(gRPC status in the server interceptor, HTTP status + OpenAI error JSON in the edge).

Beside its message, an error may name the request `field` at fault (OpenAI's `param`),
an OpenAI error `code` a client can act on (`context_length_exceeded`, …) and, for
"not now" errors, `retry_after_s`. Over gRPC they travel as trailing metadata (see
`TRAILERS`), so the edge rebuilds the same answer whichever service raised it.
"""

from __future__ import annotations

# Trailing-metadata keys that carry an error's details across gRPC. The field is a
# binary (`-bin`) entry: it names what the client sent, which may be any text at all,
# and ASCII metadata would refuse the whole answer over one control character.
FIELD_TRAILER = "freeway-param-bin"
CODE_TRAILER = "freeway-code"
RETRY_AFTER_TRAILER = "retry-after"
# On a multiplexed call (RouterService.Exchange): refused before it started, safe to resend.
NOT_STARTED_TRAILER = "freeway-not-started"
# The router's initial metadata on an Exchange stream: it got through (no call started before).
EXCHANGE_MARK = "freeway-exchange"
TRAILERS = (FIELD_TRAILER, CODE_TRAILER, RETRY_AFTER_TRAILER)


class FreewayError(Exception):
    """Base error. `status` names the gRPC status code it maps to."""

    status = "INTERNAL"
    code: str | None = None  # the OpenAI error code; None: the status's default

    def __init__(
        self,
        message: str,
        *,
        field: str = "",
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        if code is not None:
            self.code = code
        self.retry_after_s = retry_after_s

    def trailers(self) -> list[tuple[str, str | bytes]]:
        """The details as gRPC trailing metadata."""
        out: list[tuple[str, str | bytes]] = []
        if self.field:
            out.append((FIELD_TRAILER, self.field.encode("utf-8", "replace")))
        if self.code:
            out.append((CODE_TRAILER, self.code))
        if self.retry_after_s is not None:
            out.append((RETRY_AFTER_TRAILER, str(max(1, -int(-self.retry_after_s // 1)))))
        return out


class InvalidArgument(FreewayError):
    status = "INVALID_ARGUMENT"


class Unsupported(InvalidArgument):
    """A valid OpenAI parameter whose answer Freeway cannot give: refused, never dropped."""

    code = "unsupported_parameter"


class NotFound(FreewayError):
    status = "NOT_FOUND"


class AlreadyExists(FreewayError):
    status = "ALREADY_EXISTS"


class FailedPrecondition(FreewayError):
    status = "FAILED_PRECONDITION"


class ResourceExhausted(FreewayError):
    status = "RESOURCE_EXHAUSTED"


class Unavailable(FreewayError):
    status = "UNAVAILABLE"


class DeadlineExceeded(FreewayError):
    status = "DEADLINE_EXCEEDED"


class Unauthenticated(FreewayError):
    status = "UNAUTHENTICATED"


class PermissionDenied(FreewayError):
    status = "PERMISSION_DENIED"
