"""Retry classification: which provider failures move on to the next candidate."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from services.router.failures import Kind, error_message, from_status, parse_retry_after

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "unhealthy"),
    [
        (429, Kind.RATE_LIMITED, True, False),
        (500, Kind.SERVER, True, True),
        (502, Kind.SERVER, True, True),
        (503, Kind.SERVER, True, True),
        (408, Kind.TIMEOUT, True, True),
        (401, Kind.REFUSED, True, True),
        (403, Kind.REFUSED, True, True),
        (404, Kind.REFUSED, True, True),
        (400, Kind.UNSUITABLE, True, False),
        (422, Kind.UNSUITABLE, True, False),
        (413, Kind.UNSUITABLE, True, False),
        (302, Kind.REFUSED, True, True),
    ],
)
def test_status_classification(status: int, kind: Kind, retryable: bool, unhealthy: bool) -> None:
    failure = from_status(status, "", None, NOW)
    assert (failure.kind, failure.retryable, failure.unhealthy) == (kind, retryable, unhealthy)
    assert failure.status == status


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, '{"error": {"message": "The model `x` has been decommissioned"}}', Kind.GONE),
        (404, '{"error": {"message": "No endpoints found for qwen/x:free."}}', Kind.GONE),
        (400, '{"error": {"message": "model_not_found: The model does not exist"}}', Kind.GONE),
        (400, '{"error": {"message": "`seed` is not supported with this model"}}', Kind.UNSUITABLE),
        (400, '{"error": {"message": "maximum context length is 8192 tokens"}}', Kind.UNSUITABLE),
        (400, '{"error": {"message": "Failed to download image from https://x"}}', Kind.REJECTED),
        (400, '{"error": {"message": "Invalid base64 image data"}}', Kind.REJECTED),
    ],
)
def test_4xx_bodies_say_whose_fault_it_is(status: int, body: str, kind: Kind) -> None:
    failure = from_status(status, body, None, NOW)
    assert failure.kind is kind
    assert failure.retryable is (kind is not Kind.REJECTED)
    assert failure.unhealthy is (kind is Kind.GONE)


def test_429_carries_retry_after_seconds() -> None:
    failure = from_status(429, '{"error": {"message": "slow down"}}', "17", NOW)
    assert failure.retry_after == 17.0
    assert failure.message == "slow down"
    assert "HTTP 429" in str(failure)


def test_retry_after_only_read_for_429() -> None:
    assert from_status(503, "", "30", NOW).retry_after is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        (formatdate(NOW + 100, usegmt=True), 100.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"error": {"message": "bad model", "type": "invalid_request_error"}}', "bad model"),
        ('{"error": "quota exceeded"}', "quota exceeded"),
        ('{"detail": "Not Found"}', "Not Found"),
        ('{"message": "upstream down"}', "upstream down"),
        ("<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        ("", "(empty body)"),
    ],
)
def test_error_message_extracts_the_providers_words(body: str, message: str) -> None:
    assert error_message(body) == message
