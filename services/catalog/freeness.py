"""Free-model detection: decides ``is_free`` and ``free_reason`` of a parsed record.

The parsers state what the provider's body says (prices, with provider conventions such as
"negative means variable" already turned into *unknown*); this module applies the rules that
turn those facts, plus the operator's policy from the providers file, into a verdict.

Reasons, in the order they are tried:

1. ``local_runtime``: policy ``mode="local"``, or a local-runtime format (Ollama, llama.cpp,
   LM Studio, vLLM) served from a loopback or private address — unless the mode is
   ``"none"``. Running it costs no per-token fee. A private address alone proves nothing: a
   hosted provider's API behind a local proxy still bills per token.
2. ``free_variant``: the upstream id ends in ``:free`` (OpenRouter) or ``-Free`` (Together's
   free serverless models), and no positive price is stated.
3. ``zero_price``: input and output prices both known and 0 (and no positive per-request
   price). A zero token price on a model that *outputs* images, audio or video says nothing
   (those are billed per image/second), so it is not evidence of free.
4. ``provider_free_tier``: policy ``mode="free_tier"``: every model of the provider except
   those the body itself puts out of the free tier (``extra["paid_only"] == "true"``, set by
   the parsers from e.g. Pollinations' ``paid_only`` / paid tiers).
5. ``allow_list``: the operator allow-list (exact ids or glob patterns, matched against the
   upstream id and the full ``provider/upstream`` id), in every mode.

A record without a known price is never free by price: it stays ``unpriced``.
Free models carry the policy's quota facts (``free_tier``); others carry none.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from services.catalog.records import FreeReason, ModelRecord, QuotaLimits

MODES = ("price", "free_tier", "local", "none")

_FREE_SUFFIXES = (":free", "-free")
_PRICED_MEDIA = frozenset({"image", "audio", "video"})
_LOCAL_HOSTNAMES = frozenset({"localhost", "host.docker.internal"})


@dataclass(frozen=True)
class FreePolicy:
    """A provider's free policy, from the providers file."""

    mode: str = "price"
    allow: tuple[str, ...] = ()
    free_tier: QuotaLimits = field(default_factory=QuotaLimits)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"free policy mode: {self.mode!r} is not one of {', '.join(MODES)}")


def classify(
    record: ModelRecord, policy: FreePolicy, base_url: str = "", local_format: bool = False
) -> ModelRecord:
    """The record with ``is_free``, ``free_reason`` and ``free_tier`` set from scratch.
    ``local_format``: the list came in a local runtime's format (see LOCAL_FORMATS)."""
    reason = free_reason(record, policy, base_url, local_format)
    free = reason is not FreeReason.NONE
    return dataclasses.replace(
        record,
        is_free=free,
        free_reason=reason,
        free_tier=policy.free_tier if free else QuotaLimits(),
    )


def free_reason(
    record: ModelRecord, policy: FreePolicy, base_url: str = "", local_format: bool = False
) -> FreeReason:
    """Why the record is free under ``policy`` (FreeReason.NONE when it is not)."""
    if policy.mode != "none":
        if policy.mode == "local" or (local_format and is_local_url(base_url)):
            return FreeReason.LOCAL_RUNTIME
        if is_free_variant(record):
            return FreeReason.FREE_VARIANT
        if is_zero_priced(record):
            return FreeReason.ZERO_PRICE
        if policy.mode == "free_tier" and record.extra.get("paid_only") != "true":
            return FreeReason.PROVIDER_FREE_TIER
    if allowed(record, policy.allow):
        return FreeReason.ALLOW_LIST
    return FreeReason.NONE


def is_free_variant(record: ModelRecord) -> bool:
    """``:free`` / ``-Free`` id suffix with no positive price stated."""
    return record.upstream_id.lower().endswith(_FREE_SUFFIXES) and not _has_positive_price(record)


def is_zero_priced(record: ModelRecord) -> bool:
    """Both token prices known and zero, no request fee, and a token-billed output."""
    if record.input_price_per_mtok != 0 or record.output_price_per_mtok != 0:
        return False  # also covers None: unknown is never $0
    if record.request_price:
        return False
    return not _PRICED_MEDIA.intersection(record.output_modalities)


def allowed(record: ModelRecord, patterns: tuple[str, ...]) -> bool:
    """True when an allow-list entry (exact or glob) matches the upstream or full id."""
    return any(
        fnmatch.fnmatchcase(record.upstream_id, p) or fnmatch.fnmatchcase(record.id, p)
        for p in patterns
    )


def is_local_url(base_url: str) -> bool:
    """True for loopback, private, link-local and ``.local`` hosts."""
    if not base_url:
        return False
    host = (urlsplit(base_url if "//" in base_url else f"//{base_url}").hostname or "").lower()
    if host in _LOCAL_HOSTNAMES or host.endswith((".local", ".localhost", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def _has_positive_price(record: ModelRecord) -> bool:
    prices = (record.input_price_per_mtok, record.output_price_per_mtok, record.request_price)
    return any(p is not None and p > 0 for p in prices)
