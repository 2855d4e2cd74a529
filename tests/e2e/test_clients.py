"""Real clients from PyPI through Envoy, as applications use Freeway: the official `openai`
SDK (tool calls plain and with its stream helpers, structured output parsed into a
Pydantic model, a base64 image, n=2, seed, logprobs), LangChain's ChatOpenAI with
bind_tools (plain and streamed) and LiteLLM's SDK. The provider simulator records every
body it received, so each test also asserts what the provider got: the client's request,
with only `model` (and the provider's dialect) changed."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel, SecretStr

from tests.e2e.conftest import ADMIN_KEY, RunningSuite

pytestmark = pytest.mark.e2e

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
# A 1x1 PNG, as a client would inline a screenshot.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


class Weather(BaseModel):
    city: str
    unit: str | None = None


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture
def client(suite: RunningSuite) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=suite.base_url, api_key=ADMIN_KEY, max_retries=0, timeout=30
    ) as sdk:
        yield sdk


def received(suite: RunningSuite) -> list[dict[str, Any]]:
    """Every chat body the simulated providers received, oldest first."""
    reply = httpx.get(f"{suite.simulator_url}/_simulator/requests?endpoint=chat", timeout=10)
    reply.raise_for_status()
    return [r["body"] for r in reply.json()]


def last_received(suite: RunningSuite, model: str) -> dict[str, Any]:
    """The body the provider of catalogue model `model` last received."""
    upstream = model.partition("/")[2]
    bodies = [b for b in received(suite) if b.get("model") == upstream]
    assert bodies, f"no provider received a request for {model}"
    return bodies[-1]


def forwarded(body: dict[str, Any]) -> dict[str, Any]:
    """What Freeway adds or renames, taken out again (the rest must be the client's)."""
    out = {k: v for k, v in body.items() if k not in ("model", "stream", "stream_options")}
    if "random_seed" in out:  # Mistral's name for `seed`
        out["seed"] = out.pop("random_seed")
    for name in ("max_tokens", "max_completion_tokens"):
        if name in out:
            out["max_tokens"] = out.pop(name)
    return out


def test_a_tool_call_and_its_result_round_trip(suite: RunningSuite, client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    choice: Any = {"type": "function", "function": {"name": "get_weather"}}
    first = client.chat.completions.create(
        model="auto",
        messages=messages,
        tools=[WEATHER],
        tool_choice=choice,
    )
    reply = first.choices[0]
    assert reply.finish_reason == "tool_calls"
    assert reply.message.tool_calls
    call = reply.message.tool_calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    sent = last_received(suite, first.model)
    assert forwarded(sent) == {"messages": messages, "tools": [WEATHER], "tool_choice": choice}
    messages += [
        reply.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 7, "sky": "rain"}'},
    ]
    second = client.chat.completions.create(model="auto", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content or second.choices[0].message.tool_calls
    assert last_received(suite, second.model)["messages"][-1]["role"] == "tool"


def test_streamed_tool_calls_accumulate_in_the_sdks_stream_helper(
    client: openai.OpenAI,
) -> None:
    with client.chat.completions.stream(
        model="auto",
        messages=[{"role": "user", "content": "Weather in Paris, in celsius?"}],
        tools=[openai.pydantic_function_tool(Weather, name="get_weather")],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    ) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in kinds
    calls = final.choices[0].message.tool_calls
    assert calls
    assert final.choices[0].finish_reason == "tool_calls"
    parsed = calls[0].function.parsed_arguments
    assert isinstance(parsed, Weather)
    assert parsed.city


def test_structured_output_parses_into_a_pydantic_model(
    suite: RunningSuite, client: openai.OpenAI
) -> None:
    completion = client.beta.chat.completions.parse(
        model="auto",
        messages=[{"role": "user", "content": "Invent a person: a name and an age."}],
        response_format=Person,
    )
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person)
    sent = last_received(suite, completion.model)
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Person"


def test_a_base64_image_goes_to_a_vision_model(suite: RunningSuite, client: openai.OpenAI) -> None:
    image = {"url": f"data:image/png;base64,{PNG}", "detail": "low"}
    content: Any = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": image},
    ]
    reply = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": content}],
    )
    assert reply.choices[0].message.content
    vision = httpx.get(
        f"{suite.base_url}/catalog?capability=vision", headers=suite.auth, timeout=10
    ).json()
    assert reply.model in {m["id"] for m in vision["data"]}
    assert last_received(suite, reply.model)["messages"][0]["content"] == content


def test_two_choices_a_seed_and_logprobs_are_honoured(
    suite: RunningSuite, client: openai.OpenAI
) -> None:
    two = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Name a colour."}], n=2
    )
    assert [c.index for c in two.choices] == [0, 1]
    assert last_received(suite, two.model)["n"] == 2
    seeded = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Pick a number."}], seed=42
    )
    assert forwarded(last_received(suite, seeded.model))["seed"] == 42
    scored = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Say yes."}],
        logprobs=True,
        top_logprobs=2,
    )
    logprobs = scored.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content
    assert logprobs.content[0].token


def test_a_parameter_no_free_model_honours_is_a_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "hi"}],
            logit_bias={"50256": -100},
            n=3,
        )
    assert caught.value.code == "model_not_capable"
    assert caught.value.param in ("logit_bias", "n")


def test_langchain_bind_tools_plain_and_streamed(suite: RunningSuite) -> None:
    from langchain_core.messages import AIMessageChunk
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model="auto",
        base_url=suite.base_url,
        api_key=SecretStr(ADMIN_KEY),
        max_retries=0,
        timeout=30,
    )
    with_tools = llm.bind_tools([Weather], tool_choice="Weather")
    answer = with_tools.invoke("What is the weather in Rome?")
    assert answer.tool_calls
    assert answer.tool_calls[0]["name"] == "Weather"
    assert "city" in answer.tool_calls[0]["args"]
    merged: AIMessageChunk | None = None
    for piece in with_tools.stream("And in Lisbon?"):
        assert isinstance(piece, AIMessageChunk)
        merged = piece if merged is None else merged + piece
    assert merged is not None
    assert merged.tool_calls
    assert merged.tool_calls[0]["name"] == "Weather"
    assert "city" in merged.tool_calls[0]["args"]


def test_litellm_as_a_client_of_freeway(suite: RunningSuite) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    reply = litellm.completion(
        model="openai/auto",
        api_base=suite.base_url,
        api_key=ADMIN_KEY,
        messages=[{"role": "user", "content": "Say hello."}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        num_retries=0,
    )
    calls = reply.choices[0].message.tool_calls
    assert calls
    assert calls[0].function.name == "get_weather"
    streamed = litellm.completion(
        model="openai/auto",
        api_base=suite.base_url,
        api_key=ADMIN_KEY,
        messages=[{"role": "user", "content": "Count to three."}],
        stream=True,
        num_retries=0,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert text
