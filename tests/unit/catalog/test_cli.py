"""``freeway catalog parse|diff`` on real recorded bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.catalog.cli import main, provider_from_path
from tests import corpus

BODIES = {  # in data/providers; the CLI reads files, so they are written out first
    "openrouter": "openrouter/maruel-genai/2026-04-13_c7b9de78_openrouter__TestClient_Warmup"
    ".body.json",
    "groq": "groq/maruel-genai/2026-06-22_5aefeb1b_groq__TestClient_Warmup.body.json",
}
REQUIRED = {
    "id", "provider", "is_free", "free_reason", "context_window",
    "input_price_per_mtok", "output_price_per_mtok", "capabilities",
}  # fmt: skip


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The recorded bodies as files under …/providers/<provider>/ (the CLI's naming)."""
    root = tmp_path_factory.mktemp("recorded") / "providers"
    return {name: corpus.place("providers", path, root) for name, path in BODIES.items()}


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_parse_prints_one_json_object_per_model(
    bodies: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(bodies["openrouter"])]) == 0
    out, err = capsys.readouterr()
    rows = _lines(out)
    assert len(rows) == 350
    assert all(row.keys() >= REQUIRED for row in rows)
    assert all(row["provider"] == "openrouter" for row in rows)  # from the folder name
    free = [row for row in rows if row["is_free"]]
    assert sum(str(row["id"]).endswith(":free") for row in free) == 24
    assert "format openrouter, 350 model(s)" in err


def test_parse_several_files_with_a_forced_provider(
    bodies: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(bodies["groq"]), str(bodies["openrouter"])]
    assert main(["parse", *files, "--provider", "mirror"]) == 0
    rows = _lines(capsys.readouterr().out)
    assert {str(row["id"]).split("/", 1)[0] for row in rows} == {"mirror"}


def test_forced_format_mismatch_and_missing_files_fail_but_others_print(
    bodies: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": ')
    status = main(["parse", str(broken), str(tmp_path / "absent.json"), str(bodies["groq"])])
    out, err = capsys.readouterr()
    assert status == 1
    assert len(_lines(out)) == 17
    assert "broken.json: body is not valid JSON" in err
    assert "absent.json: cannot read" in err


def test_bad_arguments_exit_2(bodies: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(bodies["groq"]), "--format", "nope"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_diff_prints_the_changes_between_two_bodies(
    bodies: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = json.loads(bodies["groq"].read_text())
    body["data"] = body["data"][1:]  # one model gone
    body["data"][0]["context_window"] = 1_000_000  # one model changed
    body["data"][0]["context_length"] = 1_000_000
    newer = tmp_path / "providers" / "groq" / "newer.json"
    newer.parent.mkdir(parents=True)
    newer.write_text(json.dumps(body))
    assert main(["diff", str(bodies["groq"]), str(newer)]) == 0
    changes = _lines(capsys.readouterr().out)
    assert [c["type"] for c in changes] == ["changed", "removed"]
    assert changes[0]["changed_fields"] == ["context_window"]
    assert changes[0]["new"] == {"context_window": 1_000_000}


def test_provider_comes_from_the_folder_after_providers() -> None:
    assert provider_from_path(Path("/x/data/providers/groq/maruel-genai/a.json")) == "groq"
    assert provider_from_path(Path("/tmp/body.json")) == ""
