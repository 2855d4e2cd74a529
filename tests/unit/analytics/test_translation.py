"""The service's proto ↔ domain translation (no server: pure functions)."""

from __future__ import annotations

import pytest

from freeway.analytics.v1 import analytics_pb2
from freeway.common.v1 import common_pb2
from services.analytics import wire
from services.analytics.usage import ModelTotals, Strategy, Summary, UsageStatus
from services.shared.errors import InvalidArgument
from tests.integration.analytics.events import event, proto_event


@pytest.mark.parametrize("status", list(UsageStatus))
def test_every_field_survives_the_wire(status: UsageStatus) -> None:
    fields = {
        "status": status, "strategy": Strategy.CASCADE, "cache_hit": True, "error": "x",
        "team_id": "t", "cached_tokens": 3, "reasoning_tokens": 4, "escalations": 1,
        "escalation_reason": "empty", "features": b"\x00" * 16, "capabilities": ("json", "tools"),
    }  # fmt: skip
    assert wire.usage_event(4, proto_event(4, **fields)) == event(4, **fields)


def test_unknown_costs_stay_unknown_and_zero_stays_zero() -> None:
    assert wire.usage_event(0, proto_event(0, cost_usd=None)).cost_usd is None
    assert wire.usage_event(0, proto_event(0, cost_usd=0.0)).cost_usd == 0.0
    assert wire.usage_event(0, proto_event(0, baseline_cost_usd=None)).baseline_cost_usd is None
    assert wire.usage_event(0, analytics_pb2.UsageEvent(event_id="e")).cost_usd is None


def test_unset_time_stays_unset_for_validation_to_name() -> None:
    assert wire.usage_event(0, proto_event(0, time=None)).time is None


def test_a_batch_is_read_column_by_column() -> None:
    events = [proto_event(n, cost_usd=None if n % 2 else 0.5) for n in range(5)]
    batch = wire.batch_of(events)
    assert batch["event_id"] == [f"evt-{n:06d}" for n in range(5)]
    assert batch["cost_usd"] == [0.5, None, 0.5, None, 0.5]
    assert batch.events() == [event(n, cost_usd=None if n % 2 else 0.5) for n in range(5)]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda e: setattr(e, "strategy", 99), r"^events\[7\]\.strategy: unknown value 99$"),
        (lambda e: setattr(e, "status", 9), r"^events\[7\]\.status: unknown value 9$"),
        (lambda e: e.capabilities.append(77), r"^events\[7\]\.capabilities\[0\]: unknown value"),
        (lambda e: setattr(e.time, "seconds", -(2**40)), r"^events\[7\]\.time: not a valid"),
        (lambda e: setattr(e.time, "nanos", -1), r"^events\[7\]\.time: not a valid timestamp"),
    ],
)  # fmt: skip
def test_values_this_server_does_not_know_are_refused_with_index(
    spoil: object, message: str
) -> None:
    proto = proto_event(0)
    assert callable(spoil)
    spoil(proto)
    with pytest.raises(InvalidArgument, match=message):
        wire.usage_event(7, proto)


def test_summary_carries_savings_and_unpriced() -> None:
    totals = ModelTotals("groq/x", "groq", 2, 1, 20, 4, 0.5, 2.0, 1.5, 3)
    reply = wire.summary_response(Summary.of([totals]))
    assert [m.model for m in reply.models] == ["groq/x"]
    assert reply.models[0].savings_usd == 1.5
    assert reply.total == analytics_pb2.ModelTotals(
        requests=2, errors=1, prompt_tokens=20, completion_tokens=4,
        cost_usd=0.5, baseline_cost_usd=2.0, savings_usd=1.5, unpriced_requests=3,
    )  # fmt: skip


def test_every_proto_enum_value_is_known() -> None:
    for name in common_pb2.Strategy.keys():  # noqa: SIM118 - an enum wrapper, not a dict
        event = wire.usage_event(0, analytics_pb2.UsageEvent(strategy=name))
        assert event.strategy in set(Strategy)
    for name in analytics_pb2.UsageStatus.keys():  # noqa: SIM118
        assert wire.usage_event(0, analytics_pb2.UsageEvent(status=name)).status in set(UsageStatus)
    for number in wire.CAPABILITY:
        event = wire.usage_event(
            0, analytics_pb2.UsageEvent(capabilities=[common_pb2.Capability.Name(number)])
        )
        assert event.capabilities == (wire.CAPABILITY[number],)


def test_enum_names_come_from_the_protos() -> None:
    assert wire.names(common_pb2.Strategy, "STRATEGY_")[common_pb2.STRATEGY_FREE_FIRST] == (
        "free-first"
    )
    assert wire.CAPABILITY[common_pb2.CAPABILITY_TOOLS] == "tools"
    assert {s.value for s in Strategy} - {""} == set(
        wire.names(common_pb2.Strategy, "STRATEGY_").values()
    )
    assert {s.value for s in UsageStatus} - {""} == set(
        wire.names(analytics_pb2.UsageStatus, "USAGE_STATUS_").values()
    )
