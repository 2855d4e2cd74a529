"""What the simulator should do wrong, and for which requests: faults grouped into rules.

A rule targets one provider (or "*"), optionally one model, one endpoint ("chat" or
"models"), and applies to every matching request, to the first `times` of them, or to a
`fraction` of them (spread evenly: 0.25 hits the 4th, 8th, 12th … request). The most
specific, most recent rule wins: model rules before provider rules, newer before older.
"""

from __future__ import annotations

import dataclasses
import threading
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

ENDPOINTS = ("chat", "models")


def _check_status(status: int, low: int) -> None:
    if not low <= status <= 599:
        raise ValueError(f"status: expected an HTTP status from {low} to 599, got {status}")


@dataclass(frozen=True)
class Latency:
    """Wait this long before sending the response headers (a slow first byte)."""

    seconds: float


@dataclass(frozen=True)
class FirstTokenDelay:
    """Send the stream's headers at once, then wait this long before its first chunk."""

    seconds: float


@dataclass(frozen=True)
class ChunkDelay:
    """Wait this long before every streamed chunk (a slow stream)."""

    seconds: float


@dataclass(frozen=True)
class Hang:
    """Take the request and never answer (a timeout): no headers, no body, until the client
    gives up or the simulator stops."""


@dataclass(frozen=True)
class Error:
    """Answer with this HTTP status. `body` None: the provider's own error shape (taken from
    its recorded errors) carrying a message about the status."""

    status: int
    body: str | None = None
    retry_after: float | None = None
    content_type: str = "application/json"

    def __post_init__(self) -> None:
        _check_status(self.status, 400)


@dataclass(frozen=True)
class HtmlPage:
    """Answer with an HTML error page (a proxy's, as Hugging Face's 502 was recorded)."""

    status: int = 503

    def __post_init__(self) -> None:
        _check_status(self.status, 400)


@dataclass(frozen=True)
class Decommissioned:
    """400 "The model … has been decommissioned" in the provider's error shape (script it
    with `model=`: it is about one model)."""


@dataclass(frozen=True)
class InvalidRequest:
    """400 that is the request's own fault, naming `param`, in the provider's error shape."""

    param: str = "messages"
    message: str = "Invalid value for 'messages': the request is malformed."


@dataclass(frozen=True)
class EchoKey:
    """An error whose body repeats the API key the request carried (for redaction tests)."""

    status: int = 401

    def __post_init__(self) -> None:
        _check_status(self.status, 400)


@dataclass(frozen=True)
class Malformed:
    """Answer 200 with a body (or a stream line) that is not valid JSON."""


@dataclass(frozen=True)
class Drop:
    """Close the connection after `after_chunks` streamed chunks (non-stream: mid-body)."""

    after_chunks: int = 1


@dataclass(frozen=True)
class Truncate:
    """End the stream cleanly after `after_chunks` chunks of the answer: no finish_reason,
    no [DONE], the connection closed properly (non-stream: half a body, cleanly ended)."""

    after_chunks: int = 2


@dataclass(frozen=True)
class StreamError:
    """HTTP 200, then an error object inside the stream after `after_chunks` chunks of the
    answer (0: before any), in the provider's recorded in-stream error shape; the stream
    ends there, without [DONE]."""

    after_chunks: int = 0
    message: str = "Provider returned error"


@dataclass(frozen=True)
class Reply:
    """Answer chat requests with this exact text."""

    text: str


Fault = (
    Latency
    | FirstTokenDelay
    | ChunkDelay
    | Hang
    | Error
    | HtmlPage
    | Decommissioned
    | InvalidRequest
    | EchoKey
    | Malformed
    | Drop
    | Truncate
    | StreamError
    | Reply
)

_KINDS: dict[str, type[Any]] = {
    "latency": Latency,
    "first_token_delay": FirstTokenDelay,
    "chunk_delay": ChunkDelay,
    "hang": Hang,
    "error": Error,
    "html_page": HtmlPage,
    "decommissioned": Decommissioned,
    "invalid_request": InvalidRequest,
    "echo_key": EchoKey,
    "malformed": Malformed,
    "drop": Drop,
    "truncate": Truncate,
    "stream_error": StreamError,
    "reply": Reply,
}
_NAMES = {cls: name for name, cls in _KINDS.items()}


@dataclass
class Rule:
    provider: str
    model: str | None
    endpoint: str
    faults: tuple[Fault, ...]
    times: int | None = None  # None: every matching request (or the fraction)
    fraction: float | None = None  # None: every matching request
    hits: int = 0  # requests the rule applied to
    seen: int = 0  # matching requests (for the fraction)

    def matches(self, provider: str, endpoint: str, model: str | None) -> bool:
        return (
            self.endpoint == endpoint
            and self.provider in ("*", provider)
            and (self.model is None or self.model == model)
        )

    def take(self) -> bool:
        """Count one matching request; True when the faults apply to it."""
        self.seen += 1
        # Evenly spread: apply when the running share crosses the next whole request.
        fraction = self.fraction
        if fraction is not None and int(self.seen * fraction) == int((self.seen - 1) * fraction):
            return False
        self.hits += 1
        return True

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "endpoint": self.endpoint,
            "times": self.times,
            "fraction": self.fraction,
            "hits": self.hits,
            "seen": self.seen,
            "faults": [fault_to_json(f) for f in self.faults],
        }


@dataclass(frozen=True)
class Plan:
    """The faults that apply to one request, flattened for the handlers."""

    latency: float = 0.0
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    hang: bool = False
    error: Error | None = None
    html_page: int | None = None
    decommissioned: bool = False
    invalid_request: InvalidRequest | None = None
    echo_key: int | None = None
    malformed: bool = False
    drop_after: int | None = None
    truncate_after: int | None = None
    stream_error: StreamError | None = None
    reply: str | None = None

    @property
    def rejects(self) -> bool:
        """An error answer instead of the completion."""
        return bool(
            self.error or self.html_page or self.decommissioned or self.invalid_request
            or self.echo_key
        )  # fmt: skip


NO_FAULTS = Plan()


def plan_of(faults: tuple[Fault, ...]) -> Plan:
    values: dict[str, Any] = {}
    for fault in faults:
        match fault:
            case Latency(seconds):
                values["latency"] = seconds
            case FirstTokenDelay(seconds):
                values["first_token_delay"] = seconds
            case ChunkDelay(seconds):
                values["chunk_delay"] = seconds
            case Hang():
                values["hang"] = True
            case Error():
                values["error"] = fault
            case HtmlPage(status):
                values["html_page"] = status
            case Decommissioned():
                values["decommissioned"] = True
            case InvalidRequest():
                values["invalid_request"] = fault
            case EchoKey(status):
                values["echo_key"] = status
            case Malformed():
                values["malformed"] = True
            case Drop(after_chunks):
                values["drop_after"] = after_chunks
            case Truncate(after_chunks):
                values["truncate_after"] = after_chunks
            case StreamError():
                values["stream_error"] = fault
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
        if rule.fraction is not None and not 0 < rule.fraction <= 1:
            raise ValueError(f"fraction: expected a number in (0, 1], got {rule.fraction!r}")
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self, provider: str | None = None) -> None:
        with self._lock:
            self.rules = [r for r in self.rules if provider is not None and r.provider != provider]

    def plan(self, provider: str, endpoint: str, model: str | None) -> Plan:
        """The plan for one request; counts the request against the chosen rule."""
        if not self.rules:
            return NO_FAULTS
        with self._lock:
            rule = self._find(provider, endpoint, model)
            if rule is None or not rule.take():
                return NO_FAULTS
            if rule.spent:
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
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for name, value in args.items():
        if name not in names:
            raise ValueError(f"{where}.{name}: {kind} takes {', '.join(sorted(names)) or 'none'}")
        if not _fits(value, hints[name]):
            raise ValueError(f"{where}.{name}: expected {_describe(hints[name])}, got {value!r}")
    try:
        fault: Fault = cls(**args)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        raise ValueError(
            f"{where}.{text}" if text.startswith("status") else f"{where}: {text}"
        ) from None
    return fault


def _fits(value: Any, hint: Any) -> bool:
    if isinstance(hint, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    if isinstance(hint, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    return {float: "a number ≥ 0", int: "an integer ≥ 0", str: "a string"}.get(
        hint, "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
    )


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
    fraction = raw.get("fraction")
    if fraction is not None and (
        not isinstance(fraction, int | float) or isinstance(fraction, bool) or not 0 < fraction <= 1
    ):
        raise ValueError("fraction: expected a number in (0, 1] or null")
    faults = raw.get("faults", [])
    if not isinstance(faults, list):
        raise ValueError("faults: expected a list")
    parsed = tuple(fault_from_json(f, f"faults[{i}]") for i, f in enumerate(faults))
    return Rule(provider, model, endpoint, parsed, times, float(fraction) if fraction else None)
