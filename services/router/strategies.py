"""Routing strategy names and numbers (the numbers are the proto `Strategy` enum values)."""

from __future__ import annotations

UNSPECIFIED = 0
FREE_FIRST = 1
COST = 2
QUALITY = 3
LATENCY = 4
HYBRID = 5
CASCADE = 6

BY_NAME: dict[str, int] = {
    "free-first": FREE_FIRST,
    "cost": COST,
    "quality": QUALITY,
    "latency": LATENCY,
    "hybrid": HYBRID,
    "cascade": CASCADE,
}
NAMES: dict[int, str] = {number: name for name, number in BY_NAME.items()}


def strategy_name(number: int) -> str:
    """The strategy's name ("free-first", ...); "unspecified" for 0."""
    return NAMES.get(number, "unspecified")
