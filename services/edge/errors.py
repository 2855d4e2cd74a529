"""Failures as the OpenAI API shows them: an HTTP status and
`{"error": {"message", "type", "param", "code"}}`.

Every failure has a status name (a gRPC status code name: our own typed errors carry one,
and so does every error the router or catalog returns); this module is the one table from
that name to the HTTP answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace

import grpc

from services.shared.errors import TRAILERS, ResourceExhausted


@dataclass(frozen=True)
class HttpError:
    status: int
    type: str
    code: str | None


_BAD_REQUEST = HttpError(400, "invalid_request_error", "invalid_value")
_UPSTREAM = HttpError(502, "server_error", "upstream_error")

# gRPC status name → HTTP answer. Anything not listed is the router's or catalog's own
# failure: 502 "upstream error".
BY_STATUS: dict[str, HttpError] = {
    "INVALID_ARGUMENT": _BAD_REQUEST,
    "OUT_OF_RANGE": _BAD_REQUEST,
    "NOT_FOUND": HttpError(404, "invalid_request_error", "not_found"),
    "ALREADY_EXISTS": HttpError(409, "invalid_request_error", "conflict"),
    "UNAUTHENTICATED": HttpError(401, "invalid_request_error", "invalid_api_key"),
    "PERMISSION_DENIED": HttpError(403, "permission_error", "permission_denied"),
    "RESOURCE_EXHAUSTED": HttpError(429, "requests", "rate_limit_exceeded"),
    # "No model can serve this now" (e.g. an empty catalogue at start): a state of the
    # gateway that passes, so 503, which clients retry.
    "FAILED_PRECONDITION": HttpError(503, "server_error", "no_model_available"),
    "UNAVAILABLE": HttpError(503, "server_error", "service_unavailable"),
    "DEADLINE_EXCEEDED": HttpError(504, "server_error", "timeout"),
    "UNIMPLEMENTED": HttpError(501, "server_error", "not_implemented"),
}

# aiohttp's own HTTP errors (unknown route, wrong method, body too large, …).
BY_HTTP_STATUS: dict[int, HttpError] = {
    404: HttpError(404, "invalid_request_error", "unknown_url"),
    405: HttpError(405, "invalid_request_error", "method_not_allowed"),
    413: HttpError(413, "invalid_request_error", "request_too_large"),
}

INTERNAL = HttpError(500, "server_error", "internal_error")


# OpenAI error codes whose `type` is not the status's default.
TYPE_BY_CODE: dict[str, str] = {"insufficient_quota": "insufficient_quota"}


def for_status(name: str, code: str | None = None) -> HttpError:
    """The HTTP answer for a gRPC status name, with the error's own code when it has one."""
    error = BY_STATUS.get(name, _UPSTREAM)
    if code:
        error = replace(error, code=code, type=TYPE_BY_CODE.get(code, error.type))
    return error


def trailers(exc: grpc.aio.AioRpcError) -> dict[str, str]:
    """The error details a Freeway service sent in trailing metadata (see shared.errors)."""
    return _pick(exc.trailing_metadata())


def _pick(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in metadata or ():
        if name in TRAILERS:
            found[name] = value if isinstance(value, str) else value.decode(errors="replace")
    return found


# A sibling service answering UNAUTHENTICATED refused the *edge's* service credential (the
# client's key was checked here already): the gateway's fault, never the client's 401.
CREDENTIAL_REFUSED = HttpError(502, "server_error", "service_credential_refused")


def for_rpc(name: str, code: str | None = None) -> HttpError:
    """The HTTP answer for a sibling service's gRPC error."""
    return CREDENTIAL_REFUSED if name == "UNAUTHENTICATED" else for_status(name, code)


def for_http_status(status: int) -> HttpError:
    return BY_HTTP_STATUS.get(status) or HttpError(
        status, "invalid_request_error" if status < 500 else "server_error", None
    )


def error_body(error: HttpError, message: str, param: str | None = None) -> bytes:
    """The OpenAI error JSON."""
    payload = {"message": message, "type": error.type, "param": param, "code": error.code}
    return json.dumps({"error": payload}, separators=(",", ":")).encode()


class RateLimited(ResourceExhausted):
    """A key went over its limit; `retry_after_s` is when the window resets."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, code="rate_limit_exceeded", retry_after_s=retry_after_s)
