"""Fitting and RouteLLM-style quality measurement (`freeway router fit|eval`)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from native._common import load_weights
from scorer import cli, fitting, labelled
from scorer.labelled import DataError, Example
from scorer.quality import quality, random_quality


def arrays(strong: list[float], weak: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(strong, dtype=np.float64), np.array(weak, dtype=np.float64)


def test_apgr_and_cpt_on_a_hand_computed_case() -> None:
    strong, weak = arrays([1, 1, 1, 1], [0, 1, 1, 1])
    q = quality(np.array([0.9, 0.1, 0.2, 0.3]), strong, weak)
    # PGR climbs 0 -> 1 over the first quarter of strong calls, then stays at 1
    assert q.apgr == pytest.approx(0.125 + 0.75)
    assert q.cpt50 == pytest.approx(0.125)
    assert q.cpt80 == pytest.approx(0.2)
    worst = quality(np.array([0.0, 0.1, 0.2, 0.3]), strong, weak)
    assert worst.apgr == pytest.approx(0.125)


def test_ties_count_as_random_order_within_them() -> None:
    strong, weak = arrays([1, 1, 0, 1, 1, 0], [0, 1, 0, 0, 1, 1])
    flat = quality(np.zeros(6), strong, weak)
    assert flat.apgr == pytest.approx(0.5)
    assert flat.cpt50 == pytest.approx(0.5)


def test_random_routing_is_about_one_half() -> None:
    rng = np.random.default_rng(3)
    strong = (rng.random(400) < 0.8).astype(float)
    weak = (rng.random(400) < 0.6).astype(float)
    q = random_quality(strong, weak, draws=100)
    assert q.apgr == pytest.approx(0.5, abs=0.03)


def test_no_gap_gives_nan_not_a_crash() -> None:
    strong, weak = arrays([1, 0], [1, 0])
    assert math.isnan(quality(np.array([0.3, 0.7]), strong, weak).apgr)


def test_lbfgs_minimises_a_quadratic() -> None:
    target = np.array([1.0, -2.0, 3.0])

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        d = x - target
        return float(d @ (np.arange(1, 4) * d)), 2 * np.arange(1, 4) * d

    assert fitting.lbfgs(objective, np.zeros(3)) == pytest.approx(target, abs=1e-4)


def synthetic(n: int, seed: int = 0) -> list[Example]:
    """Prompts where the word 'theorem' means the weak model fails and the strong succeeds."""
    rng = np.random.default_rng(seed)
    words = ["apple", "river", "music", "green", "window", "table", "story", "cloud"]
    examples = []
    for i in range(n):
        hard = bool(rng.random() < 0.4)
        text = " ".join(rng.choice(words, size=8)) + (" theorem" if hard else " banana")
        text += f" #{i}"
        weak = 0.0 if hard and rng.random() < 0.9 else 1.0
        examples.append(Example((("user", text),), 1.0, weak, "synthetic"))
    return examples


def test_fit_learns_a_lexical_signal() -> None:
    examples = synthetic(300)
    design = fitting.featurize_all(examples, 256)
    hyper = fitting.Hyper(1e-3, 1e-3, "hard", 1.0)
    y = fitting.targets(examples, "hard")
    model = fitting.fit(design, y, np.ones(len(examples)), hyper)
    strong = np.array([e.strong for e in examples])
    weak = np.array([e.weak for e in examples])
    assert quality(model.logits(design), strong, weak).apgr > 0.75


def write_csv(path: Path, examples: list[Example]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", labelled.WEAK, labelled.STRONG])
        for e in examples:
            writer.writerow([e.messages[0][1], e.weak == 1.0, e.strong == 1.0])


def test_fit_command_writes_loadable_weights_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "mmlu_synthetic.csv"
    examples = synthetic(240, seed=1)
    write_csv(data, examples)
    held_out = sum(fitting.is_test(e) for e in examples)
    out = tmp_path / "w.json"
    assert cli.main(["fit", str(data), "--out", str(out), "--buckets", "64"]) == 0
    weights = load_weights(out)
    assert weights.hash_buckets == 64
    doc = json.loads(out.read_text())
    assert doc["validation"]["all"]["scorer"]["apgr"] > 0.6
    assert doc["fitted_on"]["sources"] == {"mmlu": 240 - held_out}
    assert doc["validation"]["all"]["n"] == held_out
    printed = capsys.readouterr().out
    assert "APGR" in printed
    assert "length" in printed


def test_loaders_read_labels_and_messages(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "hi"}], "label": 0},
        {"prompt": "prove it", "strong": 0.9, "weak": 0.2},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    first, second = labelled.load([path])
    assert first.messages == (("user", "hi"),)
    assert (first.strong, first.weak) == (1.0, 1.0)
    assert (second.strong, second.weak) == (0.9, 0.2)


def test_bad_data_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,score\nhello,1\n")
    with pytest.raises(DataError, match="missing column 'prompt'"):
        labelled.load([path])
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"prompt": "x"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:1"):
        labelled.load([jsonl])
    with pytest.raises(DataError, match="no such file"):
        labelled.load([tmp_path / "absent.csv"])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("short.csv", b"prompt,strong,weak\nhi,1\n", r"short\.csv:2: fewer fields"),
        ("weak.csv", b"prompt,strong,weak\nhi,1,x\n", r"weak\.csv:2 weak: not a boolean"),
        ("latin.csv", b"prompt,label\n\xe9t\xe9,1\n", r"latin\.csv: not UTF-8"),
        ("chat.jsonl", b'{"messages": ["hi"], "label": 1}\n', r"chat\.jsonl:1: messages\[0\]"),
        ("list.jsonl", b"[1]\n", r"list\.jsonl:1: expected a JSON object"),
    ],
)
def test_bad_data_lines_are_named(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        labelled.load([path])


def test_incomplete_benchmark_folders_name_the_missing_part(tmp_path: Path) -> None:
    mt = tmp_path / "mt_bench"
    mt.mkdir()
    (mt / "judgements.jsonl").write_text('{"model": "x"}\n')
    with pytest.raises(DataError, match=r"question\.jsonl: No such file"):
        labelled.load([mt])
    (mt / "question.jsonl").write_text('{"question_id": 1, "turns": ["q"]}\n')
    with pytest.raises(DataError, match=r"judgements\.jsonl:1: missing field 'question_id'"):
        labelled.load([mt])


def test_fit_command_reports_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("prompt,label\n")
    assert cli.main(["fit", str(empty), "--out", str(tmp_path / "w.json")]) == 2
    assert capsys.readouterr().err == f"error: no labelled prompts in {empty}\n"
    with pytest.raises(SystemExit):
        cli.main(["fit", str(empty), "--buckets", "100"])
    assert "--buckets: must be a power of two" in capsys.readouterr().err


def test_split_is_stable_and_about_fifteen_percent() -> None:
    examples = synthetic(2000, seed=2)
    held = [fitting.is_test(e) for e in examples]
    assert held == [fitting.is_test(e) for e in examples]
    assert 0.12 < sum(held) / len(held) < 0.18


def test_the_vendored_sets_load_from_the_repository() -> None:
    examples = labelled.load(labelled.default_data())
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.source] = counts.get(example.source, 0) + 1
    assert set(counts) == set(labelled.SOURCES)
    assert counts["mmlu"] > 9000
    assert counts["gsm8k"] > 800
    assert counts["mt_bench"] > 100
    assert counts["arena"] > 200
    assert labelled.DATA_ROOT.is_relative_to(Path(labelled.__file__).resolve().parent.parent)


def test_compressed_files_read_like_plain_ones(tmp_path: Path) -> None:
    import gzip
    import lzma

    rows = b'{"prompt": "prove it", "strong": 1, "weak": 0}\n'
    (tmp_path / "a.jsonl.xz").write_bytes(lzma.compress(rows))
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(rows.replace(b"prove", b"show")))
    (tmp_path / "c.jsonl.xz").write_bytes(b"not xz")
    with pytest.raises(DataError, match=r"c\.jsonl\.xz: not a valid \.xz file"):
        labelled.load([tmp_path])
    (tmp_path / "c.jsonl.xz").unlink()
    loaded = labelled.load([tmp_path])
    assert [e.messages for e in loaded] == [(("user", "prove it"),), (("user", "show it"),)]
