"""The router's copy of the catalogue: plain model records and the rules for applying the
catalog's snapshot and change events to them (no grpc here; `snapshot.py` feeds it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Quota scopes: the proto QuotaScope numbers.
SCOPE_UNSPECIFIED = 0
SCOPE_PER_MODEL = 1
SCOPE_PER_PROVIDER = 2
SCOPE_PER_ACCOUNT = 3


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """A model's free-tier limits (0 = not stated) and who shares them (a SCOPE_* number)."""

    requests_per_minute: int = 0
    requests_per_day: int = 0
    tokens_per_minute: int = 0
    tokens_per_day: int = 0
    scope: int = SCOPE_UNSPECIFIED

    @property
    def row(self) -> tuple[int, int, int, int]:
        """The limits in the ledger's metric order: requests/min, requests/day, tokens/min, /day."""
        return (
            self.requests_per_minute,
            self.requests_per_day,
            self.tokens_per_minute,
            self.tokens_per_day,
        )

    @property
    def stated(self) -> bool:
        return any(self.row)


NO_LIMITS = QuotaLimits()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What routing and execution need to know about one catalogue model."""

    id: str
    provider: str
    upstream_id: str
    context_window: int = 0  # 0 = unknown
    max_output_tokens: int = 0  # 0 = unknown
    input_price: float | None = None  # USD per Mtok; None = unknown (never read as $0)
    output_price: float | None = None
    request_price: float | None = None
    is_free: bool = False
    capabilities: frozenset[int] = field(default_factory=frozenset)  # proto Capability numbers
    quality: float = 0.0
    status: str = "active"
    free_tier: QuotaLimits = NO_LIMITS
    chat: bool = True  # takes text and answers text (not speech, embedding, image, safety)

    @property
    def active(self) -> bool:
        return self.status in ("", "active")


@dataclass
class CatalogueState:
    """Models by id plus the catalogue version they reflect."""

    models: dict[str, ModelInfo] = field(default_factory=dict)
    version: int = 0

    def replace(self, models: Iterable[ModelInfo], version: int) -> None:
        """A full snapshot: everything not in it is gone."""
        self.models = {model.id: model for model in models}
        self.version = version

    def upsert(self, model: ModelInfo, version: int) -> bool:
        """An ADDED or CHANGED event; False (ignored) when not newer than what we hold."""
        if version <= self.version:
            return False
        self.models[model.id] = model
        self.version = version
        return True

    def remove(self, model_id: str, version: int) -> bool:
        """A REMOVED event; False (ignored) when not newer than what we hold."""
        if version <= self.version:
            return False
        self.models.pop(model_id, None)
        self.version = version
        return True
