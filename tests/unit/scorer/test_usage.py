"""Learning from traffic: the stored vector's codec, the labelling rule, fitting from vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from native import kernel, vectors
from native._common import N_DENSE, Weights, load_weights
from scorer import cli, fitting, usage
from scorer.labelled import Example
from scorer.quality import quality
from services.analytics.usage import MAX_FEATURES
from tests.unit.scorer.test_training import synthetic, write_csv

TIERS = usage.Tiers({"sim/small-1b": 0.1, "sim/big-400b": 0.9})


def stored_list(text: str, buckets: int = 256) -> list[float]:
    dense, hashed = kernel.featurize([("user", text)], 0, 0, buckets)
    return [float(v) for v in vectors.encode(dense, hashed)]


def row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e1",
        "status": "ok",
        "served_model": "sim/small-1b",
        "escalations": 0,
        "escalation_reason": "",
        "feedback_application": None,
        "feedback_judge": None,
        "features": stored_list("hello there"),
    }
    return base | fields


def test_a_repeated_word_stores_its_large_value_exactly() -> None:
    dense, hashed = kernel.featurize([("user", "word " * 20000)], 0, 0, 1 << 14)
    assert np.max(np.abs(hashed)) > 50  # a bucket's value grows as sqrt(keys)
    stored = vectors.decode(vectors.encode(dense, hashed))
    np.testing.assert_allclose(stored.values, hashed[stored.buckets], rtol=1e-9)


def test_the_stored_vector_is_featurize_and_fits_in_a_usage_event() -> None:
    assert vectors.MAX_VALUES == MAX_FEATURES  # what analytics accepts
    dense, hashed = kernel.featurize([("user", "Solve x^2 = 4 for x, step by step.")], 0, 0, 1024)
    stored = vectors.decode(vectors.encode(dense, hashed))
    np.testing.assert_array_equal(stored.dense, dense)
    rebuilt = np.zeros(1024)
    rebuilt[stored.buckets] = stored.values
    np.testing.assert_allclose(rebuilt, hashed, atol=1e-9)
    # folding to fewer buckets is what featurize gives there
    _, small = kernel.featurize([("user", "Solve x^2 = 4 for x, step by step.")], 0, 0, 64)
    folded = np.zeros(64)
    np.add.at(folded, *stored.folded(64))
    np.testing.assert_allclose(folded, small, atol=1e-8)
    with pytest.raises(vectors.VectorError):
        stored.folded(2048)


def test_a_long_prompt_keeps_its_dense_part_and_says_its_hashed_part_is_omitted() -> None:
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    text = " ".join("".join(rng.choice(letters, 7)) for _ in range(3000))
    dense, hashed = kernel.featurize([("user", text)], 0, 0, 1 << 14)
    encoded = vectors.encode(dense, hashed)
    assert encoded.size <= vectors.MAX_VALUES
    assert vectors.decode(encoded).hashed_omitted


def test_old_or_bad_vectors_are_refused() -> None:
    with pytest.raises(vectors.VectorError):
        vectors.decode([1.0] * (N_DENSE + 1))  # the older layout: dense + lexical sum
    with pytest.raises(vectors.VectorError):
        vectors.decode([-1.0, 3.0, 0.0] + [0.0] * N_DENSE)  # not a power of two


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"feedback_application": 1.0}, (1.0, 1.0)),  # thumbs up on a weak answer: it sufficed
        ({"feedback_application": 0.0}, (1.0, 0.0)),  # thumbs down: it needs the strong one
        ({"feedback_judge": 0.3}, (1.0, 0.3)),  # a judge's score, when the app gave none
        ({"feedback_application": 1.0, "feedback_judge": 0.0}, (1.0, 1.0)),  # the app wins
        ({"escalations": 1, "escalation_reason": "refusal"}, (1.0, 0.0)),  # cascade: failed
        ({"escalations": 1, "escalation_reason": "empty", "feedback_application": 1.0}, (1.0, 0.0)),
        ({"served_model": "sim/big-400b", "feedback_application": 0.0}, "strong"),
        ({"served_model": "sim/big-400b", "feedback_application": 1.0}, "strong"),
        ({"served_model": "other/unknown", "feedback_application": 1.0}, "catalogue"),
        ({}, "no feedback"),
        ({"escalations": 0, "escalation_reason": "none better"}, "no feedback"),
        ({"status": "error", "feedback_application": 0.0}, "not answered"),
    ],
)
def test_the_labelling_rule(fields: dict[str, Any], expected: tuple[float, float] | str) -> None:
    verdict = usage.label(row(**fields), TIERS)
    if isinstance(expected, str):
        assert isinstance(verdict, str)
        assert expected in verdict
    else:
        assert verdict == expected


def test_rows_without_usable_vectors_are_skipped_and_counted() -> None:
    rows = [
        row(event_id="a", feedback_application=1.0),
        row(event_id="b", feedback_application=1.0, features=None),
        row(event_id="c", feedback_application=1.0, features=[0.5] * (N_DENSE + 1)),
        row(event_id="d", feedback_application=1.0, features=stored_list("x", buckets=64)),
        row(event_id="e", served_model="sim/big-400b", feedback_application=1.0),
    ]
    labelled = usage.examples(rows, TIERS, 256, weight=2.0)
    assert [e.key for e in labelled.examples] == ["a"]
    assert labelled.examples[0].weight == 2.0
    assert sum(labelled.skipped.values()) == 4
    assert "1 weak sufficed" in labelled.summary()


def vector_twins(examples: list[Example], buckets: int) -> list[usage.VectorExample]:
    """Each prompt as a usage row would carry it: its stored vector, no text."""
    out = []
    for i, e in enumerate(examples):
        dense, hashed = kernel.featurize(list(e.messages), 0, 0, buckets)
        stored = vectors.decode(vectors.encode(dense, hashed))
        out.append(usage.VectorExample(f"event-{i}", stored, e.strong, e.weak))
    return out


def test_fitting_from_vectors_is_fitting_from_the_text() -> None:
    examples = synthetic(300)
    twins = vector_twins(examples, 1024)
    text = fitting.featurize_all(examples, 256)
    stored = fitting.featurize_all(twins, 256)  # folded from 1024 buckets
    np.testing.assert_array_equal(stored.dense, text.dense)
    for design in (text, stored):
        assert np.allclose(design.hashed_t_dot(np.ones(300)), text.hashed_t_dot(np.ones(300)))
    hyper = fitting.Hyper(1e-3, 1e-3, "hard", 1.0)
    y = fitting.targets(twins, "hard")
    model = fitting.fit(stored, y, np.ones(len(twins)), hyper)
    strong = np.array([e.strong for e in twins])
    weak = np.array([e.weak for e in twins])
    assert quality(model.logits(stored), strong, weak).apgr > 0.75


def test_a_stored_vector_scores_as_the_kernel_scores_its_prompt(weights: Weights) -> None:
    messages = [("user", "Derive the integral of x log x and explain each step.")]
    dense, hashed = kernel.featurize(messages, 0, 0, weights.hash_buckets)
    stored = vectors.decode(vectors.encode(dense, hashed))
    expected = kernel.score(messages, 0, 0, weights).value
    assert fitting.score_stored(stored, weights) == pytest.approx(expected, abs=1e-7)


def usage_export(path: Path, examples: list[Example], buckets: int) -> None:
    """A JSON-lines export of traffic: a weak model answered, the application scored it."""
    with path.open("w") as out:
        for i, e in enumerate(examples):
            dense, hashed = kernel.featurize(list(e.messages), 0, 0, buckets)
            out.write(
                json.dumps(
                    row(
                        event_id=f"event-{i}",
                        feedback_application=e.weak,
                        features=vectors.encode(dense, hashed).tolist(),
                    )
                )
                + "\n"
            )


def test_fit_from_a_usage_export_alone_learns_from_feedback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "usage.jsonl"
    usage_export(export, synthetic(240, seed=2), 64)
    qualities = tmp_path / "q.json"
    qualities.write_text(json.dumps({"sim/small-1b": 0.1}))
    out = tmp_path / "w.json"
    argv = ["fit", "--from-usage", str(export), "--only-usage", "--qualities", str(qualities)]
    assert cli.main([*argv, "--out", str(out), "--buckets", "64"]) == 0
    weights = load_weights(out)
    doc = json.loads(out.read_text())
    assert doc["validation"]["usage"]["scorer"]["apgr"] > 0.6
    assert weights.version.endswith("-u240")
    assert not list(tmp_path.glob("*.tmp"))  # the staged file was renamed into place
    printed = capsys.readouterr().out
    assert "240 usage examples" in printed
    assert "APGR" in printed


def test_usage_needs_a_way_to_tell_weak_from_strong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "usage.jsonl"
    usage_export(export, synthetic(10), 64)
    assert cli.main(["fit", "--from-usage", str(export), "--only-usage"]) == 2
    assert "--catalog" in capsys.readouterr().err
    assert cli.main(["fit", "--only-usage"]) == 2
    assert "--from-usage" in capsys.readouterr().err


def test_fit_from_usage_beside_labelled_prompts_weighs_usage(tmp_path: Path) -> None:
    data = tmp_path / "mmlu_synthetic.csv"
    write_csv(data, synthetic(120, seed=3))
    export = tmp_path / "usage.jsonl"
    usage_export(export, synthetic(80, seed=4), 64)
    qualities = tmp_path / "q.json"
    qualities.write_text(json.dumps({"sim/small-1b": 0.1}))
    out = tmp_path / "w.json"
    argv = ["fit", str(data), "--from-usage", str(export), "--qualities", str(qualities)]
    assert cli.main([*argv, "--usage-weight", "0.5", "--out", str(out), "--buckets", "64"]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["validation"]) == {"mmlu", "usage", "all"}
    assert doc["fitted_on"]["usage_weight"] == 0.5
    assert set(doc["fitted_on"]["sources"]) == {"mmlu", "usage"}
