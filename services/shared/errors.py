"""Typed domain errors. Domains raise these; each boundary translates them once
(gRPC status in the server interceptor, HTTP status + OpenAI error JSON in the edge)."""

from __future__ import annotations


class FreewayError(Exception):
    """Base error. `status` names the gRPC status code it maps to."""

    status = "INTERNAL"

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class InvalidArgument(FreewayError):
    status = "INVALID_ARGUMENT"


class NotFound(FreewayError):
    status = "NOT_FOUND"


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
