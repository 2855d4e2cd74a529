"""What the router knows of its models' health, for the dashboard (`ProviderHealth`):
breaker state, Retry-After holds, smoothed latency and error rate, and free-tier quota
used in the current windows. Read from the health board and the quota ledger as they
are; nothing here changes them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from services.router.breaker import CLOSED, HealthBoard
from services.router.catalogue import ModelInfo, QuotaLimits
from services.router.quota import QuotaLedger, quota_key


@dataclass(frozen=True, slots=True)
class QuotaUse:
    key: str
    used: tuple[int, int, int, int]  # requests/min, requests/day, tokens/min, tokens/day
    limits: QuotaLimits
    remaining: float  # [0, 1]


@dataclass(frozen=True, slots=True)
class ModelHealth:
    model_id: str
    provider: str
    state: int  # breaker.CLOSED / HALF_OPEN / OPEN
    retry_in_s: float
    latency_ms: float
    error_rate: float
    inflight: int
    quota: QuotaUse | None


def report(
    models: Iterable[ModelInfo], board: HealthBoard, quota: QuotaLedger | None
) -> list[ModelHealth]:
    """Models that were called, are not healthy, or state free-tier limits; by id."""
    abnormal = board.abnormal()
    called = board.latency_ms.keys() | board.error_rate.keys() | board.inflight.keys()
    chosen = [
        m
        for m in models
        if m.id in abnormal or m.id in called or (quota is not None and m.free_tier.stated)
    ]
    return [_health(m, board, quota, abnormal.get(m.id, CLOSED)) for m in sorted(chosen, key=_id)]


def _id(model: ModelInfo) -> str:
    return model.id


def _health(
    model: ModelInfo, board: HealthBoard, quota: QuotaLedger | None, state: int
) -> ModelHealth:
    return ModelHealth(
        model.id,
        model.provider,
        state,
        board.retry_in(model.id),
        board.latency_ms.get(model.id, 0.0),
        board.error_rate.get(model.id, 0.0),
        board.inflight.get(model.id, 0),
        _quota(model, quota),
    )


def _quota(model: ModelInfo, quota: QuotaLedger | None) -> QuotaUse | None:
    if quota is None or not model.free_tier.stated:
        return None
    key = quota_key(model)
    left = quota.remaining(model)
    return QuotaUse(key, quota.used(key), model.free_tier, 1.0 if math.isinf(left) else left)
