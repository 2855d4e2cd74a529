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
