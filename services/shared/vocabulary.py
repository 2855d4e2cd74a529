"""The one vocabulary: capabilities and strategies, by number and by name.

The numbers are the proto enums' (`freeway.common.v1.Capability`, `Strategy`), written
here once as plain Python so domain code needs no generated module; a unit test holds
them equal to the protos. API names are the enum names without their prefix, lower case
(`CAPABILITY_JSON_SCHEMA` → `json_schema`; strategies use dashes: `free-first`).
The kernel's capability bit of a value is `1 << (value - 1)`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Capability(enum.IntEnum):
    """What a model can do beyond plain text chat; what a request needs."""

    TOOLS = 1
    VISION = 2
    JSON = 3
    REASONING = 4
    AUDIO = 5
    JSON_SCHEMA = 6
    LOGPROBS = 7
    SEED = 8
    PENALTIES = 9
    LOGIT_BIAS = 10
    MULTIPLE_CHOICES = 11

    @property
    def api_name(self) -> str:
        return self.name.lower()

    @property
    def bit(self) -> int:
        return 1 << (self.value - 1)


CAPABILITY_BY_NAME: dict[str, Capability] = {c.api_name: c for c in Capability}
ALL_CAPABILITY_BITS = sum(c.bit for c in Capability)


def capability_bits(capabilities: Iterable[int]) -> int:
    """The kernel's mask of capability numbers (numbers outside the vocabulary are ignored)."""
    bits = 0
    for number in capabilities:
        if 1 <= number <= len(Capability):
            bits |= 1 << (number - 1)
    return bits


def capabilities_of(bits: int) -> list[Capability]:
    """The capabilities of a kernel mask, in enum order."""
    return [c for c in Capability if bits & c.bit]


def capability_names(bits: int) -> list[str]:
    return [c.api_name for c in capabilities_of(bits)]


class Strategy(enum.IntEnum):
    """Routing strategies; UNSPECIFIED means the server default."""

    UNSPECIFIED = 0
    FREE_FIRST = 1
    COST = 2
    QUALITY = 3
    LATENCY = 4
    HYBRID = 5
    CASCADE = 6

    @property
    def api_name(self) -> str:
        return self.name.lower().replace("_", "-")


STRATEGY_BY_NAME: dict[str, Strategy] = {
    s.api_name: s for s in Strategy if s is not Strategy.UNSPECIFIED
}


def strategy_name(number: int) -> str:
    """The API name of a strategy number ("free-first" for UNSPECIFIED: the default)."""
    if number == Strategy.UNSPECIFIED or number not in Strategy._value2member_map_:
        return Strategy.FREE_FIRST.api_name
    return Strategy(number).api_name


# Chat-request parameters that do not change the answer: forwarded only to providers that
# accept them (the providers file's `advisory`), never a reason to refuse or to route.
ADVISORY_PARAMETERS = ("user", "metadata", "safety_identifier", "prompt_cache_key", "service_tier")
# Parameters a provider may name differently (the providers file's `rename`).
RENAMEABLE_PARAMETERS = (
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "stop",
    "reasoning_effort",
    "parallel_tool_calls",
)


def is_chat_model(input_modalities: Iterable[str], output_modalities: Iterable[str]) -> bool:
    """Whether a model answers chat: it takes text and gives text (modalities not stated
    count as text; a plain chat model's list often says none). Speech, transcription,
    embedding, image, music and classifier models do not, and are never routed a chat."""
    inputs, outputs = list(input_modalities), list(output_modalities)
    return (not inputs or "text" in inputs) and (not outputs or "text" in outputs)


class AlertKind(enum.IntEnum):
    """What an alert says happened (`freeway.catalog.v1.AlertKind`)."""

    WENT_PAID = 1
    GONE = 2
    PROVIDER_DOWN = 3
    PROVIDER_RECOVERED = 4
    QUOTA_LOW = 5

    @property
    def api_name(self) -> str:
        return self.name.lower()

    @property
    def topic(self) -> str:
        """The WebSocket topic it belongs on: the catalogue's, or the providers'."""
        return "catalog" if self in (AlertKind.WENT_PAID, AlertKind.GONE) else "providers"


class AlertSeverity(enum.IntEnum):
    """How loud an alert is (`freeway.catalog.v1.AlertSeverity`)."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def api_name(self) -> str:
        return self.name.lower()


ALERT_KIND_BY_NAME: dict[str, AlertKind] = {k.api_name: k for k in AlertKind}
ALERT_SEVERITY_BY_NAME: dict[str, AlertSeverity] = {s.api_name: s for s in AlertSeverity}
