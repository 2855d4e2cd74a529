"""The shipped providers files name only formats the catalog can parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog.formats import FORMATS
from services.shared.providers import load_providers
from services.simulator.providers import DEMO_PROVIDERS

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("path", [ROOT / "config" / "providers.toml", DEMO_PROVIDERS])
def test_every_shipped_provider_uses_a_known_format(path: Path) -> None:
    providers, errors = load_providers(path)
    assert errors == []
    unknown = {p.name: p.format for p in providers if p.format not in (*FORMATS, "auto")}
    assert unknown == {}


def test_the_default_file_covers_the_free_sources() -> None:
    providers, _ = load_providers(ROOT / "config" / "providers.toml")
    names = {p.name for p in providers}
    assert {
        "openrouter",
        "groq",
        "gemini",
        "cerebras",
        "mistral",
        "github",
        "cohere",
        "cloudflare",
        "pollinations",
        "huggingface",
        "together",
        "ollama",
        "llamacpp",
        "lmstudio",
    } <= names
    local = {p.name for p in providers if p.free_policy == "local"}
    assert local == {"ollama", "llamacpp", "lmstudio"}
