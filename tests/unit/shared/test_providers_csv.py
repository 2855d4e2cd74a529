from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog.providers_cli import main
from services.shared.providers import (
    load_providers,
    providers_from_csv,
    providers_to_csv,
    providers_to_toml,
)

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_file_round_trips_through_csv_and_toml(tmp_path: Path) -> None:
    original, errors = load_providers(ROOT / "config" / "providers.toml")
    assert errors == []
    back, errors = providers_from_csv(providers_to_csv(original), "x.csv")
    assert errors == []
    assert back == original
    toml = tmp_path / "p.toml"
    toml.write_text(providers_to_toml(back))
    assert load_providers(toml) == (original, [])


def test_bad_rows_name_line_and_field_and_good_rows_survive() -> None:
    text = (
        "name,base_url,poll_interval_s,requests_per_minute,scope,headers\n"
        "good,https://a.example/v1,60,30,per_model,X-Title: Freeway\n"
        "slow,https://b.example/v1,soon,,,\n"
        "Bad Name,https://c.example/v1,,,,\n"
        "scoped,https://d.example/v1,,,per_galaxy,\n"
        "hdr,https://e.example/v1,,,,no-colon\n"
    )
    providers, errors = providers_from_csv(text, "p.csv")
    assert [p.name for p in providers] == ["good"]
    assert providers[0].free_tier.requests_per_minute == 30
    assert providers[0].headers == {"X-Title": "Freeway"}
    assert [(e.line, e.field) for e in errors] == [
        (3, "poll_interval_s"),
        (4, "name"),
        (5, "free_tier.scope"),
        (6, "headers"),
    ]
    assert str(errors[0]).startswith("p.csv:3: provider slow: poll_interval_s:")


def test_missing_or_unknown_columns_are_reported() -> None:
    assert providers_from_csv("name\nx\n", "a.csv")[1][0].field == "base_url"
    assert providers_from_csv("name,base_url,colour\n", "a.csv")[1][0].field == "colour"


def test_cli_import_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "p.csv"
    assert (
        main(
            [
                "export",
                "--providers",
                str(ROOT / "config" / "providers.toml"),
                "--out",
                str(csv_path),
            ]
        )
        == 0
    )
    toml_path = tmp_path / "p.toml"
    assert main(["import", str(csv_path), "--out", str(toml_path)]) == 0
    assert load_providers(toml_path)[0] == load_providers(ROOT / "config" / "providers.toml")[0]
    csv_path.write_text("name,base_url\nok,https://x.example\nbad,nope\n")
    assert main(["import", str(csv_path)]) == 1
    out = capsys.readouterr()
    assert 'name = "ok"' in out.out
    assert "p.csv:3: provider bad: base_url" in out.err
