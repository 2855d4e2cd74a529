"""What the simulator should do wrong, and for which requests: faults grouped into rules.

A rule targets one provider (or "*"), optionally one model, one endpoint ("chat" or
"models"), and may expire after `times` matching requests. The most specific, most recent
rule wins: model rules before provider rules, newer before older.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

ENDPOINTS = ("chat", "models")


@dataclass(frozen=True)
class Latency:
    """Wait this long before sending the response headers."""

    seconds: float


@dataclass(frozen=True)
class ChunkDelay:
    """Wait this long before every streamed chunk (a slow stream)."""

    seconds: float


@dataclass(frozen=True)
class Error:
    """Answer with this HTTP status and body (OpenAI error shape when body is None)."""

    status: int
    body: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Malformed:
    """Answer 200 with a body (or a stream line) that is not valid JSON."""


@dataclass(frozen=True)
class Drop:
    """Close the connection after `after_chunks` streamed chunks (non-stream: mid-body)."""

    after_chunks: int = 1


@dataclass(frozen=True)
class Reply:
    """Answer chat requests with this exact text."""

    text: str


Fault = Latency | ChunkDelay | Error | Malformed | Drop | Reply

_KINDS: dict[str, type[Any]] = {
    "latency": Latency,
    "chunk_delay": ChunkDelay,
    "error": Error,
    "malformed": Malformed,
    "drop": Drop,
    "reply": Reply,
}
_NAMES = {cls: name for name, cls in _KINDS.items()}


@dataclass
class Rule:
    provider: str
    model: str | None
    endpoint: str
    faults: tuple[Fault, ...]
    times: int | None = None  # None: forever
    hits: int = 0

    def matches(self, provider: str, endpoint: str, model: str | None) -> bool:
        return (
            self.endpoint == endpoint
            and self.provider in ("*", provider)
            and (self.model is None or self.model == model)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "endpoint": self.endpoint,
            "times": self.times,
            "hits": self.hits,
            "faults": [fault_to_json(f) for f in self.faults],
        }


@dataclass(frozen=True)
class Plan:
    """The faults that apply to one request, flattened for the handlers."""

    latency: float = 0.0
    chunk_delay: float = 0.0
    error: Error | None = None
    malformed: bool = False
    drop_after: int | None = None
    reply: str | None = None


NO_FAULTS = Plan()


def plan_of(faults: tuple[Fault, ...]) -> Plan:
    values: dict[str, Any] = {}
    for fault in faults:
        match fault:
            case Latency(seconds):
                values["latency"] = seconds
            case ChunkDelay(seconds):
                values["chunk_delay"] = seconds
            case Error():
                values["error"] = fault
            case Malformed():
                values["malformed"] = True
            case Drop(after_chunks):
                values["drop_after"] = after_chunks
            case Reply(text):
                values["reply"] = text
    return Plan(**values)


@dataclass
class Script:
    """The rule book. Thread-safe: tests may script it from another thread."""

    rules: list[Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rule: Rule) -> Rule:
        if rule.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint: expected one of {ENDPOINTS}, got {rule.endpoint!r}")
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self, provider: str | None = None) -> None:
        with self._lock:
            self.rules = [r for r in self.rules if provider is not None and r.provider != provider]

    def plan(self, provider: str, endpoint: str, model: str | None) -> Plan:
        """The plan for one request; counts the hit against the chosen rule."""
        if not self.rules:
            return NO_FAULTS
        with self._lock:
            rule = self._find(provider, endpoint, model)
            if rule is None:
                return NO_FAULTS
            rule.hits += 1
            if rule.times is not None and rule.hits >= rule.times:
                self.rules.remove(rule)
            return plan_of(rule.faults)

    def _find(self, provider: str, endpoint: str, model: str | None) -> Rule | None:
        candidates = [r for r in reversed(self.rules) if r.matches(provider, endpoint, model)]
        for rule in candidates:
            if rule.model is not None:
                return rule
        return candidates[0] if candidates else None


def fault_to_json(fault: Fault) -> dict[str, Any]:
    return {"kind": _NAMES[type(fault)], **asdict(fault)}


def fault_from_json(raw: Any, where: str) -> Fault:
    """Parse {"kind": "error", "status": 429, ...}; errors name the field."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected an object")
    kind = raw.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"{where}.kind: expected one of {', '.join(_KINDS)}, got {kind!r}")
    args = {k: v for k, v in raw.items() if k != "kind"}
    try:
        fault: Fault = cls(**args)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return fault


def rule_from_json(raw: Any) -> Rule:
    """Parse the admin endpoint's body into a Rule."""
    if not isinstance(raw, Mapping):
        raise ValueError("body: expected a JSON object")
    provider = raw.get("provider")
    if not isinstance(provider, str) or not provider:
        raise ValueError("provider: expected a provider name or '*'")
    model = raw.get("model")
    if model is not None and not isinstance(model, str):
        raise ValueError("model: expected a string or null")
    endpoint = raw.get("endpoint", "chat")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint: expected one of {ENDPOINTS}, got {endpoint!r}")
    times = raw.get("times")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise ValueError("times: expected a positive integer or null")
    faults = raw.get("faults", [])
    if not isinstance(faults, list):
        raise ValueError("faults: expected a list")
    parsed = tuple(fault_from_json(f, f"faults[{i}]") for i, f in enumerate(faults))
    return Rule(provider, model, endpoint, parsed, times)
