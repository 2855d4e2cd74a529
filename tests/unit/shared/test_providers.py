from __future__ import annotations

from pathlib import Path

from services.shared.providers import load_providers

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_providers_file_loads_cleanly() -> None:
    providers, errors = load_providers(ROOT / "config" / "providers.toml")
    assert errors == []
    names = {p.name for p in providers}
    assert {"openrouter", "groq", "gemini", "cerebras", "mistral", "ollama"} <= names
    for p in providers:
        assert p.base_url.startswith(("https://", "http://127.0.0.1"))


def test_bad_entry_is_reported_with_line_and_field_and_others_still_load(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[[providers]]\nname = "good"\nbase_url = "https://a.example/v1"\n\n'
        '[[providers]]\nname = "bad"\nbase_url = "ftp://nope"\n\n'
        '[[providers]]\nname = "worse"\nbase_url = "https://b.example"\npoll_interval_s = -1\n'
    )
    providers, errors = load_providers(path)
    assert [p.name for p in providers] == ["good"]
    assert [(e.line, e.provider, e.field) for e in errors] == [
        (5, "bad", "base_url"),
        (9, "worse", "poll_interval_s"),
    ]
    assert str(errors[0]).startswith(f"{path}:5: provider bad: base_url:")


def test_unknown_field_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[[providers]]\nname = "a"\nbase_url = "https://a.example"\nbase_ulr = "x"\n'
        '[[providers]]\nname = "b"\nbase_url = "https://a.example"\n'
        '[[providers]]\nname = "b"\nbase_url = "https://a.example"\n'
    )
    providers, errors = load_providers(path)
    assert [p.name for p in providers] == ["b"]
    assert [(e.field, e.message.split(" (")[0]) for e in errors] == [
        ("base_ulr", "unknown field"),
        ("name", "duplicate name"),
    ]


def test_keys_come_from_the_named_env_var(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[[providers]]\nname = "x"\nbase_url = "https://x.example/v1"\n'
        'api_key_env = "X_KEY"\nheaders = { "X-Title" = "Freeway" }\n'
    )
    (p,), _ = load_providers(path)
    assert p.missing_key({})
    assert p.auth_headers({"X_KEY": "k1"}) == {"X-Title": "Freeway", "Authorization": "Bearer k1"}
    assert p.chat_url == "https://x.example/v1/chat/completions"


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[providers]\n")
    assert load_providers(bad)[1][0].field == "toml"
    assert load_providers(tmp_path / "none.toml")[1][0].field == "file"
