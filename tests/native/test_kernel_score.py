"""Scoring: features, contributions and the score itself, on both twins."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from native._common import (
    CAP_JSON,
    CAP_REASONING,
    CAP_TOOLS,
    DENSE_FEATURE_NAMES,
    FEATURE_NAMES,
    N_DENSE,
    Weights,
    WeightsError,
    load_weights,
)

F = {name: i for i, name in enumerate(FEATURE_NAMES)}


def dense(kernel: ModuleType, text: str, **kw: int) -> dict[str, float]:
    values, _ = kernel.featurize([("user", text)], kw.get("max_out", 0), kw.get("needs", 0), 0)
    return dict(zip(DENSE_FEATURE_NAMES, values.tolist(), strict=True))


def test_fnv1a_is_the_documented_hash_lowercased(kernel: ModuleType) -> None:
    assert kernel.fnv1a(b"") == 2166136261
    assert kernel.fnv1a(b"a") == 0xE40C292C
    assert kernel.fnv1a(b"Hello") == kernel.fnv1a(b"hello")


def test_code_features(kernel: ModuleType) -> None:
    text = "Fix this:\n```python\ndef f(x):\n    return x + 1\n```\n"
    x = dense(kernel, text)
    assert x["code_fences"] == pytest.approx(math.log1p(2))
    assert x["code_keywords"] == pytest.approx(math.log1p(3))  # python, def, return
    assert x["code_indent"] == pytest.approx(1 / 5)
    assert x["code_syntax"] > 0
    assert dense(kernel, "Tell me a story about a cat.")["code_fences"] == 0.0


def test_math_features(kernel: ModuleType) -> None:
    x = dense(kernel, "Solve $x^2 + 3x - 4 = 0$ and compute \\frac{1}{2}.")
    assert x["math_latex"] == pytest.approx(math.log1p(3))  # $, $, \frac
    assert x["math_operators"] >= math.log1p(3)
    assert x["math_keywords"] == pytest.approx(math.log1p(2))  # solve, compute
    assert x["math_digits"] > 0


def test_task_cues_and_structure(kernel: ModuleType) -> None:
    x = dense(kernel, "Analyse and compare these designs. Why?\n1. first\n2. second\n- third")
    assert x["reasoning_cues"] == pytest.approx(math.log1p(3))  # analyse, compare, why
    assert x["list_items"] == pytest.approx(math.log1p(3))
    assert x["questions"] == pytest.approx(math.log1p(1))
    y = dense(kernel, "Summarise and translate this list.")
    assert y["simple_cues"] == pytest.approx(math.log1p(3))
    assert y["reasoning_cues"] == 0.0


def test_script_and_length(kernel: ModuleType) -> None:
    x = dense(kernel, "東京の天気")
    assert x["cjk_share"] == 1.0
    assert x["non_ascii_share"] == 1.0
    assert x["log_chars"] == pytest.approx(math.log1p(5))
    assert x["log_tokens"] == pytest.approx(math.log1p(5))
    assert dense(kernel, "plain ascii")["non_ascii_share"] == 0.0


def test_conversation_depth_and_system(kernel: ModuleType) -> None:
    messages = [("system", "be brief"), ("user", "hi"), ("assistant", "hello"), ("user", "why?")]
    values, _ = kernel.featurize(messages, 0, 0, 0)
    x = dict(zip(DENSE_FEATURE_NAMES, values.tolist(), strict=True))
    assert x["has_system"] == 1.0
    assert x["conv_turns"] == pytest.approx(math.log1p(2))
    assert x["log_last_user_chars"] == pytest.approx(math.log1p(4))


def test_requested_output_and_needs(kernel: ModuleType) -> None:
    x = dense(kernel, "hi", max_out=4096, needs=CAP_TOOLS | CAP_REASONING)
    assert x["log_max_output"] == pytest.approx(math.log1p(4096))
    assert (x["needs_tools"], x["needs_json"], x["needs_reasoning"]) == (1.0, 0.0, 1.0)
    assert dense(kernel, "hi")["log_max_output"] == pytest.approx(math.log1p(1024))


def test_score_is_logistic_of_bias_plus_contributions(kernel: ModuleType, weights: Weights) -> None:
    result = kernel.score([("user", "Prove Fermat's little theorem.")], 0, CAP_JSON, weights)
    assert 0.0 < result.value < 1.0
    assert result.features.shape == result.contributions.shape == (len(FEATURE_NAMES),)
    logit = weights.bias + float(result.contributions.sum())
    assert result.value == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-9)
    i = F["log_chars"]
    expected = weights.weights[i] * (result.features[i] - weights.center[i]) / weights.scale[i]
    assert result.contributions[i] == pytest.approx(expected)


def test_lexical_term_matches_the_hashed_vector(kernel: ModuleType, weights: Weights) -> None:
    messages = [("user", "Design a cache for a web service and explain the eviction policy.")]
    result = kernel.score(messages, 0, 0, weights)
    _, hashed = kernel.featurize(messages, 0, 0, weights.hash_buckets)
    assert hashed.shape == (weights.hash_buckets,)
    assert result.features[F["lexical"]] == pytest.approx(float(weights.hash_weights @ hashed))
    assert result.features[F["lexical"]] == result.contributions[F["lexical"]]


def test_empty_and_odd_inputs_still_score(kernel: ModuleType, weights: Weights) -> None:
    for messages in ([], [("user", "")], [("user", "\ud800 lone surrogate")], [("tool", "{}")]):
        result = kernel.score(messages, 0, 0, weights)
        assert 0.0 <= result.value <= 1.0
        assert np.all(np.isfinite(result.features))


def test_harder_prompts_score_higher_with_shipped_weights(
    kernel: ModuleType, weights: Weights
) -> None:
    easy = kernel.score([("user", "hi, what is the capital of France?")], 0, 0, weights)
    hard = kernel.score(
        [
            (
                "user",
                "Prove that every finite integral domain is a field, then implement a Python "
                "function that checks whether Z_n is a field and analyse its complexity.",
            )
        ],
        0,
        0,
        weights,
    )
    assert hard.value > easy.value


def test_bad_arguments_name_the_field(kernel: ModuleType, weights: Weights) -> None:
    with pytest.raises(ValueError, match="needs"):
        kernel.score([("user", "x")], 0, -1, weights)
    with pytest.raises(ValueError, match="hash_buckets"):
        kernel.featurize([("user", "x")], 0, 0, 100)


def test_weights_file_round_trips(tmp_path: Path, weights: Weights) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps(weights.to_json()))
    again = load_weights(path)
    assert again.version == weights.version
    assert np.array_equal(again.packed, weights.packed)
    assert weights.meta.get("fitted_on")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"features": ["x"]}, "features"),
        ({"bias": "high"}, "bias"),
        ({"weights": [1.0]}, "weights"),
        ({"hash_weights": [0.0] * 3, "hash_buckets": 3}, "power of two"),
        ({"hash_buckets": 8}, "hash_buckets"),
        ({"hash_buckets": "8"}, "hash_buckets"),
        ({"features": 5}, "features"),
        ({"version": None}, "version"),
        ({"hash_weights": 5}, "hash_weights"),
        ({"center": ["a"] * N_DENSE}, r"w\.json: center"),
        ({"scale": [math.nan] * N_DENSE}, r"w\.json: scale"),
    ],
)
def test_bad_weights_file_names_the_field(
    tmp_path: Path, weights: Weights, change: dict[str, object], field: str
) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({**weights.to_json(), **change}))
    with pytest.raises(WeightsError, match=field):
        load_weights(path)


def test_weights_are_immutable(weights: Weights) -> None:
    with pytest.raises(AttributeError):
        weights.version = "x"
    with pytest.raises(ValueError, match="read-only"):
        weights.packed[0] = 1.0
    assert weights.center.shape == (N_DENSE,)


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"nope\.json"):
        load_weights(tmp_path / "nope.json")
