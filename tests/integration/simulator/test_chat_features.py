"""The whole chat request answered as a real provider would, driven by the official `openai`
client: tool calls (every tool_choice, parallel, streamed in each provider's delta pattern and
accumulated by the SDK's stream helper), JSON schema answers parsed into Pydantic models,
`n`, logprobs, seed, stop, token limits, usage where each provider puts it, prompt caching,
reasoning in each provider's field, and images accepted or refused as recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel

from services.simulator import BackgroundSimulator, Simulator
from services.simulator.recordings import load
from tests.integration.simulator.recorded import chunks, sse_lines

pytestmark = pytest.mark.integration

SQRT: Any = {
    "type": "function",
    "function": {
        "name": "square_root",
        "description": "The square root of a number",
        "parameters": {
            "type": "object",
            "properties": {"number": {"type": "number"}},
            "required": ["number"],
            "additionalProperties": False,
        },
    },
}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
        },
    },
}
ASK: Any = [{"role": "user", "content": "Use square_root on 132413, and reply with the result."}]
# One recorded model per tool-call delta pattern of INDEX.md §3 (and plain OpenAI).
TOOL_PATTERNS = {
    "openai": "gpt-5.6-luna",  # id/type/name first, then argument pieces
    "groq": "openai/gpt-oss-20b",  # the whole call in one delta
    "mistral": "mistral-small-latest",  # the whole call on the finish chunk, no "type"
    "baseten": "openai/gpt-oss-120b",  # the id repeated on every piece
    "together": "openai/gpt-oss-20b",  # "id": null, "name": null on later pieces
    "alibaba": "qwen3-vl-flash",  # "id": "" and arguments starting with a space
    "deepseek": "deepseek-v4-flash",  # call_00_ ids
    "cerebras": "gpt-oss-120b",  # 9-character ids
    "llamacpp": "unsloth/Qwen3.5-2B-GGUF",  # "{" first, then one piece at a time
    "openrouter": "qwen/qwen3.5-35b-a3b",
    "xiaomi": "mimo-v2.5",
    "pollinations": "openai",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with BackgroundSimulator() as s:
        yield s


OPENED: list[Any] = []


@pytest.fixture(autouse=True)
def fresh(sim: Simulator) -> Iterator[None]:
    sim.clear_script()
    sim.clear_requests()
    yield
    while OPENED:
        OPENED.pop().close()


def client(sim: Simulator, provider: str) -> openai.OpenAI:
    """The official client on `provider`; its chat calls go to the provider's own chat path
    (llama.cpp's /v1/chat/completions, Pollinations' /openai). Closed after the test."""
    chat_path = httpx.URL(sim.chat_url(provider)).path

    def to_chat_path(request: Any) -> None:
        if request.url.path.endswith("/chat/completions"):
            request.url = request.url.copy_with(path=chat_path)

    http = openai.DefaultHttpxClient(event_hooks={"request": [to_chat_path]}, timeout=30)
    OPENED.append(http)
    return openai.OpenAI(
        base_url=sim.base_url(provider), api_key="sk-test", max_retries=0, http_client=http
    )


def raw(sim: Simulator, provider: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(sim.chat_url(provider), json=body, timeout=30)


def arguments(call: Any, tool: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(call.function.arguments)
    jsonschema.validate(parsed, tool["function"]["parameters"])
    return parsed


# --- tools ----------------------------------------------------------------------------


def test_required_tool_choice_calls_the_tool_with_schema_valid_arguments(sim: Simulator) -> None:
    reply = client(sim, "openai").chat.completions.create(
        model="gpt-4", messages=ASK, tools=[SQRT], tool_choice="required"
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls: list[Any] = list(choice.message.tool_calls or [])
    [call] = calls
    assert call.type == "function"
    assert call.function.name == "square_root"
    assert call.id.startswith("call_")
    assert arguments(call, SQRT) == {"number": 132413}  # the number the user asked about


def test_a_named_tool_choice_calls_that_tool(sim: Simulator) -> None:
    reply = client(sim, "groq").chat.completions.create(
        model="llama-3.1-8b-instant",
        messages=[{"role": "user", "content": "What should I wear in Lyon this week?"}],
        tools=[SQRT, WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    calls: list[Any] = list(reply.choices[0].message.tool_calls or [])
    [call] = calls
    assert call.function.name == "get_weather"
    args = arguments(call, WEATHER)
    assert args["unit"] in ("celsius", "fahrenheit")


def test_tool_choice_none_answers_in_text(sim: Simulator) -> None:
    reply = client(sim, "openai").chat.completions.create(
        model="gpt-4", messages=ASK, tools=[SQRT], tool_choice="none"
    )
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"


def test_auto_calls_then_answers_once_the_tool_result_is_back(sim: Simulator) -> None:
    api = client(sim, "openai")
    first = api.chat.completions.create(model="gpt-4", messages=ASK, tools=[SQRT])
    [call] = first.choices[0].message.tool_calls or []
    history: list[Any] = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "363.88"},
    ]
    second = api.chat.completions.create(model="gpt-4", messages=history, tools=[SQRT])
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].finish_reason == "stop"
    assert sim.chat_requests("openai")[1]["messages"][2]["tool_call_id"] == call.id


def test_parallel_tool_calls_call_each_tool_named(sim: Simulator) -> None:
    both: Any = [{"role": "user", "content": "Call get_weather for Oslo and square_root of 81."}]
    api = client(sim, "openai")
    reply = api.chat.completions.create(model="gpt-4", messages=both, tools=[SQRT, WEATHER])
    calls: list[Any] = list(reply.choices[0].message.tool_calls or [])
    assert [c.function.name for c in calls] == ["get_weather", "square_root"]
    assert len({c.id for c in calls}) == 2
    single = api.chat.completions.create(
        model="gpt-4", messages=both, tools=[SQRT, WEATHER], parallel_tool_calls=False
    )
    assert len(single.choices[0].message.tool_calls or []) == 1


@pytest.mark.parametrize(("provider", "model"), TOOL_PATTERNS.items(), ids=list(TOOL_PATTERNS))
def test_streamed_tool_calls_accumulate_in_the_sdk_in_every_providers_pattern(
    sim: Simulator, provider: str, model: str
) -> None:
    api = client(sim, provider)
    # DeepSeek thinks unless told not to, and its thinking mode refused tool_choice required;
    # llama.cpp's recording with thinking off looped until its context ran out (the refusal
    # tests replay that), the thinking one called the tool.
    extra = {
        "deepseek": {"thinking": {"type": "disabled"}},
        "llamacpp": {"chat_template_kwargs": {"enable_thinking": True}},
    }.get(provider)
    with api.chat.completions.stream(
        model=model, messages=ASK, tools=[SQRT], tool_choice="required", extra_body=extra
    ) as stream:
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert call.function.name == "square_root"
    assert arguments(call, SQRT) == {"number": 132413}


def test_the_stream_carries_the_recorded_tool_delta_pattern(sim: Simulator) -> None:
    """Baseten repeats the id with name null; Together sends id and name null; Alibaba ""."""
    seen = {}
    for provider in ("baseten", "together", "alibaba", "openai"):
        body = {"model": TOOL_PATTERNS[provider], "messages": ASK, "tools": [SQRT],
                "tool_choice": "required", "stream": True}  # fmt: skip
        got = chunks(raw(sim, provider, body).text)
        calls = [
            c["choices"][0]["delta"]["tool_calls"][0]
            for c in got
            if c.get("choices") and c["choices"][0].get("delta", {}).get("tool_calls")
        ]
        seen[provider] = calls
    first, later = seen["baseten"][0], seen["baseten"][1]
    assert later["id"] == first["id"]
    assert later["function"].get("name") is None
    assert seen["together"][1]["id"] is None
    assert seen["together"][1]["function"]["name"] is None
    assert seen["alibaba"][1]["id"] == ""
    assert seen["alibaba"][1]["function"]["arguments"][0] == " "
    assert seen["openai"][0]["function"]["arguments"] == ""
    assert all("id" not in c for c in seen["openai"][1:])


# --- JSON -----------------------------------------------------------------------------


class Colour(StrEnum):
    red = "red"
    yellow = "yellow"


class Fruit(BaseModel):
    name: str
    colour: Colour
    weight_grams: float


class Basket(BaseModel):
    owner: str
    fruits: list[Fruit]
    ripe: bool
    note: str | None


@pytest.mark.parametrize(
    ("provider", "model"),
    [("openai", "gpt-5.6-luna"), ("mistral", "mistral-small-latest"), ("openrouter", "x")],
)
def test_json_schema_answers_parse_into_the_pydantic_model(
    sim: Simulator, provider: str, model: str
) -> None:
    reply = client(sim, provider).chat.completions.parse(
        model=model,
        messages=[{"role": "user", "content": "Describe a basket of fruit."}],
        response_format=Basket,
    )
    basket = reply.choices[0].message.parsed
    assert isinstance(basket, Basket)
    assert basket.fruits
    assert isinstance(basket.fruits[0].colour, Colour)
    sent = sim.chat_requests(provider)[-1]["response_format"]
    assert sent["json_schema"]["strict"] is True
    assert "$defs" in sent["json_schema"]["schema"]  # Pydantic's nested models, followed


def test_json_object_mode_answers_json(sim: Simulator) -> None:
    reply = client(sim, "groq").chat.completions.create(
        model="llama-3.3-70b-versatile",
        messages=[{"role": "user", "content": "Reply ONLY as JSON: is a banana a fruit?"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_a_model_that_refused_json_schema_refuses_it_again(sim: Simulator) -> None:
    body = {"model": "groq/compound-mini", "messages": [{"role": "user", "content": "Hi"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "x", "schema": {"type": "object"}}}}  # fmt: skip
    reply = raw(sim, "groq", body)
    assert reply.status_code == 400
    assert "does not support response format `json_schema`" in reply.json()["error"]["message"]


# --- n, logprobs, seed, stop, limits ----------------------------------------------------


def test_n_gives_n_different_choices(sim: Simulator) -> None:
    reply = client(sim, "openai").chat.completions.create(model="gpt-4", messages=ASK, n=3)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert len({c.message.content for c in reply.choices}) == 3
    body = {"model": "gpt-4", "messages": ASK, "n": 2, "stream": True}
    got = chunks(raw(sim, "openai", body).text)
    finished = {c["choices"][0]["index"] for c in got if c["choices"][0]["finish_reason"]}
    assert finished == {0, 1}


def test_logprobs_where_the_model_gives_them(sim: Simulator) -> None:
    reply = client(sim, "openai").chat.completions.create(
        model="gpt-4", messages=ASK, logprobs=True, top_logprobs=2
    )
    content = (reply.choices[0].logprobs and reply.choices[0].logprobs.content) or []
    text = reply.choices[0].message.content or ""
    assert "".join(t.token for t in content) == text
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)


def test_logprobs_refused_as_recorded_where_the_model_refused_them(sim: Simulator) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client(sim, "openai").chat.completions.create(
            model="gpt-5.6-luna", messages=ASK, logprobs=True, top_logprobs=2
        )
    recorded = next(
        e for e in load() if e.key == "openai/gpt-5.6-luna_thinking/GenSync-TopLogprobs"
    )
    assert raised.value.response.text == recorded.body


def test_the_same_seed_gives_the_same_answer(sim: Simulator) -> None:
    api = client(sim, "mistral")

    def answer(seed: int) -> str | None:
        reply = api.chat.completions.create(model="mistral-large-latest", messages=ASK, seed=seed)
        return reply.choices[0].message.content

    assert answer(7) == answer(7)
    assert answer(7) != answer(8)


def test_stop_cuts_the_answer(sim: Simulator) -> None:
    reply = client(sim, "groq").chat.completions.create(
        model="llama-3.1-8b-instant", messages=ASK, stop=["square"]
    )
    text = reply.choices[0].message.content or ""
    assert "square" not in text
    assert text  # what came before the stop string
    assert reply.choices[0].finish_reason == "stop"


def test_max_tokens_cuts_with_finish_reason_length(sim: Simulator) -> None:
    reply = client(sim, "openrouter").chat.completions.create(model="x", messages=ASK, max_tokens=3)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens <= 3


def test_a_reasoning_budget_eaten_whole_leaves_no_answer(sim: Simulator) -> None:
    """OpenAI's recorded MaxTokens: 16 of 16 tokens were reasoning, content ""."""
    reply = client(sim, "openai").chat.completions.create(
        model="gpt-5.6-luna", messages=ASK, max_completion_tokens=4
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == ""
    assert reply.usage is not None
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 4


# --- usage and reasoning where each provider puts them --------------------------------


def test_usage_is_a_last_chunk_only_when_asked_for_openai(sim: Simulator) -> None:
    body = {"model": "gpt-4", "messages": ASK, "stream": True}
    assert not any(c.get("usage") for c in chunks(raw(sim, "openai", body).text))
    asked = {**body, "stream_options": {"include_usage": True}}
    got = chunks(raw(sim, "openai", asked).text)
    assert got[-1]["choices"] == []
    assert got[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in got[:-1])


def test_usage_on_the_finish_chunk_and_in_x_groq(sim: Simulator) -> None:
    body = {"model": "openai/gpt-oss-20b", "messages": ASK, "stream": True}
    got = chunks(raw(sim, "groq", body).text)
    finish = got[-1]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert finish["usage"]["total_tokens"] == finish["x_groq"]["usage"]["total_tokens"]


def test_baseten_counts_usage_as_running_totals(sim: Simulator) -> None:
    body = {"model": "openai/gpt-oss-120b", "messages": ASK, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    counts = [c["usage"]["completion_tokens"] for c in chunks(raw(sim, "baseten", body).text)]
    assert counts == sorted(counts)
    assert counts[0] < counts[-1]


def test_llamacpp_sends_no_usage_and_perplexity_no_done(sim: Simulator) -> None:
    body = {"messages": ASK, "stream": True}
    assert not any("usage" in c for c in chunks(raw(sim, "llamacpp", body).text))
    text = raw(sim, "perplexity", {**body, "model": "sonar"}).text
    assert "\r\n\r\n" in text
    assert "data: [DONE]" not in sse_lines(text)


def test_a_repeated_conversation_reports_cached_prompt_tokens(sim: Simulator) -> None:
    long: Any = [{"role": "system", "content": "You are terse. " * 80}, *ASK]
    api = client(sim, "openai")
    first = api.chat.completions.create(model="gpt-4", messages=long)
    again = api.chat.completions.create(model="gpt-4", messages=long)
    assert first.usage
    assert first.usage.prompt_tokens_details
    assert again.usage
    assert again.usage.prompt_tokens_details
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = again.usage.prompt_tokens_details.cached_tokens or 0
    assert 0 < cached <= again.usage.prompt_tokens


@pytest.mark.parametrize(
    ("provider", "model", "where"),
    [
        ("deepseek", "deepseek-v4-flash", "reasoning_content"),
        ("groq", "openai/gpt-oss-20b", "reasoning"),
        ("openrouter", "qwen/qwen3.5-35b-a3b", "reasoning_details"),
        ("huggingface", "Qwen/Qwen3-4B", "<think>"),
    ],
)
def test_reasoning_travels_in_the_providers_own_field(
    sim: Simulator, provider: str, model: str, where: str
) -> None:
    message = raw(sim, provider, {"model": model, "messages": ASK}).json()["choices"][0]["message"]
    if where == "<think>":
        assert message["content"].startswith("<think>\n")
    else:
        assert message[where]


# --- images and audio -----------------------------------------------------------------

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
LOOK: Any = [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, IMAGE]}]


def test_an_image_is_answered_where_the_model_took_images(sim: Simulator) -> None:
    reply = raw(sim, "openai", {"model": "gpt-5.6-luna", "messages": LOOK})
    assert reply.status_code == 200
    assert reply.json()["usage"]["prompt_tokens"] > 85  # images cost tokens


@pytest.mark.parametrize(
    ("provider", "model", "status"),
    [("groq", "openai/gpt-oss-20b", 400), ("cerebras", "gpt-oss-120b", 403)],
)
def test_an_image_gets_the_recorded_refusal_where_the_model_refused_them(
    sim: Simulator, provider: str, model: str, status: int
) -> None:
    reply = raw(sim, provider, {"model": model, "messages": LOOK})
    recorded = next(
        e for e in load()
        if e.provider == provider and e.request.get("model") == model
        and e.cassette == "GenSyncMultiModal-Image-jpg-Inline"
    )  # fmt: skip
    assert (reply.status_code, reply.text) == (status, recorded.body)


def test_input_audio_gets_mistrals_recorded_refusal(sim: Simulator) -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "SUQzBAAAAAAA", "format": "mp3"}}
    body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": [audio]}]}
    reply = raw(sim, "mistral", body)
    assert reply.status_code == 400
    assert reply.json()["object"] == "error"


def test_a_model_not_recorded_answers_in_its_providers_shapes_without_reasoning(
    sim: Simulator,
) -> None:
    body = raw(sim, "groq", {"model": "llama-3.1-8b-instant", "messages": ASK}).json()
    assert body["model"] == "llama-3.1-8b-instant"
    assert "reasoning" not in body["choices"][0]["message"]  # gpt-oss reasons; it is not it
    assert "queue_time" in body["usage"]  # Groq's usage, as recorded
    assert body["x_groq"]["id"].startswith("req_")
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
