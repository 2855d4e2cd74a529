"""Price enrichment in the running service: a provider whose list states no prices (the
recorded Mistral list) gets them from the configured price catalogues, with their source; a
price file that cannot be read is reported and skipped; what no catalogue knows stays
unpriced (unset, never $0) and is raised in the log."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from freeway.catalog.v1 import catalog_pb2
from freeway.common.v1 import common_pb2
from services.catalog.app import App
from services.shared.providers import FreeTier, ProviderConfig
from tests import corpus
from tests.integration.catalog.conftest import AppFactory, fast_settings, stub_for
from tests.integration.catalog.provider import FakeProvider

pytestmark = pytest.mark.integration

MISTRAL_LIST = "mistral/maruel-genai/2026-08-17_23c16cde_mistral__TestClient_Warmup.body.json"
KEY_ENV = "FREEWAY_TEST_OPENROUTER_KEY"  # the key the fixtures' env provides

LITELLM_MAP = {
    "sample_spec": {"litellm_provider": "one of …", "input_cost_per_token": 0.0},
    "mistral/mistral-small-latest": {
        "litellm_provider": "mistral",
        "input_cost_per_token": 1e-07,
        "output_cost_per_token": 3e-07,
        "max_input_tokens": 131072,
    },
    "mistral/mistral-embed": {  # a catalogue zero is no evidence of a price: ignored
        "litellm_provider": "mistral",
        "input_cost_per_token": 0,
        "output_cost_per_token": 0,
    },
}
MODELS_DEV_API = {
    "mistral": {
        "id": "mistral",
        "models": {
            "mistral-small-latest": {
                "id": "mistral-small-latest",
                "cost": {"input": 9, "output": 9},
            },
            "mistral-large-latest": {
                "id": "mistral-large-latest",
                "cost": {"input": 0.5, "output": 1.5},
            },
        },
    }
}


def mistral() -> ProviderConfig:
    return ProviderConfig(
        name="mistral",
        base_url="http://api.mistral.test/api/v1",  # served by the loopback model-list server
        format="mistral",
        api_key_env=KEY_ENV,
        free_policy="free_tier",
        free_tier=FreeTier(requests_per_minute=60, scope="per_account"),
    )


@pytest.fixture
def price_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "litellm": tmp_path / "model_prices_and_context_window.json",
        "broken": tmp_path / "broken.json",
        "missing": tmp_path / "no-such-file.json",
        "models.dev": tmp_path / "api.json",
    }
    files["litellm"].write_text(json.dumps(LITELLM_MAP))
    files["broken"].write_text('{"mistral/mistral-small": ')
    files["models.dev"].write_text(json.dumps(MODELS_DEV_API))
    return files


async def mistral_app(make_app: AppFactory, provider: FakeProvider, paths: list[Path]) -> App:
    provider.models = json.loads(corpus.read("providers", MISTRAL_LIST))["data"]
    settings = fast_settings(price_files=tuple(str(p) for p in paths))
    return await make_app(settings, providers=[mistral()])


async def listed(app: App) -> dict[str, common_pb2.Model]:
    """The Mistral models `app` serves, by id (over gRPC, on its own port)."""
    channel, stub = stub_for(app)
    try:
        reply = await stub.ListModels(catalog_pb2.ListModelsRequest(provider="mistral"), timeout=10)
    finally:
        await channel.close()
    return {m.id: m for m in reply.models}


async def test_a_list_without_prices_is_priced_from_the_catalogues(
    make_app: AppFactory,
    provider: FakeProvider,
    price_files: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "freeway.catalog")
    order = ["litellm", "broken", "missing", "models.dev"]
    app = await mistral_app(make_app, provider, [price_files[k] for k in order])
    models = await listed(app)
    channel, stub = stub_for(app)
    status = await stub.ListProviders(catalog_pb2.ListProvidersRequest(), timeout=10)
    await channel.close()

    raw = json.loads(corpus.read("providers", MISTRAL_LIST))["data"]
    assert set(models) == {f"mistral/{m['id']}" for m in raw}
    small, large = models["mistral/mistral-small-latest"], models["mistral/mistral-large-latest"]
    # Both catalogues know the small model: the first file listed wins.
    assert (small.input_price_per_mtok, small.output_price_per_mtok) == pytest.approx((0.1, 0.3))
    assert small.price_source == "litellm"
    assert (large.input_price_per_mtok, large.output_price_per_mtok) == pytest.approx((0.5, 1.5))
    assert large.price_source == "models.dev"
    # Priced or not, the models stay free by the provider's free tier (its Experiment plan).
    assert all(m.is_free for m in models.values())
    assert small.free_reason == common_pb2.FREE_REASON_PROVIDER_FREE_TIER
    assert status.providers[0].healthy


async def test_what_no_catalogue_knows_stays_unpriced_and_is_raised(
    make_app: AppFactory,
    provider: FakeProvider,
    price_files: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "freeway.catalog")
    app = await mistral_app(make_app, provider, [price_files["litellm"], price_files["models.dev"]])
    models = await listed(app)

    unknown = [m for m in models.values() if not m.HasField("input_price_per_mtok")]
    zero_in_catalogue = models["mistral/mistral-embed"]
    warnings = [r.getMessage() for r in caplog.records if "unpriced" in r.getMessage()]

    assert len(unknown) == len(models) - 2
    assert all(not m.HasField("output_price_per_mtok") and not m.price_source for m in unknown)
    assert zero_in_catalogue in unknown
    [warning] = warnings
    assert warning.startswith(
        f"mistral: {len(unknown)} model(s) without a known price (unpriced): "
    )
    assert f"and {len(unknown) - 10} more" in warning


async def test_bad_price_files_are_reported_with_their_path_and_skipped(
    make_app: AppFactory,
    provider: FakeProvider,
    price_files: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "freeway.catalog")
    app = await mistral_app(make_app, provider, [price_files["broken"], price_files["missing"]])
    models = await listed(app)

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert str(price_files["broken"]) in errors[0]
    assert str(price_files["missing"]) in errors[1]
    assert all(e.startswith("price catalogue skipped: ") for e in errors)
    assert models  # the service serves regardless
    assert not any(m.HasField("input_price_per_mtok") for m in models.values())
