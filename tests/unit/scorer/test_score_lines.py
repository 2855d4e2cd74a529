"""The JSON-lines scoring tool (`freeway score`) and the request reader it shares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from native import kernel
from scorer.requests import RequestError, request_inputs
from scorer.score_lines import main, score_lines


def test_prompt_and_chat_request_lines_score_in_order(weights: kernel.Weights) -> None:
    lines = [
        '{"prompt": "hi"}',
        "",
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                        ],
                    },
                ],
                "max_tokens": 4096,
                "tools": [{"type": "function", "function": {"name": "look"}}],
            }
        ),
        "not json",
        '{"messages": "oops"}',
    ]
    out = [json.loads(line) for line in score_lines(lines, weights)]
    assert len(out) == 4
    assert 0.0 <= out[0]["score"] <= 1.0
    assert list(out[0]["features"]) == list(kernel.FEATURE_NAMES)
    assert out[1]["features"]["needs_vision"] == 1.0
    assert out[1]["features"]["needs_tools"] == 1.0
    assert out[1]["features"]["has_system"] == 1.0
    assert "invalid JSON" in out[2]["error"]
    assert "messages" in out[3]["error"]


def test_request_inputs_reads_needs_and_output_size() -> None:
    inputs = request_inputs(
        {
            "messages": [{"role": "user", "content": "x"}],
            "max_completion_tokens": 10,
            "response_format": {"type": "json_object"},
            "reasoning_effort": "high",
        }
    )
    assert inputs.messages == (("user", "x"),)
    assert inputs.max_output_tokens == 10
    assert inputs.needs == kernel.CAP_JSON | kernel.CAP_REASONING
    with pytest.raises(RequestError, match="max_tokens"):
        request_inputs({"prompt": "x", "max_tokens": -1})


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"prompt": "x", "max_tokens": 1 << 63}, "max_tokens"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
            r"content\[0\]\.text",
        ),
        ({"messages": [{"role": 1, "content": "x"}]}, r"messages\[0\]\.role"),
    ],
)
def test_bad_request_fields_are_named(row: dict[str, object], field: str) -> None:
    with pytest.raises(RequestError, match=field):
        request_inputs(row)


def test_bad_weights_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "w.json"
    path.write_text("{}")
    assert main(["--weights", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: missing field 'version'\n"
