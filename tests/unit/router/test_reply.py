"""Providers' answers in their dialects → exactly OpenAI's shape (see data/chat/INDEX.md)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.router.reply import (
    MalformedReply,
    ProviderError,
    StreamReader,
    Usage,
    read_completion,
    usage_of,
)


def whole(message: dict[str, Any], finish: Any = "stop", **extra: Any) -> bytes:
    choice = {"index": 0, "message": message, "finish_reason": finish}
    return orjson.dumps({"id": "x", "created": 5, "choices": [choice], **extra})


def test_a_completion_in_the_clients_shape() -> None:
    raw = whole(
        {"role": "assistant", "content": "hello"},
        usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
        x_groq={"id": "req_1"},
        system_fingerprint="fp_1",
    )
    answer = read_completion(raw, "groq/llama", "chatcmpl-1", 1, 100)
    assert answer.body == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 5,
        "model": "groq/llama",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "system_fingerprint": "fp_1",
    }
    assert answer.usage == Usage(9, 2, stated=True)
    assert answer.finish_reasons == ("stop",)


def test_tool_calls_get_ids_string_arguments_and_their_finish_reason() -> None:
    # Gemini sends arguments as an object; HuggingFace/Qwen says "stop" for a tool call.
    raw = whole(
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "square_root", "arguments": {"number": 132413}}},
                {"id": "call_b", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            ],
        },
        finish="stop",
    )
    message = read_completion(raw, "m", "c", 1, 1).body["choices"][0]
    calls = message["message"]["tool_calls"]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"]["content"] is None
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["type"] == "function"
    assert calls[0]["function"] == {"name": "square_root", "arguments": '{"number":132413}'}
    assert calls[1]["id"] == "call_b"


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("end_turn", "stop"),
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("COMPLETE", "stop"),
        ("stop_sequence", "stop"),
        ("content_filter", "content_filter"),
        (None, "stop"),
    ],
)
def test_finish_reasons_in_openais_words(theirs: Any, ours: str) -> None:
    raw = whole({"role": "assistant", "content": "x"}, finish=theirs)
    assert read_completion(raw, "m", "c", 1, 1).finish_reasons == (ours,)


def test_reasoning_travels_as_reasoning_content_whichever_field_the_provider_used() -> None:
    for message in (
        {"content": "a", "reasoning_content": "think"},  # DeepSeek, Xiaomi, Baseten
        {"content": "a", "reasoning": "think"},  # Groq, Cerebras, Together
        {"content": "a", "reasoning_details": [{"type": "reasoning.text", "text": "think"}]},
    ):
        body = read_completion(whole(message), "m", "c", 1, 1).body
        assert body["choices"][0]["message"]["reasoning_content"] == "think"


def test_usage_details_wherever_they_are() -> None:
    openai = {
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 16,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 16},
        }
    }
    assert usage_of(openai) == Usage(10, 16, 4, 16, stated=True)
    together = {"usage": {"prompt_tokens": 3, "completion_tokens": 5, "reasoning_tokens": 2}}
    assert usage_of(together) == Usage(3, 5, 0, 2, stated=True)
    deepseek = {"usage": {"prompt_tokens": 3, "completion_tokens": 5, "prompt_cache_hit_tokens": 1}}
    assert usage_of(deepseek) == Usage(3, 5, 1, 0, stated=True)
    groq = {"x_groq": {"usage": {"prompt_tokens": 7, "completion_tokens": 1}}}
    assert usage_of(groq) == Usage(7, 1, stated=True)
    assert usage_of({"usage": None}) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"<html>503</html>",
        b"[]",
        b'{"choices": []}',
        b'{"choices": [{"index": 0}]}',
        b'{"choices": [{"message": {"content": 5}}]}',
        b'{"choices": [{"message": {"content": "x"}, "finish_reason": "error"}]}',
        b'{"choices": [{"message": {"tool_calls": [{"function": {}}]}}]}',
    ],
)
def test_what_is_not_a_completion_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedReply):
        read_completion(raw, "m", "c", 1, 1)


def test_an_error_object_in_a_200_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match="Provider returned error"):
        read_completion(b'{"error": {"message": "Provider returned error"}}', "m", "c", 1, 1)


def test_fewer_choices_than_asked_is_not_the_answer() -> None:
    with pytest.raises(MalformedReply, match="asked for 2 choices, got 1"):
        read_completion(whole({"content": "x"}), "m", "c", 2, 1)


# --- streams -----------------------------------------------------------------------


def reader(n: int = 1) -> StreamReader:
    return StreamReader("p/m", "sid", 7, n)


def delta(d: dict[str, Any], finish: Any = None, index: int = 0, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": d, "finish_reason": finish}], **extra}


def out(events: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(e) for e in events]


def accumulate(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls as the openai SDK's stream helpers accumulate them (strings concatenate)."""
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        for choice in event["choices"]:
            for fragment in choice["delta"].get("tool_calls", []):
                call = calls.setdefault(fragment["index"], {"function": {}})
                for key in ("id", "type"):
                    if key in fragment:
                        call[key] = call.get(key, "") + fragment[key]
                for key, value in fragment.get("function", {}).items():
                    call["function"][key] = call["function"].get(key, "") + value
    return [calls[i] for i in sorted(calls)]


def test_chunks_carry_one_id_and_the_catalogue_model() -> None:
    r = reader()
    events = out(r.feed([delta({"role": "assistant", "content": ""}), delta({"content": "he"})]))
    assert events == [
        {
            "id": "sid",
            "object": "chat.completion.chunk",
            "created": 7,
            "model": "p/m",
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": "he"}, "finish_reason": None}
            ],
        }
    ]
    assert r.committed


def test_a_role_only_chunk_is_not_content() -> None:
    r = reader()
    assert r.feed([delta({"role": "assistant", "content": ""}, obfuscation="xyz")]) == []
    assert not r.committed


@pytest.mark.parametrize(
    "fragments",
    [
        # OpenAI: id, type and name first, then argument pieces
        [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "sq", "arguments": ""},
            },
            {"index": 0, "function": {"arguments": '{"number"'}},
            {"index": 0, "function": {"arguments": ": 132413}"}},
        ],
        # Baseten: the id on every fragment, name null
        [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "sq", "arguments": ""},
            },
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": None, "arguments": '{"number"'},
            },
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": None, "arguments": ": 132413}"},
            },
        ],
        # Together: explicit nulls; Alibaba: an empty id
        [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "sq", "arguments": '{"number"'},
            },
            {"index": 0, "id": None, "function": {"name": None, "arguments": ": 132413}"}},
        ],
        [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "sq", "arguments": '{"number"'},
            },
            {"index": 0, "id": "", "type": "function", "function": {"arguments": ": 132413}"}},
        ],
        # Groq and Mistral: the whole call in one delta (Mistral without "type")
        [
            {
                "index": 0,
                "id": "call_1",
                "function": {"name": "sq", "arguments": '{"number": 132413}'},
            }
        ],
    ],
)
def test_tool_call_deltas_accumulate_as_openais_do(fragments: list[dict[str, Any]]) -> None:
    r = reader()
    events = []
    for fragment in fragments:
        events += out(r.feed([delta({"tool_calls": [fragment]})]))
    events += out(r.feed([delta({}, "stop")]))
    assert accumulate(events) == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "sq", "arguments": '{"number": 132413}'},
        }
    ]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    r.finish()


def test_a_tool_call_without_an_id_gets_one() -> None:
    r = reader()
    events = out(
        r.feed(
            [delta({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]})]
        )
    )
    assert events[0]["choices"][0]["delta"]["tool_calls"][0]["id"].startswith("call_")


def test_a_finish_said_twice_is_said_once() -> None:
    r = reader()
    events = out(
        r.feed(
            [
                delta({"content": "a"}),
                delta({}, "stop"),
                delta({}, "stop", usage={"prompt_tokens": 1, "completion_tokens": 1}),
            ]
        )
    )
    assert [e["choices"][0]["finish_reason"] for e in events] == [None, "stop"]
    assert r.usage == Usage(1, 1, stated=True)


def test_running_usage_totals_keep_the_last() -> None:
    r = reader()
    r.feed([delta({"content": "a"}, usage={"prompt_tokens": 4, "completion_tokens": 1})])
    r.feed([delta({"content": "b"}, usage={"prompt_tokens": 4, "completion_tokens": 2})])
    r.feed([{"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}}])
    assert r.usage == Usage(4, 3, stated=True)


def test_a_stream_without_a_finish_reason_is_cut_off() -> None:
    r = reader()
    r.feed([delta({"content": "partial"})])
    with pytest.raises(MalformedReply, match="without a finish reason"):
        r.finish()


def test_every_choice_of_n_must_finish() -> None:
    r = reader(n=2)
    r.feed([delta({"content": "a"}, "stop", index=0), delta({"content": "b"}, index=1)])
    with pytest.raises(MalformedReply, match="choice 1"):
        r.finish()
    with pytest.raises(MalformedReply, match="choice 2"):
        r.feed([delta({"content": "c"}, index=2)])


def test_an_error_inside_a_200_stream_is_a_failure() -> None:
    r = reader()
    r.feed([delta({"content": "a"})])
    with pytest.raises(ProviderError, match="Context size has been exceeded"):
        r.feed([{"error": {"code": 500, "message": "Context size has been exceeded."}}])


def test_the_usage_chunk_is_openais_last_chunk() -> None:
    r = reader()
    last = orjson.loads(r.usage_chunk(Usage(3, 4, 1, 2, stated=True), {"freeway": {"x": 1}}))
    assert last == {
        "id": "sid",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "p/m",
        "choices": [],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 1},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
        "freeway": {"x": 1},
    }


def test_logprobs_pass_through() -> None:
    r = reader()
    lp = {"content": [{"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": []}]}
    event = out(r.feed([{"choices": [{"index": 0, "delta": {"content": "a"}, "logprobs": lp}]}]))[0]
    assert event["choices"][0]["logprobs"] == lp


def test_the_fast_path_for_text_deltas_says_what_the_full_reading_says() -> None:
    fast = reader()
    docs = [
        delta({"role": "assistant", "content": ""}),
        delta({"content": "he"}),
        delta({"content": "llo", "role": "assistant"}),
        delta({"content": "!", "reasoning_content": None}),
        delta({"content": "", "reasoning": "hmm"}),  # reasoning: never lost
        delta({"content": " x", "channel": "final"}),  # a field the fast path does not know
        delta({}, "stop"),
    ]
    events = out(fast.feed(docs))
    texts = [
        (e["choices"][0]["delta"].get("content"), e["choices"][0]["delta"].get("reasoning_content"))
        for e in events
    ]
    assert all(set(e) == {"id", "object", "created", "model", "choices"} for e in events)
    assert [e["choices"][0]["finish_reason"] for e in events] == [None] * 5 + ["stop"]
    assert texts == [
        ("he", None),
        ("llo", None),
        ("!", None),
        (None, "hmm"),
        (" x", None),
        (None, None),
    ]
    assert fast.chars == len("hello! x")
