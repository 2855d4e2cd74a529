"""The providers the simulator imitates: URL prefix, recorded model list and chat recordings.

Each prefix mirrors the real base URL's path, so a providers file only swaps the host
(`https://api.groq.com/openai/v1` → `http://127.0.0.1:8090/groq/openai/v1`). Chat answers
follow the exchanges recorded from that provider (`recordings/chat.json.xz`, folder
`<provider>/<model>`); `default` names the recorded model whose shapes answer for models
that were not recorded.
"""

from __future__ import annotations

import hashlib
import lzma
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDINGS = HERE / "recordings"
MODEL_LISTS = RECORDINGS / "models"
DEMO_PROVIDERS = HERE / "demo-providers.toml"  # every provider at the simulator on DEMO_URL
DEMO_URL = "http://127.0.0.1:8090"


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    prefix: str  # what replaces the provider's real base URL, e.g. /groq/openai/v1
    models: str | None  # recorded model-list body under recordings/models/<name>/ (.xz)
    default: str  # the recorded chat folder answering for models that were not recorded
    models_endpoint: str = "/models"
    chat_endpoint: str = "/chat/completions"

    @property
    def models_path(self) -> str:
        return self.prefix + self.models_endpoint

    @property
    def chat_path(self) -> str:
        return self.prefix + self.chat_endpoint


PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openrouter",
        "/openrouter/api/v1",
        "2026-04-13_c7b9de78_openrouter__TestClient_Warmup.body.json",
        "qwen__qwen3.5-35b-a3b_thinking",
    ),
    ProviderSpec(
        "groq",
        "/groq/openai/v1",
        "2026-06-22_5aefeb1b_groq__TestClient_Warmup.body.json",
        "openai__gpt-oss-20b_thinking",
    ),
    ProviderSpec(
        "openai",
        "/openai/v1",
        "2026-08-17_23c16cde_openaichat__TestClient_Warmup.body.json",
        "gpt-5.6-luna_thinking",
    ),
    ProviderSpec(
        "cerebras",
        "/cerebras/v1",
        "2026-08-17_23c16cde_cerebras__TestClient_Warmup.body.json",
        "gpt-oss-120b_thinking",
    ),
    ProviderSpec(
        "mistral",
        "/mistral/v1",
        "2026-08-17_23c16cde_mistral__TestClient_Warmup.body.json",
        "mistral-small-latest",
    ),
    ProviderSpec(
        "deepseek",
        "/deepseek",
        "2025-05-30_9274864e_deepseek__TestClient_Scoreboard_ListModels.body.json",
        "deepseek-v4-flash",
    ),
    ProviderSpec(
        "together",
        "/together/v1",
        "2026-06-22_5aefeb1b_togetherai__TestClient_Warmup.body.json",
        "openai__gpt-oss-20b_thinking",
    ),
    ProviderSpec(
        "baseten",
        "/baseten/v1",
        "2026-06-22_5aefeb1b_baseten__TestClient_Warmup.body.json",
        "openai__gpt-oss-120b_thinking",
    ),
    ProviderSpec(
        "alibaba",
        "/alibaba/compatible-mode/v1",
        "2026-08-17_23c16cde_alibaba__TestClient_Intl_Warmup.body.json",
        "qwen3-vl-flash",
    ),
    ProviderSpec(
        "xiaomi",
        "/xiaomi/v1",
        "2026-08-17_23c16cde_xiaomi__TestClient_Warmup.body.json",
        "mimo-v2.5",
    ),
    ProviderSpec("perplexity", "/perplexity", None, "sonar"),  # no model-list endpoint
    ProviderSpec(  # router.huggingface.co; its model list lives on another host
        "huggingface", "/huggingface/v1", None, "meta-llama__Llama-3.1-8B-Instruct"
    ),
    ProviderSpec(
        "llamacpp",
        "/llamacpp",
        "2026-05-28_bd7a2b9d_llamacpp__TestClient_ListModels.body.json",
        "unsloth__Qwen3.5-2B-GGUF__Qwen3.5-2B-Q4_K_M.gguf",
        models_endpoint="/v1/models",
        chat_endpoint="/v1/chat/completions",
    ),
    ProviderSpec(
        "pollinations",
        "/pollinations",
        "2026-06-14_4c14e1d1_pollinations__TestClient_Warmup.body-2.json",
        "openai",
        chat_endpoint="/openai",
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


def recorded_models(spec: ProviderSpec, recordings: Path = MODEL_LISTS) -> ModelList | None:
    """The recorded model list `spec` serves (None: the provider has no list endpoint)."""
    if spec.models is None:
        return None
    packed = (recordings / spec.name / f"{spec.models}.xz").read_bytes()
    return ModelList.of(lzma.decompress(packed))


def demo_providers_toml(url: str = DEMO_URL) -> str:
    """The demo's providers file, every provider pointed at the simulator serving at `url`."""
    return DEMO_PROVIDERS.read_text(encoding="utf-8").replace(DEMO_URL, url.rstrip("/"))
