"""Routing strategy numbers and names, as the router's modules use them (from the one
vocabulary, `services.shared.vocabulary.Strategy`)."""

from __future__ import annotations

from services.shared.vocabulary import STRATEGY_BY_NAME, Strategy

UNSPECIFIED = int(Strategy.UNSPECIFIED)
FREE_FIRST = int(Strategy.FREE_FIRST)
COST = int(Strategy.COST)
QUALITY = int(Strategy.QUALITY)
LATENCY = int(Strategy.LATENCY)
HYBRID = int(Strategy.HYBRID)
CASCADE = int(Strategy.CASCADE)

BY_NAME: dict[str, int] = {name: int(number) for name, number in STRATEGY_BY_NAME.items()}
NAMES: dict[int, str] = {number: name for name, number in BY_NAME.items()}


def strategy_name(number: int) -> str:
    """The strategy's name ("free-first", ...); "unspecified" for 0."""
    return NAMES.get(number, "unspecified")
