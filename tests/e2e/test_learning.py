"""Learning from traffic through the whole suite: completions with feature vectors kept,
feedback on them, `freeway router fit --from-usage` against the live analytics, and the
router taking up the refitted weights without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from native._common import DEFAULT_WEIGHTS_PATH
from scorer.usage import catalogue_quality
from tests.e2e.conftest import RunningSuite

pytestmark = pytest.mark.e2e

FILLER = "Please tell me about the old town by the river and its market"
HARD, EASY = "zygomorphic", "buttercup"  # words the shipped weights know nothing about
PER_KIND = 30


def _prompt(word: str, i: int) -> str:
    return f"{FILLER} {word} {word} number {i}"


def _post(suite: RunningSuite, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{suite.base_url}{path}", json=body, headers=suite.auth, timeout=60)


def _route(suite: RunningSuite, text: str) -> dict[str, Any]:
    reply = _post(suite, "/route", {"messages": [{"role": "user", "content": text}]})
    assert reply.status_code == 200, reply.text[:300]
    decision: dict[str, Any] = reply.json()
    return decision


def _complete(suite: RunningSuite, text: str) -> str:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    reply = _post(suite, "/chat/completions", body)
    assert reply.status_code == 200, reply.text[:300]
    return reply.headers["x-request-id"]


def _rows(suite: RunningSuite, ids: set[str], deadline_s: float = 30) -> list[dict[str, Any]]:
    """The exported rows of `ids`, once every one has reached analytics with its feedback."""
    end = time.monotonic() + deadline_s
    while True:
        reply = httpx.get(
            f"{suite.base_url}/usage/export",
            params={"include": "feedback,features"},
            headers=suite.auth,
            timeout=60,
        )
        assert reply.status_code == 200, reply.text[:300]
        rows = [json.loads(line) for line in reply.text.splitlines()]
        mine = [r for r in rows if r["request_id"] in ids]
        if len(mine) == len(ids) and all(r["feedback_application"] is not None for r in mine):
            return mine
        assert time.monotonic() < end, f"{len(mine)} of {len(ids)} rows with feedback"
        time.sleep(0.3)


def _wait_for_version(suite: RunningSuite, other_than: str, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while _route(suite, "hello")["weights_version"] == other_than:
        assert time.monotonic() < end, f"the router still uses {other_than}"
        time.sleep(0.2)


def _gap(suite: RunningSuite) -> tuple[float, float, str]:
    """(hard probe's complexity, easy probe's, weights version) of new prompts of each kind."""
    hard, easy = _route(suite, _prompt(HARD, 999)), _route(suite, _prompt(EASY, 999))
    assert hard["weights_version"] == easy["weights_version"]
    return hard["complexity"], easy["complexity"], hard["weights_version"]


def _fit(suite: RunningSuite, strong_quality: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        FREEWAY_SERVICE_TOKEN=suite.token,
        FREEWAY_CATALOG_ADDR=suite.settings.catalog_addr,
        FREEWAY_CONFIG="",
    )
    command = [
        sys.executable,
        "-m",
        "services.cli",
        "router",
        "fit",
        "--from-usage",
        suite.settings.analytics_addr,  # the live analytics, over gRPC with the service token
        "--only-usage",
        "--strong-quality",
        str(strong_quality),
        "--buckets",
        "1024",
        "--out",
        str(suite.weights_file),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_feedback_refits_the_scorer_and_the_router_takes_it_up_live(
    suite: RunningSuite,
) -> None:
    old_hard, old_easy, old_version = _gap(suite)
    ids: dict[str, str] = {}
    for i in range(PER_KIND):
        for word in (HARD, EASY):
            ids[_complete(suite, _prompt(word, i))] = word
    for request_id, word in ids.items():  # the application says which answers were poor
        thumbs = "down" if word == HARD else "up"
        reply = _post(suite, "/feedback", {"request_id": request_id, "thumbs": thumbs})
        assert reply.status_code == 200, reply.text[:300]
    rows = _rows(suite, set(ids))
    assert all(r["features"] for r in rows)  # vectors kept ...
    assert not any(HARD in json.dumps(r) for r in rows)  # ... and never the text
    # every model that answered counts as weak: the feedback is about whether it sufficed
    served = {r["served_model"] for r in rows}
    quality = asyncio.run(catalogue_quality(suite.settings.catalog_addr, suite.token))
    strong_quality = max(quality[m] for m in served) + 0.01
    try:
        done = _fit(suite, strong_quality)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"{2 * PER_KIND} usage examples" in done.stdout, done.stdout
        assert "APGR" in done.stdout  # the held-out quality, as `fit` prints it
        _wait_for_version(suite, old_version)
        new_hard, new_easy, new_version = _gap(suite)
        assert new_version.startswith("fit-")
        assert new_version.split("@")[0].endswith(f"-u{2 * PER_KIND}")
        assert new_hard > new_easy
        assert new_hard - new_easy > old_hard - old_easy  # the scores moved the taught way
    finally:  # the other e2e tests route with the shipped weights
        staged = suite.weights_file.with_name("restore.tmp")
        shutil.copyfile(DEFAULT_WEIGHTS_PATH, staged)
        staged.replace(suite.weights_file)
        _wait_for_version_back(suite, old_version)


def _wait_for_version_back(suite: RunningSuite, version: str, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while _route(suite, "hello")["weights_version"] != version:
        assert time.monotonic() < end, f"the router did not go back to {version}"
        time.sleep(0.2)
