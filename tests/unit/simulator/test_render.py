"""The pieces of a provider's answer that are made anew: ids of the recorded form, usage in
the recorded usage object's shape, and SSE events read back."""

from __future__ import annotations

import random
import re

import pytest

from services.simulator.chat import Usage
from services.simulator.recordings import events, newline_of
from services.simulator.render import mimic, usage_like


@pytest.mark.parametrize(
    ("recorded", "form"),
    [
        ("chatcmpl-E1DwE9W1VnlFwP5mSZ4ILcHphvegS", r"chatcmpl-[A-Za-z0-9]{29}"),
        ("chatcmpl-e9142c2c-79dc-4fca-9c5e-3f9ceca6e953", r"chatcmpl-[0-9a-f-]{36}"),
        ("gen-1778452699-35vozHnyrIbH4fguYo9O", r"gen-\d{10}-[A-Za-z0-9]{20}"),
        ("call_00_A5dI1B6omkMpmp7Kch6R7162", r"call_\d\d_[A-Za-z0-9]{24}"),
        ("chatcmpl-tool-b7d946e50d644053bfe95b23d29b7620", r"chatcmpl-tool-[0-9a-f]{32}"),
        ("123192d93", r"[0-9a-f]{9}"),
    ],
)
def test_a_fresh_id_has_the_recorded_form(recorded: str, form: str) -> None:
    fresh = mimic(recorded, random.Random(1))
    assert fresh != recorded
    assert re.fullmatch(form, fresh), fresh


def test_ids_without_digits_are_constants() -> None:
    assert mimic("stub", random.Random(1)) == "stub"  # Groq compound's
    assert mimic("", random.Random(1)) == ""  # Pollinations' first chunk


def test_usage_takes_the_recorded_objects_shape() -> None:
    deepseek = {"prompt_tokens": 12, "completion_tokens": 33, "total_tokens": 45,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 31},
                "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 12}  # fmt: skip
    got = usage_like(deepseek, Usage(prompt=200, completion=50, reasoning=20, cached=128))
    assert got == {"prompt_tokens": 200, "completion_tokens": 50, "total_tokens": 250,
                   "prompt_tokens_details": {"cached_tokens": 128},
                   "completion_tokens_details": {"reasoning_tokens": 20},
                   "prompt_cache_hit_tokens": 128, "prompt_cache_miss_tokens": 72}  # fmt: skip
    together = {
        "prompt_tokens": 1,
        "total_tokens": 2,
        "completion_tokens": 1,
        "reasoning_tokens": 0,
    }
    assert usage_like(together, Usage(5, 7, 3))["reasoning_tokens"] == 3
    running = usage_like(deepseek, Usage(200, 50, 20), completion=10)
    assert (running["completion_tokens"], running["total_tokens"]) == (10, 210)


def test_sse_events_keep_comments_data_and_done() -> None:
    body = ': OPENROUTER PROCESSING\r\n\r\ndata: {"a": 1}\r\n\r\ndata: [DONE]\r\n\r\n'
    assert newline_of(body) == "\r\n"
    assert [(e.kind, e.data) for e in events(body)] == [
        ("comment", None), ("data", {"a": 1}), ("done", None)
    ]  # fmt: skip
