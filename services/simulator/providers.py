"""The providers the simulator imitates: URL prefix and recorded model-list body of each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDINGS = HERE / "recordings" / "models"
DEMO_PROVIDERS = HERE / "demo-providers.toml"  # every provider at the simulator on DEMO_URL
DEMO_URL = "http://127.0.0.1:8090"


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    prefix: str  # what replaces the provider's real base URL, e.g. /groq/openai/v1
    recording: str  # recorded body, relative to recordings/models

    @property
    def models_path(self) -> str:
        return f"{self.prefix}/models"

    @property
    def chat_path(self) -> str:
        return f"{self.prefix}/chat/completions"


# Prefixes mirror the real base URLs' paths, so a providers file only swaps the host.
PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openrouter",
        "/openrouter/api/v1",
        "openrouter/2026-04-13_c7b9de78_openrouter__TestClient_Warmup.body.json",
    ),
    ProviderSpec(
        "groq", "/groq/openai/v1", "groq/2026-06-22_5aefeb1b_groq__TestClient_Warmup.body.json"
    ),
    ProviderSpec(
        "openai", "/openai/v1", "openai/2026-08-17_23c16cde_openaichat__TestClient_Warmup.body.json"
    ),
    ProviderSpec(
        "cerebras",
        "/cerebras/v1",
        "cerebras/2026-08-17_23c16cde_cerebras__TestClient_Warmup.body.json",
    ),
    ProviderSpec(
        "mistral", "/mistral/v1", "mistral/2026-08-17_23c16cde_mistral__TestClient_Warmup.body.json"
    ),
)


@dataclass(frozen=True)
class ModelList:
    """A model-list body with its precomputed ETag (the hot path only compares strings)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> ModelList:
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def recorded_models(spec: ProviderSpec, recordings: Path = RECORDINGS) -> ModelList:
    return ModelList.of((recordings / spec.recording).read_bytes())


def demo_providers_toml(url: str = DEMO_URL) -> str:
    """The demo's providers file, every provider pointed at the simulator serving at `url`."""
    return DEMO_PROVIDERS.read_text(encoding="utf-8").replace(DEMO_URL, url.rstrip("/"))
