"""One vocabulary: the kernel's numbers are the proto enums' (the kernel imports none of them).

The kernel restates capability bits, strategies and breaker states as plain integers so it
stays free of the repository; these tests hold them to the definitions everything else uses:
``freeway.common.v1`` (Capability, Strategy) and the router's health board (breaker states).
"""

from __future__ import annotations

import math

import pytest

from freeway.common.v1 import common_pb2
from native import _common
from services.router import breaker, strategies

KERNEL_CAPABILITIES = ("TOOLS", "VISION", "JSON", "REASONING")


def test_capability_bits_are_one_shifted_by_the_proto_number_less_one() -> None:
    for name in KERNEL_CAPABILITIES:
        number = common_pb2.Capability.Value(f"CAPABILITY_{name}")
        assert getattr(_common, f"CAP_{name}") == 1 << (number - 1), name


def test_every_proto_capability_fits_the_kernels_needs_mask() -> None:
    # a new Capability value needs no kernel change: its bit is just another needs bit
    numbers = [v for v in common_pb2.Capability.values() if v != 0]
    mask = 0
    for number in numbers:
        assert 1 <= number <= 32, f"capability {number} does not fit a 32-bit mask"
        mask |= 1 << (number - 1)
    _common.check_score(0, mask)
    _common.check_select(0.5, mask, 0, math.inf, common_pb2.STRATEGY_FREE_FIRST, None)


def test_strategies_are_the_proto_enum() -> None:
    proto = {name.removeprefix("STRATEGY_"): number for name, number in common_pb2.Strategy.items()}
    kernel = {
        name.removeprefix("STRATEGY_"): getattr(_common, name)
        for name in dir(_common)
        if name.startswith("STRATEGY_")
    }
    assert kernel == proto
    assert proto["UNSPECIFIED"] == strategies.UNSPECIFIED
    assert {name.replace("-", "_").upper(): n for name, n in strategies.BY_NAME.items()} == {
        k: v for k, v in proto.items() if k != "UNSPECIFIED"
    }


@pytest.mark.parametrize("number", sorted(common_pb2.Strategy.values()))
def test_the_kernel_accepts_every_proto_strategy(number: int) -> None:
    _, strategy, _ = _common.check_select(0.5, 0, 0, math.inf, number, None)
    assert strategy == (number or common_pb2.STRATEGY_FREE_FIRST)


def test_breaker_states_are_the_health_boards() -> None:
    assert (_common.BREAKER_CLOSED, _common.BREAKER_HALF_OPEN, _common.BREAKER_OPEN) == (
        breaker.CLOSED,
        breaker.HALF_OPEN,
        breaker.OPEN,
    )
