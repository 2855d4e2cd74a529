"""The normalised model record (DESIGN.md "The model record"): plain Python, no grpc."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.shared.vocabulary import CAPABILITY_BY_NAME


class FreeReason(enum.StrEnum):
    """Why a model costs nothing to call. NONE means it is not free."""

    NONE = ""
    ZERO_PRICE = "zero_price"
    FREE_VARIANT = "free_variant"
    PROVIDER_FREE_TIER = "provider_free_tier"
    LOCAL_RUNTIME = "local_runtime"
    ALLOW_LIST = "allow_list"


class QuotaScope(enum.StrEnum):
    UNSPECIFIED = ""
    PER_MODEL = "per_model"
    PER_PROVIDER = "per_provider"
    PER_ACCOUNT = "per_account"


CAPABILITIES = tuple(CAPABILITY_BY_NAME)  # the vocabulary's names: tools, vision, json, …


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """Free-tier limits; 0 means the provider does not state that limit."""

    requests_per_minute: int = 0
    requests_per_day: int = 0
    tokens_per_minute: int = 0
    tokens_per_day: int = 0
    scope: QuotaScope = QuotaScope.UNSPECIFIED


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One model of one provider. Prices are USD per million tokens; None means unknown."""

    id: str  # "<provider>/<upstream_id>"
    provider: str
    upstream_id: str
    display_name: str = ""
    context_window: int = 0
    max_output_tokens: int = 0
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    request_price: float | None = None
    price_source: str = ""
    is_free: bool = False
    free_reason: FreeReason = FreeReason.NONE
    input_modalities: tuple[str, ...] = ("text",)
    output_modalities: tuple[str, ...] = ("text",)
    capabilities: frozenset[str] = frozenset()
    quality: float = 0.0
    quality_source: str = ""
    free_tier: QuotaLimits = field(default_factory=QuotaLimits)
    status: str = "active"
    extra: Mapping[str, str] = field(default_factory=dict)  # unknown provider fields, JSON-encoded

    @property
    def priced(self) -> bool:
        """True when both token prices are known (a model with no known price is never $0)."""
        return self.input_price_per_mtok is not None and self.output_price_per_mtok is not None
