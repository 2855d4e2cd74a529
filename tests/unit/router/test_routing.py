"""Request → needs / constraints → the kernel's decision (real kernel, small catalogues)."""

from __future__ import annotations

import dataclasses

import pytest

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from native import kernel
from services.router import strategies, wire
from services.router.breaker import BreakerPolicy, HealthBoard
from services.router.catalogue import ModelInfo
from services.router.routing import Router, RouteRequest, needs_mask
from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

TOOLS, VISION, JSON, REASONING = 1, 2, 3, 4
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


def test_needs_from_capabilities_and_json_mode() -> None:
    assert needs_mask([TOOLS, VISION], json_mode=False) == kernel.CAP_TOOLS | kernel.CAP_VISION
    assert needs_mask([], json_mode=True) == kernel.CAP_JSON
    assert needs_mask([REASONING], json_mode=False) == kernel.CAP_REASONING
    with pytest.raises(InvalidArgument, match=r"constraints\.capabilities"):
        needs_mask([9], json_mode=False)


def test_proto_request_translates_every_constraint() -> None:
    request = router_pb2.CompletionRequest(
        model="auto",
        messages=[common_pb2.ChatMessage(role="user", content="hi")],
        max_tokens=256,
        strategy=common_pb2.STRATEGY_QUALITY,
        json_mode=True,
        constraints=router_pb2.Constraints(
            capabilities=[common_pb2.CAPABILITY_TOOLS],
            min_context=9000,
            allow=["alpha"],
            deny=["alpha/small"],
            max_price_per_mtok=0.5,
        ),
    )
    route = wire.route_request(request)
    assert route == RouteRequest(
        messages=(("user", "hi"),),
        model="auto",
        max_tokens=256,
        capabilities=(TOOLS,),
        json_mode=True,
        min_context=9000,
        allow=("alpha",),
        deny=("alpha/small",),
        max_price=0.5,
        strategy=strategies.QUALITY,
    )
    unset = wire.route_request(router_pb2.CompletionRequest(messages=request.messages))
    assert (unset.max_tokens, unset.max_price, unset.strategy) == (None, None, 0)


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
    decision = router().decide(RouteRequest(messages=HELLO, json_mode=True))
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
    with pytest.raises(FailedPrecondition, match="not free"):
        router().decide(RouteRequest(messages=HELLO, model="gamma/pro"))
    with pytest.raises(FailedPrecondition, match="excluded"):
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


def test_nothing_fits_names_the_filter_that_emptied_the_list() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        router().decide(RouteRequest(messages=HELLO, capabilities=(TOOLS, VISION)))
    assert "5 models in catalogue" in str(caught.value)
    assert "with tools,vision: 0" in str(caught.value)


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
    with pytest.raises(FailedPrecondition, match="context >= 9000"):
        routed.decide(RouteRequest(messages=HELLO, min_context=9000))


def test_decision_message_carries_candidates_and_features() -> None:
    decision = router().decide(RouteRequest(messages=HELLO))
    message = wire.decision_message(decision)
    assert message.chosen.model_id == "alpha/small"
    assert message.chosen.is_free
    assert (message.chosen.input_price_per_mtok, message.chosen.output_price_per_mtok) == (0, 0)
    assert [c.model_id for c in message.fallbacks] == ids(decision.fallbacks)
    assert [f.name for f in message.features] == list(kernel.FEATURE_NAMES)
    assert message.catalog_version == 7
    assert message.decision_us > 0
