"""The simulator answers as each provider did in its recorded exchanges.

For every recorded answer (text, tool call, JSON mode, JSON schema, image; plain and
streamed) of every simulated provider and model, the same request with another prompt gets a
new answer whose shape is the recorded one: the same keys and value types, the same run of
stream chunks (comments, head, reasoning, content or tool fragments, finish, usage chunk,
[DONE]), the same line endings and content type. Every recorded request sent again gets the
recorded response back byte for byte, and every recorded refusal is what the same request
with another prompt gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.simulator import BackgroundSimulator, Exchange, Simulator
from services.simulator.recordings import load
from tests.integration.simulator.recorded import (
    SHAPED,
    first_of_each_kind,
    runs,
    skeleton,
    with_prompt,
)

pytestmark = pytest.mark.integration

RECORDINGS = load()
ANSWERS = [e for e in RECORDINGS if e.cassette in SHAPED and not e.failed]
# Recorded refusals that are model limits (see services/simulator/profiles.py).
ACCIDENTAL = {"GenSync-JSONSchema", "GenSync-JSON", "GenSync-Citations-text-markdown"}


def _refusals() -> list[Exchange]:
    from services.simulator.profiles import ACCIDENTS

    found = []
    for e in RECORDINGS:
        if not e.failed or (e.provider, e.folder, e.cassette) in ACCIDENTS:
            continue
        if e.folder.startswith("us__") or "Citations" in e.cassette:
            continue
        if e.provider in ("baseten",) and "JSONSchema" in e.cassette:
            continue  # a validation error of the request, tested below
        if e.key.startswith("groq/openai__gpt-oss-20b_thinking/") and "JSONSchema" in e.cassette:
            continue
        found.append(e)
    return found


REFUSALS = _refusals()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with BackgroundSimulator() as s:
        yield s


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def _send(sim: Simulator, http: httpx.Client, provider: str, body: Any) -> httpx.Response:
    return http.post(sim.chat_url(provider), json=body)


def test_every_simulated_provider_has_recorded_answers() -> None:
    providers = {e.provider for e in ANSWERS}
    assert providers >= {
        "openai", "groq", "openrouter", "mistral", "cerebras", "deepseek", "together",
        "baseten", "alibaba", "perplexity", "xiaomi", "huggingface", "llamacpp", "pollinations",
    }  # fmt: skip
    assert len(ANSWERS) > 150


@pytest.mark.parametrize("recorded", [e for e in ANSWERS if not e.stream], ids=lambda e: e.key)
def test_a_new_answer_has_the_recorded_body_shape(
    sim: Simulator, http: httpx.Client, recorded: Exchange
) -> None:
    reply = _send(sim, http, recorded.provider, with_prompt(recorded.request))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == recorded.content_type
    got, want = reply.json(), recorded.json()
    assert skeleton(got) == skeleton(want)
    assert got["id"] != want.get("id") or not any(c.isdigit() for c in str(want.get("id")))
    prefix = recorded.body[: len(recorded.body) - len(recorded.body.lstrip())]
    assert reply.text.startswith(prefix)  # OpenRouter pads its bodies with blank lines
    pretty = recorded.body.lstrip().startswith("{\n")
    assert reply.text.lstrip().startswith("{\n") == pretty  # OpenAI, Together pretty-print
    finish, recorded_finish = (
        got["choices"][0]["finish_reason"],
        want["choices"][0]["finish_reason"],
    )
    assert finish == recorded_finish or recorded_finish == "length"  # a rambling model cut


@pytest.mark.parametrize("recorded", [e for e in ANSWERS if e.stream], ids=lambda e: e.key)
def test_a_new_stream_has_the_recorded_run_of_chunks(
    sim: Simulator, http: httpx.Client, recorded: Exchange
) -> None:
    reply = _send(sim, http, recorded.provider, with_prompt(recorded.request))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == recorded.content_type
    assert runs(reply.text) == runs(recorded.body)
    assert ("\r\n" in reply.text) == ("\r\n" in recorded.body)  # Perplexity frames with CRLF
    got, want = first_of_each_kind(reply.text), first_of_each_kind(recorded.body)
    assert got == want


@pytest.mark.parametrize("recorded", RECORDINGS, ids=lambda e: e.key)
def test_a_recorded_request_gets_the_recorded_response_byte_for_byte(
    sim: Simulator, http: httpx.Client, recorded: Exchange
) -> None:
    reply = http.post(
        sim.chat_url(recorded.provider),
        content=json.dumps(recorded.request).encode(),
        headers={"Content-Type": "application/json"},
    )
    # Perplexity dropped the seed: its Seed and Text cassettes hold one request, two answers.
    same = [
        e for e in RECORDINGS if e.provider == recorded.provider and e.request == recorded.request
    ]
    assert (reply.status_code, reply.headers["content-type"], reply.text) in {
        (e.status, e.content_type, e.body) for e in same
    }


@pytest.mark.parametrize("recorded", REFUSALS, ids=lambda e: e.key)
def test_what_a_model_refused_it_refuses_again_as_recorded(
    sim: Simulator, http: httpx.Client, recorded: Exchange
) -> None:
    reply = _send(sim, http, recorded.provider, with_prompt(recorded.request))
    assert reply.status_code == recorded.status
    assert reply.headers["content-type"] == recorded.content_type
    assert reply.text == recorded.body


def test_refusals_cover_the_index() -> None:
    """The refusals of INDEX.md's table are all exercised (images, audio, stop, logprobs,
    tools, json_schema, server-side tools, in-stream errors)."""
    tests = {e.cassette.split("-", 1)[1].split("-")[0] for e in REFUSALS}
    assert {"Stop", "TopLogprobs", "Tools", "JSONSchema"} <= tests
    assert any("Image" in e.cassette for e in REFUSALS)
    assert any("Audio" in e.cassette for e in REFUSALS)
    assert any(e.status == 200 for e in REFUSALS)  # an error inside an HTTP 200 stream
    assert len(REFUSALS) > 80


@pytest.mark.parametrize(
    ("provider", "model", "fault"),
    [
        ("baseten", "openai/gpt-oss-120b", "empty name"),
        ("groq", "openai/gpt-oss-20b", "no schema"),
    ],
)
def test_a_malformed_json_schema_gets_the_providers_recorded_validation_error(
    sim: Simulator, http: httpx.Client, provider: str, model: str, fault: str
) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    spec: dict[str, Any] = {"name": "answer", "schema": schema, "strict": True}
    if fault == "empty name":
        spec["name"] = ""
    else:
        del spec["schema"]
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Is the sky blue?"}],
        "response_format": {"type": "json_schema", "json_schema": spec},
    }
    reply = _send(sim, http, provider, body)
    recorded = next(
        e for e in RECORDINGS
        if e.provider == provider and e.cassette == "GenSync-JSONSchema" and e.status == 400
        and e.request["model"] == model
    )  # fmt: skip
    assert reply.status_code == 400
    assert reply.text == recorded.body
    well_formed = {**body, "response_format": {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": schema, "strict": True}}}  # fmt: skip
    reply = _send(sim, http, provider, well_formed)
    assert reply.status_code == 200, reply.text
    assert isinstance(json.loads(reply.json()["choices"][0]["message"]["content"])["ok"], bool)
