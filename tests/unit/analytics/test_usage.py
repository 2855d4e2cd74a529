"""The usage domain: what a valid event and batch are, and how totals add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.analytics.usage import (
    MAX_EVENT_ID,
    ModelTotals,
    Summary,
    UsageBatch,
    UsageEvent,
    batch_problem,
    event_problem,
    time_range,
    validate_batch,
)
from services.shared.errors import InvalidArgument

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FINITE = "must be a finite number >= 0"
WHOLE = "expected whole little-endian float64 values, at most 1024"
WHOLE = "expected whole little-endian float64 values, at most 1024"


def valid(**overrides: object) -> UsageEvent:
    fields: dict[str, object] = {"event_id": "e-1", "time": NOW, "prompt_tokens": 10}
    fields.update(overrides)
    return UsageEvent(**fields)  # type: ignore[arg-type]


def test_a_complete_event_has_no_problem() -> None:
    assert event_problem(valid()) is None
    assert event_problem(valid(event_id="x" * MAX_EVENT_ID)) is None
    assert event_problem(valid(cost_usd=None, baseline_cost_usd=None)) is None
    assert event_problem(valid(complexity=-0.5, features=b"\0" * 8)) is None


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"event_id": ""}, ("event_id", "required")),
        ({"event_id": "x" * 129}, ("event_id", "at most 128 characters, got 129")),
        ({"time": None}, ("time", "required")),
        ({"prompt_tokens": -1}, ("prompt_tokens", "must be >= 0, got -1")),
        ({"completion_tokens": -2}, ("completion_tokens", "must be >= 0, got -2")),
        ({"cached_tokens": -3}, ("cached_tokens", "must be >= 0, got -3")),
        ({"reasoning_tokens": -4}, ("reasoning_tokens", "must be >= 0, got -4")),
        ({"attempts": -1}, ("attempts", "must be >= 0, got -1")),
        ({"escalations": -1}, ("escalations", "must be >= 0, got -1")),
        ({"cost_usd": -0.5}, ("cost_usd", "must be a finite number >= 0, got -0.5")),
        ({"cost_usd": float("inf")}, ("cost_usd", "must be a finite number >= 0, got inf")),
        ({"baseline_cost_usd": -1e-9}, ("baseline_cost_usd", f"{FINITE}, got -1e-09")),
        ({"latency_ms": -1.0}, ("latency_ms", "must be a finite number >= 0, got -1.0")),
        ({"ttft_ms": float("nan")}, ("ttft_ms", "must be a finite number >= 0, got nan")),
        ({"complexity": float("nan")}, ("complexity", "must be a finite number, got nan")),
        ({"served_model": "m" * 513}, ("served_model", "at most 512 characters")),
        ({"team_id": "t" * 513}, ("team_id", "at most 512 characters")),
        ({"escalation_reason": "r" * 513}, ("escalation_reason", "at most 512 characters")),
        ({"error": "e" * 8193}, ("error", "at most 8192 characters")),
        ({"features": b"\0" * 7}, ("features", f"{WHOLE}, got 7 bytes")),
        ({"features": b"\0" * 8 * 1025}, ("features", f"{WHOLE}, got 8200 bytes")),
    ],
)  # fmt: skip
def test_each_rule_names_its_field(override: dict[str, object], problem: tuple[str, str]) -> None:
    assert event_problem(valid(**override)) == problem


def test_the_first_bad_event_wins_then_its_first_bad_field() -> None:
    batch = UsageBatch.of(
        [
            valid(event_id="a"),
            valid(event_id="b", error="e" * 9000),
            valid(event_id="c", prompt_tokens=-1, latency_ms=-1.0),
            valid(event_id=""),
        ]
    )
    assert batch_problem(batch) == (1, "error", "at most 8192 characters")
    assert batch_problem(batch.subset([0, 2, 3])) == (1, "prompt_tokens", "must be >= 0, got -1")


def test_a_sum_that_overflows_is_not_a_bad_value() -> None:
    batch = UsageBatch.of([valid(event_id=f"e{i}", latency_ms=1e308) for i in range(3)])
    assert batch_problem(batch) is None


def test_batch_errors_carry_the_event_index() -> None:
    events = [valid(event_id=f"e-{i}") for i in range(5)]
    events[3] = valid(event_id="")
    with pytest.raises(InvalidArgument) as failure:
        validate_batch(UsageBatch.of(events), max_events=10)
    assert str(failure.value) == "events[3].event_id: required"
    assert failure.value.field == "events[3].event_id"


def test_batch_size_is_bounded() -> None:
    validate_batch(UsageBatch.of([valid()] * 3), max_events=3)
    with pytest.raises(InvalidArgument, match=r"^events: at most 3 events per batch, got 4$"):
        validate_batch(UsageBatch.of([valid()] * 4), max_events=3)


def test_a_batch_round_trips_its_events_and_derives_bins() -> None:
    events = [valid(event_id="a", latency_ms=0.5, ttft_ms=0.0), valid(event_id="b", ttft_ms=3.0)]
    batch = UsageBatch.of(events)
    assert batch.events() == events
    assert batch.column("latency_bin") == [0, 0]
    assert batch.column("ttft_bin") == [None, 5]
    assert batch.column("model") == ["", ""]
    assert UsageBatch.of([valid(requested_model="auto")]).column("model") == ["auto"]
    assert len(UsageBatch.of([])) == 0


def test_summary_total_sums_every_model() -> None:
    a = ModelTotals("a", "pa", 3, 1, 300, 30, 0.0, 0.3, 0.3, 1)
    b = ModelTotals("b", "pb", 2, 0, 200, 20, 0.1, 0.4, 0.3, 0)
    summary = Summary.of([a, b])
    assert summary.models == (a, b)
    assert summary.total == ModelTotals("", "", 5, 1, 500, 50, 0.1, 0.7, pytest.approx(0.6), 1)  # type: ignore[arg-type]


def test_time_range_defaults_and_order() -> None:
    start, end = time_range(None, NOW)
    assert start.year == 1
    assert end == NOW
    before = datetime.now(UTC)
    assert time_range(NOW, None)[1] >= before
    with pytest.raises(InvalidArgument, match=r"^until: must not be before since$"):
        time_range(NOW, NOW - timedelta(microseconds=1))
