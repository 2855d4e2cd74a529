"""Usage analytics through the whole suite: a completion through Envoy is recorded by the
router, ingested by analytics, and shows in /v1/usage/* and in the export; feedback on it
is stored with it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import RunningSuite

pytestmark = pytest.mark.e2e


def _get(suite: RunningSuite, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{suite.base_url}{path}", params=params, headers=suite.auth, timeout=30)


def _recorded(suite: RunningSuite, request_id: str, deadline_s: float = 20) -> dict[str, Any]:
    """The exported usage row of `request_id`, once the router's report reached analytics."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        resp = _get(suite, "/usage/export", include="feedback")
        assert resp.status_code == 200, resp.text
        for line in resp.text.splitlines():
            row: dict[str, Any] = json.loads(line)
            if row["request_id"] == request_id:
                return row
        time.sleep(0.2)
    raise AssertionError(f"no usage row for request {request_id} within {deadline_s} s")


def test_a_completion_is_counted_exported_and_scored(suite: RunningSuite) -> None:
    with openai.OpenAI(base_url=suite.base_url, api_key="e2e-admin-key", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Count me, please."}]
        )
    request_id = raw.headers["x-request-id"]
    reply = raw.parse()
    row = _recorded(suite, request_id)
    assert (row["served_model"], row["status"]) == (reply.model, "ok")
    assert reply.usage is not None
    assert row["prompt_tokens"] == reply.usage.prompt_tokens
    assert row["cost_usd"] == 0.0  # a free model: known, and zero
    assert row["baseline_cost_usd"] > 0

    series = _get(suite, "/usage/timeseries", granularity="minute", group_by="model").json()
    assert reply.model in {s["group"]["model"] for s in series["series"]}
    saving = _get(suite, "/usage/savings").json()
    assert saving["total"]["saving_usd"] > 0

    scored = httpx.post(
        f"{suite.base_url}/feedback",
        json={"request_id": request_id, "thumbs": "up"},
        headers=suite.auth,
        timeout=10,
    )
    assert scored.status_code == 200, scored.text
    assert _recorded(suite, request_id)["feedback_application"] == 1.0
