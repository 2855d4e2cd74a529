"""The servicer's proto ↔ domain translation (no server: pure functions)."""

from __future__ import annotations

import pytest

from freeway.analytics.v1 import analytics_pb2
from freeway.common.v1 import common_pb2
from services.analytics.servicer import summary_response, usage_event
from services.analytics.usage import ModelTotals, Strategy, Summary, UsageStatus
from services.shared.errors import InvalidArgument
from tests.integration.analytics.events import event, proto_event


@pytest.mark.parametrize("status", list(UsageStatus))
def test_every_field_survives_the_wire(status: UsageStatus) -> None:
    fields = {"status": status, "strategy": Strategy.CASCADE, "cache_hit": True, "error": "x"}
    assert usage_event(4, proto_event(4, **fields)) == event(4, **fields)


def test_unset_time_stays_unset_for_validation_to_name() -> None:
    assert usage_event(0, proto_event(0, time=None)).time is None


def test_unknown_enum_values_are_rejected_with_index() -> None:
    message = proto_event(0)
    message.strategy = 99  # type: ignore[assignment]
    with pytest.raises(InvalidArgument, match=r"^events\[7\]\.strategy: unknown value 99$"):
        usage_event(7, message)


def test_out_of_range_time_is_rejected_with_index() -> None:
    message = proto_event(0)
    message.time.seconds = -(2**40)
    with pytest.raises(InvalidArgument, match=r"^events\[2\]\.time: not a valid timestamp"):
        usage_event(2, message)


def test_summary_carries_savings() -> None:
    totals = ModelTotals("groq/x", "groq", 2, 1, 20, 4, 0.5, 2.0)
    reply = summary_response(Summary.of([totals]))
    assert [m.model for m in reply.models] == ["groq/x"]
    assert reply.models[0].savings_usd == 1.5
    assert reply.total == analytics_pb2.ModelTotals(
        requests=2, errors=1, prompt_tokens=20, completion_tokens=4,
        cost_usd=0.5, baseline_cost_usd=2.0, savings_usd=1.5,
    )  # fmt: skip


def test_every_proto_enum_value_is_known() -> None:
    for name in common_pb2.Strategy.keys():  # noqa: SIM118 - an enum wrapper, not a dict
        assert usage_event(0, analytics_pb2.UsageEvent(strategy=name)).strategy in set(Strategy)
    for name in analytics_pb2.UsageStatus.keys():  # noqa: SIM118
        assert usage_event(0, analytics_pb2.UsageEvent(status=name)).status in set(UsageStatus)
