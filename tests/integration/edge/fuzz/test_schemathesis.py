"""schemathesis against the edge, from the OpenAPI document it serves: valid and invalid
requests for every operation. No answer is a 5xx, every 4xx/5xx is OpenAI's error shape,
and every answer is one the document describes (status, content type, schema)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.core.transport import Response

from services.edge import openapi
from services.edge.app import DESCRIBERS
from tests.integration.edge.conftest import AUTH
from tests.integration.edge.fuzz.conftest import ServedEdge, openai_error

pytestmark = pytest.mark.integration

# Per operation and generation mode; ~10 operations: a few hundred requests in all.
MAX_EXAMPLES = 40

# The document the edge serves (test_openapi.py checks that GET /openapi.json is this).
schema = schemathesis.openapi.from_dict(json.loads(openapi.build(DESCRIBERS)))
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)


def openai_error_shape(ctx: CheckContext, response: Response, case: Any) -> bool | None:
    """Every error answer is `{"error": {message, type, param, code}}` as JSON."""
    if response.status_code >= 400:
        headers = {k.lower(): v[0] for k, v in response.headers.items()}
        openai_error(response.status_code, headers, response.content)
    return None


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    openai_error_shape,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_generated_request_breaks_the_edge(case: Any, served: ServedEdge) -> None:
    response = case.call_and_validate(base_url=served.base_url, headers=AUTH, checks=CHECKS)
    served.count(response.status_code)
    content_type = response.headers.get("content-type", [""])[0]
    if response.status_code == 200 and content_type.startswith("application/json"):
        json.loads(response.content)
    elif response.status_code == 200 and content_type.startswith("application/x-ndjson"):
        for line in response.content.splitlines():  # JSON lines: each line one document
            json.loads(line)


def test_the_fuzzer_ran(served: ServedEdge) -> None:
    """Guard: the generated tests above sent requests (and none got a 5xx)."""
    print(f"schemathesis: {sum(served.statuses.values())} requests, by status {served.statuses}")
    assert sum(served.statuses.values()) > 0, served.statuses
    assert all(status < 500 for status in served.statuses), served.statuses
