"""Request → needs / constraints → the kernel's decision (real kernel, small catalogues)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from native import kernel
from services.router import strategies, wire
from services.router.breaker import BreakerPolicy, HealthBoard
from services.router.catalogue import ModelInfo
from services.router.request import read_body
from services.router.routing import Router, RouteRequest, needs_mask
from services.shared.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from services.shared.vocabulary import Capability

TOOLS, VISION, JSON, REASONING = 1, 2, 3, 4
JSON_BIT = Capability.JSON.bit
HELLO = (("user", "hello there"),)


def free(
    model_id: str, quality: float, context: int = 32_000, caps: tuple[int, ...] = ()
) -> ModelInfo:
    provider, _, upstream = model_id.partition("/")
    return ModelInfo(
        id=model_id,
        provider=provider,
        upstream_id=upstream,
        context_window=context,
        input_price=0.0,
        output_price=0.0,
        is_free=True,
        capabilities=frozenset(caps),
        quality=quality,
    )


def paid(model_id: str, quality: float, price: float) -> ModelInfo:
    provider, _, upstream = model_id.partition("/")
    return ModelInfo(
        id=model_id,
        provider=provider,
        upstream_id=upstream,
        context_window=128_000,
        input_price=price,
        output_price=price * 4,
        quality=quality,
    )


CATALOGUE = (
    free("alpha/small", 0.90, context=4_096),
    free("alpha/tools", 0.80, caps=(TOOLS, JSON)),
    free("beta/vision", 0.70, caps=(VISION,)),
    free("beta/big", 0.60, context=1_000_000),
    paid("gamma/pro", 0.99, price=2.0),
)


def router(**options: object) -> Router:
    built = Router(HealthBoard(BreakerPolicy()), **options)  # type: ignore[arg-type]
    built.install(CATALOGUE, 7)
    return built


def ids(models: tuple[ModelInfo, ...]) -> list[str]:
    return [m.id for m in models]


def test_needs_from_capabilities_and_the_requests_own_needs() -> None:
    assert needs_mask([TOOLS, VISION]) == kernel.CAP_TOOLS | kernel.CAP_VISION
    assert needs_mask([], kernel.CAP_JSON) == kernel.CAP_JSON
    assert needs_mask([REASONING]) == kernel.CAP_REASONING
    with pytest.raises(InvalidArgument, match=r"constraints\.capabilities"):
        needs_mask([99])


def test_proto_request_translates_every_constraint() -> None:
    request = router_pb2.CompletionRequest(
        body='{"model": "auto", "messages": [{"role": "user", "content": "hi"}], '
        '"max_tokens": 256, "response_format": {"type": "json_object"}}',
        strategy=common_pb2.STRATEGY_QUALITY,
        constraints=router_pb2.Constraints(
            capabilities=[common_pb2.CAPABILITY_TOOLS],
            min_context=9000,
            allow=["alpha"],
            deny=["alpha/small"],
            max_price_per_mtok=0.5,
            free_only=True,
        ),
    )
    route = wire.route_request(request, wire.chat_request(request))
    assert route == RouteRequest(
        messages=(("user", "hi"),),
        model="auto",
        max_tokens=256,
        capabilities=(TOOLS,),
        needs=JSON_BIT,
        need_fields=((JSON_BIT, "response_format"),),
        min_context=9000,
        allow=("alpha",),
        deny=("alpha/small",),
        max_price=0.5,
        free_only=True,
        strategy=strategies.QUALITY,
    )
    unset = router_pb2.CompletionRequest(body='{"messages": [{"role": "user", "content": "x"}]}')
    route = wire.route_request(unset, wire.chat_request(unset))
    assert (route.max_tokens, route.max_price, route.strategy) == (None, None, 0)
    in_body = router_pb2.CompletionRequest(body='{"messages": [], "strategy": "cost"}')
    with pytest.raises(InvalidArgument, match="messages"):
        wire.chat_request(in_body)


def test_free_first_ranks_free_models_and_never_pays_by_default() -> None:
    decision = router().decide(RouteRequest(messages=HELLO))
    assert ids(decision.candidates) == ["alpha/small", "alpha/tools", "beta/vision", "beta/big"]
    assert decision.strategy == strategies.FREE_FIRST
    assert decision.catalog_version == 7
    assert decision.reason.startswith("free-first: alpha/small (free")
    assert 0.0 <= decision.complexity <= 1.0
    assert [name for name, _, _ in decision.features()] == list(kernel.FEATURE_NAMES)
    assert decision.prompt_tokens > 0


def test_capabilities_and_json_mode_filter() -> None:
    decision = router().decide(RouteRequest(messages=HELLO, capabilities=(TOOLS,)))
    assert ids(decision.candidates) == ["alpha/tools"]
    decision = router().decide(RouteRequest(messages=HELLO, needs=JSON_BIT))
    assert ids(decision.candidates) == ["alpha/tools"]


def test_context_fits_prompt_plus_max_tokens_and_min_context() -> None:
    decision = router().decide(RouteRequest(messages=HELLO, max_tokens=8_000))
    assert "alpha/small" not in ids(decision.candidates)
    decision = router().decide(RouteRequest(messages=HELLO, min_context=100_000))
    assert ids(decision.candidates) == ["beta/big"]


def test_allow_and_deny_take_model_ids_and_provider_names() -> None:
    decide = router().decide
    assert ids(decide(RouteRequest(messages=HELLO, allow=("beta",))).candidates) == [
        "beta/vision",
        "beta/big",
    ]
    assert ids(decide(RouteRequest(messages=HELLO, allow=("beta", "alpha/tools"))).candidates) == [
        "alpha/tools",
        "beta/vision",
        "beta/big",
    ]
    assert ids(decide(RouteRequest(messages=HELLO, deny=("alpha", "beta/big"))).candidates) == [
        "beta/vision"
    ]
    # the cached per-list catalogue gives the same answer the second time
    assert ids(decide(RouteRequest(messages=HELLO, deny=("alpha", "beta/big"))).candidates) == [
        "beta/vision"
    ]


def test_paid_models_only_when_allowed_and_within_max_price() -> None:
    decide = router(allow_paid=True, default_strategy=strategies.QUALITY).decide
    assert decide(RouteRequest(messages=HELLO)).chosen.id == "gamma/pro"
    assert decide(RouteRequest(messages=HELLO, max_price=1.0)).chosen.id == "alpha/small"


def test_unspecified_strategy_is_the_configured_default() -> None:
    decision = router(default_strategy=strategies.LATENCY).decide(RouteRequest(messages=HELLO))
    assert decision.strategy == strategies.LATENCY
    with pytest.raises(InvalidArgument, match="strategy"):
        router().decide(RouteRequest(messages=HELLO, strategy=42))


def test_explicit_model() -> None:
    decision = router().decide(RouteRequest(messages=HELLO, model="beta/big"))
    assert (decision.chosen.id, decision.fallbacks) == ("beta/big", ())
    assert decision.reason == "beta/big requested explicitly"
    with pytest.raises(NotFound, match="model: no model 'nope/x'"):
        router().decide(RouteRequest(messages=HELLO, model="nope/x"))
    with pytest.raises(PermissionDenied, match="not free and paid models are off") as caught:
        router().decide(RouteRequest(messages=HELLO, model="gamma/pro"))
    assert (caught.value.field, caught.value.code) == ("model", "model_not_allowed")
    with pytest.raises(PermissionDenied, match="free models only"):
        router(allow_paid=True).decide(
            RouteRequest(messages=HELLO, model="gamma/pro", free_only=True)
        )
    with pytest.raises(PermissionDenied, match="excluded"):
        router().decide(RouteRequest(messages=HELLO, model="beta/big", deny=("beta",)))


def test_explicit_model_of_an_unconfigured_provider() -> None:
    decide = router(can_call=lambda provider: provider != "beta").decide
    with pytest.raises(FailedPrecondition, match="provider 'beta'"):
        decide(RouteRequest(messages=HELLO, model="beta/big"))
    assert ids(decide(RouteRequest(messages=HELLO)).candidates) == ["alpha/small", "alpha/tools"]


def test_invalid_requests_name_the_field() -> None:
    decide = router().decide
    with pytest.raises(InvalidArgument, match="messages"):
        decide(RouteRequest(messages=()))
    with pytest.raises(InvalidArgument, match="max_tokens"):
        decide(RouteRequest(messages=HELLO, max_tokens=-1))
    with pytest.raises(InvalidArgument, match="max_price_per_mtok"):
        decide(RouteRequest(messages=HELLO, max_price=-1.0))


def test_empty_catalogue_says_to_configure_a_provider() -> None:
    empty = Router(HealthBoard(BreakerPolicy()))
    with pytest.raises(Unavailable, match=r"no catalogue received .* FREEWAY_CATALOG_ADDR"):
        empty.decide(RouteRequest(messages=HELLO))
    empty.install([], 1)
    with pytest.raises(Unavailable) as caught:
        empty.decide(RouteRequest(messages=HELLO))
    assert str(caught.value) == (
        "no free model fits: 0 models in catalogue (is a provider configured with its API key?)"
    )


def test_a_need_no_model_meets_is_a_400_naming_the_field_and_the_nearest_models() -> None:
    chat = read_body(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    ],
                }
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        }
    )
    request = RouteRequest(messages=chat.messages, needs=chat.needs, need_fields=chat.need_fields)
    with pytest.raises(InvalidArgument) as caught:
        router().decide(request)
    error = caught.value
    assert error.code == "model_not_capable"
    assert error.field == "tools"  # tools and vision exist apart, never together
    assert "tools and vision together" in error.message
    assert "alpha/tools (lacks vision)" in error.message
    assert "beta/vision (lacks tools)" in error.message
    seed = read_body({"messages": [{"role": "user", "content": "x"}], "seed": 1})
    with pytest.raises(InvalidArgument, match="offers seed") as caught:
        router().decide(
            RouteRequest(messages=HELLO, needs=seed.needs, need_fields=seed.need_fields)
        )
    assert caught.value.field == "seed"


def test_a_prompt_larger_than_every_context_is_a_400() -> None:
    with pytest.raises(InvalidArgument) as caught:
        router().decide(RouteRequest(messages=HELLO, min_context=2_000_000))
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.field == "messages"
    assert "1000000 (beta/big)" in caught.value.message


def test_a_zero_per_token_model_that_is_not_free_is_never_taken_for_free() -> None:
    # billed per song or per image: $0 per token, but not free
    music = ModelInfo(
        id="omega/lyria",
        provider="omega",
        upstream_id="lyria",
        context_window=10_000_000,
        input_price=0.0,
        output_price=0.0,
        quality=1.0,
    )
    routed = Router(HealthBoard(BreakerPolicy()))
    routed.install([*CATALOGUE, music], 1)
    big = RouteRequest(messages=HELLO, min_context=2_000_000)
    with pytest.raises(InvalidArgument, match="context"):
        routed.decide(big)
    assert "omega/lyria" not in ids(routed.decide(RouteRequest(messages=HELLO)).candidates)
    paid_on = Router(
        HealthBoard(BreakerPolicy()), allow_paid=True, default_strategy=strategies.COST
    )
    paid_on.install([*CATALOGUE, music], 1)
    ranked = ids(paid_on.decide(RouteRequest(messages=HELLO)).candidates)
    assert "omega/lyria" not in ranked[:-1]  # its price is unknown: never ranked as cheapest


def test_nothing_callable_says_which_providers_lack_a_key_and_what_else_is_out() -> None:
    talks = dataclasses.replace(CATALOGUE[0], id="beta/speech", provider="beta", chat=False)
    retired = dataclasses.replace(CATALOGUE[1], id="beta/old", provider="beta", status="retired")
    routed = Router(HealthBoard(BreakerPolicy()), can_call=lambda provider: provider == "beta")
    routed.install([CATALOGUE[0], CATALOGUE[1], talks, retired], 1)
    with pytest.raises(Unavailable) as caught:
        routed.decide(RouteRequest(messages=HELLO))
    assert str(caught.value) == (
        "no free model fits: 4 models in catalogue, "
        "callable (active chat model, provider configured): 0 "
        "(provider missing, disabled or without its API key: alpha "
        "(set the variable its api_key_env names in the providers file); "
        "1 inactive; 1 not text-chat models)"
    )


def test_no_free_model_says_how_to_allow_paid_ones() -> None:
    routed = Router(HealthBoard(BreakerPolicy()))
    routed.install([CATALOGUE[-1]], 1)
    with pytest.raises(FailedPrecondition, match=r"free: 0 \(paid models are off; FREEWAY_ROUTER"):
        routed.decide(RouteRequest(messages=HELLO))


def test_open_breakers_and_holds_take_models_out_until_they_expire() -> None:
    now = [100.0]
    board = HealthBoard(BreakerPolicy(failures=1, cooldown_s=5.0), lambda: now[0])
    routed = Router(board, clock=lambda: now[0])
    routed.install(CATALOGUE, 1)
    board.failed("alpha/small")
    board.hold("alpha/tools", 30.0)
    decision = routed.decide(RouteRequest(messages=HELLO))
    assert ids(decision.candidates) == ["beta/vision", "beta/big"]
    now[0] += 5.0  # breaker half-open: routable again; the hold still runs
    assert ids(routed.decide(RouteRequest(messages=HELLO)).candidates)[0] == "alpha/small"
    with pytest.raises(Unavailable, match=r"healthy .*: 0 \(retry in 25s\)"):
        routed.decide(RouteRequest(messages=HELLO, allow=("alpha/tools",)))


def test_install_swaps_in_a_new_table() -> None:
    routed = router()
    before = routed.decide(RouteRequest(messages=HELLO))
    routed.install([free("delta/new", 0.95)], 8)
    after = routed.decide(RouteRequest(messages=HELLO))
    assert before.chosen.id == "alpha/small"
    assert (after.chosen.id, after.catalog_version, routed.size) == ("delta/new", 8, 1)
    assert routed.model("alpha/small") is None


def test_unknown_context_is_assumed_not_zero() -> None:
    unknown = ModelInfo(id="z/unknown", provider="z", upstream_id="unknown", is_free=True)
    routed = Router(HealthBoard(BreakerPolicy()), unknown_context=8192)
    routed.install([unknown], 1)
    assert routed.decide(RouteRequest(messages=HELLO)).chosen.id == "z/unknown"
    with pytest.raises(InvalidArgument, match=r"could serve it is 8192 \(z/unknown, assumed"):
        routed.decide(RouteRequest(messages=HELLO, min_context=9000))


def test_decision_message_carries_candidates_and_features() -> None:
    decision = router().decide(RouteRequest(messages=HELLO))
    message = wire.decision_message(decision)
    assert message.chosen.model_id == "alpha/small"
    assert message.chosen.is_free
    assert (message.chosen.input_price_per_mtok, message.chosen.output_price_per_mtok) == (0, 0)
    assert message.chosen.HasField("input_price_per_mtok")
    assert message.prompt_tokens == decision.prompt_tokens
    unknown = dataclasses.replace(CATALOGUE[0], input_price=None, output_price=None)
    routed = Router(HealthBoard(BreakerPolicy()))
    routed.install([unknown], 1)
    chosen = wire.decision_message(routed.decide(RouteRequest(messages=HELLO))).chosen
    assert not chosen.HasField("input_price_per_mtok")  # unknown stays unknown, never 0
    assert [c.model_id for c in message.fallbacks] == ids(decision.fallbacks)
    assert [f.name for f in message.features] == list(kernel.FEATURE_NAMES)
    assert message.catalog_version == 7
    assert message.decision_us > 0


def test_refitted_weights_are_taken_up_without_a_restart(tmp_path: Path) -> None:
    from native._common import DEFAULT_WEIGHTS_PATH
    from services.router.weights import WeightsWatcher

    path = tmp_path / "weights.json"
    weights = json.loads(DEFAULT_WEIGHTS_PATH.read_text())
    path.write_text(json.dumps(weights))
    routed = Router(HealthBoard(BreakerPolicy()), weights_file=path)
    routed.install(CATALOGUE, 1)
    first = routed.decide(RouteRequest(messages=HELLO))
    before = first.complexity
    assert first.weights_version.startswith(weights["version"] + "@")
    watcher = WeightsWatcher(routed)
    assert not watcher.check()
    assert routed.decide(RouteRequest(messages=HELLO)).complexity == before  # unchanged file
    weights["bias"] = weights["bias"] + 3.0  # a refit that finds every prompt harder
    path.write_text(json.dumps(weights))
    assert watcher.check()
    refitted = routed.decide(RouteRequest(messages=HELLO))
    assert refitted.complexity > before
    # the same version name, other numbers: the hash tells them apart
    assert refitted.weights_version != first.weights_version
    assert wire.decision_message(refitted).weights_version == refitted.weights_version
    path.write_text("{broken")  # a bad refit is logged; the weights in use stay
    assert not watcher.check()
    kept = routed.decide(RouteRequest(messages=HELLO))
    assert (kept.complexity, kept.weights_version) == (
        refitted.complexity,
        refitted.weights_version,
    )


def test_a_file_renamed_into_place_is_taken_up_on_sighup(tmp_path: Path) -> None:
    import os
    import signal

    from native._common import DEFAULT_WEIGHTS_PATH
    from services.router.weights import WeightsWatcher

    path = tmp_path / "weights.json"
    weights = json.loads(DEFAULT_WEIGHTS_PATH.read_text())
    path.write_text(json.dumps(weights))
    routed = Router(HealthBoard(BreakerPolicy()), weights_file=path)
    routed.install(CATALOGUE, 1)
    before = routed.weights_version

    async def scenario() -> str:
        watcher = WeightsWatcher(routed, interval_s=3600.0, sighup=True)  # no polling here
        watcher.start()
        try:
            weights["version"] = "refit-2"
            staged = tmp_path / "weights.json.new"
            staged.write_text(json.dumps(weights))
            staged.replace(path)
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(100):
                await asyncio.sleep(0.01)
                if routed.weights_version != before:
                    break
            return routed.weights_version
        finally:
            await watcher.stop()

    assert asyncio.run(scenario()).startswith("refit-2@")


def test_stored_features_are_what_featurize_computes_never_text() -> None:
    from native import vectors

    routed = Router(HealthBoard(BreakerPolicy()))
    routed.install(CATALOGUE, 1)
    request = RouteRequest(messages=(("user", "Prove that sqrt(2) is irrational."),))
    raw = routed.stored_features(request, 0)
    assert b"irrational" not in raw
    stored = vectors.decode(np.frombuffer(raw, dtype="<f8"))
    buckets = routed.weights.hash_buckets
    dense, hashed = kernel.featurize(list(request.messages), 0, 0, buckets)
    assert stored.hash_buckets == buckets
    assert not stored.hashed_omitted
    np.testing.assert_array_equal(stored.dense, dense)
    again = np.zeros(buckets)
    again[stored.buckets] = stored.values
    np.testing.assert_allclose(again, hashed, atol=1e-9)
