"""Proto ↔ domain translation: catalogue records, decisions, chunks and usage events."""

from __future__ import annotations

import numpy as np

from freeway.analytics.v1 import analytics_pb2
from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from services.router import wire
from services.router.breaker import BreakerPolicy, HealthBoard
from services.router.catalogue import ModelInfo
from services.router.pipeline import Outcome, StreamPart
from services.router.reply import Usage
from services.router.routing import FEATURE_NAMES, Router, RouteRequest
from services.router.usage import Status, UsageRecord
from services.shared.vocabulary import Capability


def test_model_info_keeps_unknown_prices_unknown() -> None:
    record = common_pb2.Model(
        id="openrouter/google/gemma-3-27b-it:free",
        provider="openrouter",
        upstream_id="google/gemma-3-27b-it:free",
        context_window=96_000,
        input_price_per_mtok=0.0,
        is_free=True,
        input_modalities=["text", "image"],
        capabilities=[common_pb2.CAPABILITY_TOOLS],
        quality=0.6,
        status="active",
    )
    info = wire.model_info(record)
    assert info.input_price == 0.0
    assert info.output_price is None
    assert info.request_price is None
    assert info.capabilities == {common_pb2.CAPABILITY_TOOLS, common_pb2.CAPABILITY_VISION}
    assert (info.upstream_id, info.context_window, info.is_free) == (
        "google/gemma-3-27b-it:free",
        96_000,
        True,
    )
    bare = wire.model_info(common_pb2.Model(id="groq/llama-3.1-8b", provider="groq"))
    assert bare.upstream_id == "llama-3.1-8b"


def test_feature_bytes_equal_the_plain_construction() -> None:
    router = Router(HealthBoard(BreakerPolicy()))
    router.install([wire.model_info(common_pb2.Model(id="p/m", provider="p", is_free=True))], 3)
    decision = router.decide(RouteRequest(messages=(("user", "Prove it: $x^2 >= 0$ always."),)))
    message = wire.decision_message(decision)
    plain = [
        router_pb2.FeatureContribution(name=name, value=value, contribution=part)
        for name, value, part in decision.features()
    ]
    assert list(message.features) == plain
    assert len(plain) == len(FEATURE_NAMES)
    assert message.chosen.model_id == "p/m"
    assert message.catalog_version == 3


def test_feature_encoder_handles_special_values() -> None:
    encoder = wire.FeatureEncoder(("a", "b" * 200))
    values = np.array([-0.0, 1e308])
    parts = np.array([np.inf, -2.5])
    decoded = router_pb2.RouteDecision.FromString(encoder.encode(values, parts))
    assert [(f.name, f.value, f.contribution) for f in decoded.features] == [
        ("a", -0.0, np.inf),
        ("b" * 200, 1e308, -2.5),
    ]


def test_chunk_messages_carry_the_events_and_the_outcome_only_when_given() -> None:
    plain = wire.chunk_message(StreamPart([b'{"a":1}', b'{"b":2}']))
    assert list(plain.events) == ['{"a":1}', '{"b":2}']
    assert not plain.HasField("outcome")
    free = ModelInfo(id="p/m", provider="p", upstream_id="m", is_free=True)
    usage = Usage(5, 0, 2, 0, stated=True)
    last = wire.chunk_message(StreamPart([], Outcome("sid", free, None, 1, usage, 0.0, 0.1)))
    outcome = last.outcome
    assert (outcome.model, outcome.provider, outcome.attempts, outcome.free) == (
        "p/m",
        "p",
        1,
        True,
    )
    assert (outcome.usage.prompt_tokens, outcome.usage.total_tokens) == (5, 5)
    assert (outcome.usage.cached_tokens, outcome.usage.estimated) == (2, False)
    assert (outcome.cost_usd, outcome.saved_usd) == (0.0, 0.1)


def test_an_unknown_cost_stays_unset() -> None:
    paid = ModelInfo(id="p/m", provider="p", upstream_id="m")
    outcome = wire.outcome_message(Outcome("c", paid, None, 1, Usage(1, 1), None, None))
    assert not outcome.HasField("cost_usd")
    assert not outcome.HasField("saved_usd")
    assert outcome.usage.estimated


def test_usage_event_carries_every_field() -> None:
    record = UsageRecord(
        event_id="6c8e2b9e-0f4c-4d7e-9a51-1d2f3a4b5c6d",
        time=1_718_000_000.25,
        key_id="k",
        request_id="r",
        requested_model="auto",
        served_model="p/m",
        provider="p",
        prompt_tokens=10,
        completion_tokens=20,
        cost_usd=0.0,
        baseline_cost_usd=0.0000135,
        latency_ms=12.5,
        ttft_ms=3.0,
        attempts=2,
        status=Status.CANCELLED,
        complexity=0.4,
        strategy=5,
        error="cancelled by the caller",
        stream=True,
        team_id="t",
        cached_tokens=4,
        reasoning_tokens=7,
        capabilities=Capability.TOOLS.bit | Capability.VISION.bit,
        escalations=1,
        escalation_reason="invalid_json",
        features=b"\x00" * 16,
    )
    event = wire.usage_event(record)
    assert (event.team_id, event.cached_tokens, event.reasoning_tokens) == ("t", 4, 7)
    assert (event.escalations, event.escalation_reason) == (1, "invalid_json")
    assert event.features == b"\x00" * 16
    assert sorted(event.capabilities) == sorted(
        [common_pb2.CAPABILITY_TOOLS, common_pb2.CAPABILITY_VISION]
    )
    assert event.time.seconds == 1_718_000_000
    assert event.time.nanos == 250_000_000
    assert event.status == analytics_pb2.USAGE_STATUS_CANCELLED
    assert event.strategy == common_pb2.STRATEGY_HYBRID
    assert (event.event_id, event.attempts, event.stream) == (record.event_id, 2, True)
    assert (event.prompt_tokens, event.completion_tokens) == (10, 20)
    assert event.baseline_cost_usd == record.baseline_cost_usd


def test_chat_models_take_and_give_text() -> None:
    from freeway.common.v1 import common_pb2
    from services.router.wire import is_chat

    def kind(inputs: list[str], outputs: list[str]) -> bool:
        return is_chat(common_pb2.Model(input_modalities=inputs, output_modalities=outputs))

    assert kind([], [])  # nothing stated: a plain chat model
    assert kind(["text", "image"], ["text"])
    assert not kind(["audio"], ["text"])  # transcription
    assert not kind(["text"], ["audio"])  # speech
    assert not kind(["text"], ["embedding"])


def test_an_unknown_cost_is_left_unset_and_a_known_zero_is_sent() -> None:
    from services.router.catalogue import ModelInfo
    from services.router.usage import model_cost

    unpriced = ModelInfo(id="p/m", provider="p", upstream_id="m")
    assert model_cost(unpriced, 10, 20) is None
    assert model_cost(ModelInfo(id="p/f", provider="p", upstream_id="f", is_free=True), 10, 20) == 0
    paid = ModelInfo(id="p/q", provider="p", upstream_id="q", input_price=1.0, output_price=2.0)
    assert model_cost(paid, 1_000_000, 500_000) == 2.0
    record = UsageRecord(
        event_id="e", time=1.0, key_id="k", request_id="r", requested_model="auto",
        served_model="p/m", provider="p", prompt_tokens=10, completion_tokens=20,
        cost_usd=None, baseline_cost_usd=0.0, latency_ms=1.0, ttft_ms=0.0, attempts=1,
        status=Status.OK, complexity=0.1, strategy=1,
    )  # fmt: skip
    event = wire.usage_event(record)
    assert not event.HasField("cost_usd")
    assert event.HasField("baseline_cost_usd")
    assert event.baseline_cost_usd == 0.0
