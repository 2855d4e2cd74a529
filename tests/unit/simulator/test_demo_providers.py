"""The demo's providers file: shipped inside the simulator package, every provider at it."""

from __future__ import annotations

from pathlib import Path

from services.shared.providers import load_providers
from services.simulator.providers import DEMO_URL, PROVIDERS, demo_providers_toml


def test_every_demo_provider_points_at_the_simulator(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text(demo_providers_toml("http://127.0.0.1:9999/"), encoding="utf-8")
    providers, errors = load_providers(path)
    assert errors == []
    prefixes = {spec.name: spec.prefix for spec in PROVIDERS}
    assert providers, "the demo file names no provider"
    for provider in providers:
        assert provider.base_url == "http://127.0.0.1:9999" + prefixes[provider.name]
        assert DEMO_URL not in provider.base_url


def test_demo_providers_speak_the_dialects_of_the_real_ones(tmp_path: Path) -> None:
    """The demo routes as production would: each simulated provider's chat dialect
    (capabilities, renames, advisory fields, streamed usage) is the providers file's."""
    path = tmp_path / "providers.toml"
    path.write_text(demo_providers_toml(), encoding="utf-8")
    demo, errors = load_providers(path)
    assert errors == []
    real, errors = load_providers(Path(__file__).parents[3] / "config" / "providers.toml")
    assert errors == []
    by_name = {p.name: p for p in real}
    for provider in demo:
        theirs = by_name[provider.name]
        dialect = ("capabilities", "rename", "advisory", "stream_usage", "free_policy", "free_tier")
        assert {k: getattr(provider, k) for k in dialect} == {
            k: getattr(theirs, k) for k in dialect
        }, provider.name
