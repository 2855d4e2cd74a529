"""The one vocabulary is the protos' enums, and the kernel's bits are its bits."""

from __future__ import annotations

from freeway.catalog.v1 import catalog_pb2
from freeway.common.v1 import common_pb2
from native import kernel
from services.shared import vocabulary
from services.shared.vocabulary import AlertKind, AlertSeverity, Capability, Strategy


def test_capabilities_are_the_proto_enum() -> None:
    proto = {
        name.removeprefix("CAPABILITY_"): number
        for name, number in common_pb2.Capability.items()
        if number
    }
    assert {c.name: c.value for c in Capability} == proto
    assert vocabulary.CAPABILITY_BY_NAME["json_schema"] is Capability.JSON_SCHEMA


def test_strategies_are_the_proto_enum() -> None:
    proto = {name.removeprefix("STRATEGY_"): n for name, n in common_pb2.Strategy.items()}
    assert {s.name: s.value for s in Strategy} == proto
    assert vocabulary.STRATEGY_BY_NAME["free-first"] is Strategy.FREE_FIRST
    assert vocabulary.strategy_name(0) == "free-first"


def test_the_kernels_capability_bits_are_the_vocabularys() -> None:
    assert Capability.TOOLS.bit == kernel.CAP_TOOLS
    assert Capability.VISION.bit == kernel.CAP_VISION
    assert Capability.JSON.bit == kernel.CAP_JSON
    assert Capability.REASONING.bit == kernel.CAP_REASONING
    assert vocabulary.capability_bits([1, 6, 99]) == 1 | 32
    assert vocabulary.capability_names(1 | 32) == ["tools", "json_schema"]


def test_the_kernels_strategies_are_the_vocabularys() -> None:
    for strategy in Strategy:
        assert getattr(kernel, f"STRATEGY_{strategy.name}") == strategy.value


def test_chat_models_take_and_give_text() -> None:
    assert vocabulary.is_chat_model([], [])
    assert vocabulary.is_chat_model(["text", "image"], ["text"])
    assert not vocabulary.is_chat_model(["audio"], ["text"])
    assert not vocabulary.is_chat_model(["text"], ["classification"])


def test_alert_kinds_and_severities_are_the_proto_enums() -> None:
    kinds = {n.removeprefix("ALERT_KIND_"): v for n, v in catalog_pb2.AlertKind.items() if v}
    severities = {
        n.removeprefix("ALERT_SEVERITY_"): v for n, v in catalog_pb2.AlertSeverity.items() if v
    }
    assert {k.name: k.value for k in AlertKind} == kinds
    assert {s.name: s.value for s in AlertSeverity} == severities
    assert vocabulary.ALERT_KIND_BY_NAME["went_paid"] is AlertKind.WENT_PAID
    assert AlertKind.GONE.topic == "catalog"
    assert AlertKind.QUOTA_LOW.topic == "providers"
