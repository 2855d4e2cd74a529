"""Models that are not chat models are told apart by id when their list says nothing."""

from __future__ import annotations

import pytest

from services.catalog.formats import parse_models
from services.catalog.formats._common import modalities_from_id


@pytest.mark.parametrize(
    ("upstream", "outputs"),
    [
        ("text-embedding-3-small", ("embedding",)),
        ("whisper-large-v3-turbo", ("text",)),
        ("playai-tts-arabic", ("audio",)),
        ("canopylabs/orpheus-arabic-saudi", ("audio",)),
        ("meta-llama/llama-prompt-guard-2-86m", ("classification",)),
        ("omni-moderation-latest", ("classification",)),
        ("dall-e-3", ("image",)),
        ("rerank-v3.5", ("score",)),
    ],
)
def test_non_chat_ids(upstream: str, outputs: tuple[str, ...]) -> None:
    told = modalities_from_id(upstream)
    assert told is not None
    assert told[1] == outputs


@pytest.mark.parametrize(
    "upstream", ["llama-3.3-70b-versatile", "gpt-4o-mini", "openai/gpt-oss-120b", "qwen3-32b"]
)
def test_chat_ids_are_left_alone(upstream: str) -> None:
    assert modalities_from_id(upstream) is None


def test_stated_modalities_win_over_the_id() -> None:
    body = {"object": "list", "data": [
        {"id": "guarded-chat", "input_modalities": ["text"], "output_modalities": ["text"]},
        {"id": "whisper-1"},
    ]}  # fmt: skip
    first, second = parse_models(body, "p").records
    assert first.output_modalities == ("text",)
    assert (second.input_modalities, second.output_modalities) == (("audio",), ("text",))
