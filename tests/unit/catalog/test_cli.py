"""``freeway catalog parse|diff`` on real recorded bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.catalog.cli import main, provider_from_path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers"
OPENROUTER = FIXTURES / "openrouter" / "2026-04-13_c7b9de78_openrouter__TestClient_Warmup.body.json"
GROQ = FIXTURES / "groq" / "2026-06-22_5aefeb1b_groq__TestClient_Warmup.body.json"
REQUIRED = {
    "id", "provider", "is_free", "free_reason", "context_window",
    "input_price_per_mtok", "output_price_per_mtok", "capabilities",
}  # fmt: skip


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_parse_prints_one_json_object_per_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(OPENROUTER)]) == 0
    out, err = capsys.readouterr()
    rows = _lines(out)
    assert len(rows) == 350
    assert all(row.keys() >= REQUIRED for row in rows)
    assert all(row["provider"] == "openrouter" for row in rows)  # from the folder name
    free = [row for row in rows if row["is_free"]]
    assert sum(str(row["id"]).endswith(":free") for row in free) == 24
    assert "format openrouter, 350 model(s)" in err


def test_parse_several_files_with_a_forced_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(GROQ), str(OPENROUTER), "--provider", "mirror"]) == 0
    rows = _lines(capsys.readouterr().out)
    assert {str(row["id"]).split("/", 1)[0] for row in rows} == {"mirror"}


def test_forced_format_mismatch_and_missing_files_fail_but_others_print(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": ')
    status = main(["parse", str(broken), str(tmp_path / "absent.json"), str(GROQ)])
    out, err = capsys.readouterr()
    assert status == 1
    assert len(_lines(out)) == 17
    assert "broken.json: body is not valid JSON" in err
    assert "absent.json: cannot read" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(GROQ), "--format", "nope"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_diff_prints_the_changes_between_two_bodies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = json.loads(GROQ.read_text())
    body["data"] = body["data"][1:]  # one model gone
    body["data"][0]["context_window"] = 1_000_000  # one model changed
    body["data"][0]["context_length"] = 1_000_000
    newer = tmp_path / "providers" / "groq" / "newer.json"
    newer.parent.mkdir(parents=True)
    newer.write_text(json.dumps(body))
    assert main(["diff", str(GROQ), str(newer)]) == 0
    changes = _lines(capsys.readouterr().out)
    assert [c["type"] for c in changes] == ["changed", "removed"]
    assert changes[0]["changed_fields"] == ["context_window"]
    assert changes[0]["new"] == {"context_window": 1_000_000}


def test_provider_comes_from_the_folder_after_providers() -> None:
    assert provider_from_path(Path("/x/shared/data/providers/groq/maruel-genai/a.json")) == "groq"
    assert provider_from_path(Path("/tmp/body.json")) == ""
