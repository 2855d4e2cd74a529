"""Month-end projections from the recent daily trend, with a stated prediction interval.

The method, in words (also sent with every answer): a straight line is fitted by least
squares through the daily totals of the last complete UTC days (from the first day with
any request, at most `lookback_days`: days before it are days before the service saw
traffic, not days of zero traffic), and extended over what is left of the month: the rest
of today, then each remaining day. The interval is the 90 % prediction interval of that
sum under the fit (residual variance, Student t with n-2 degrees of freedom), so it widens
with a noisy history and with the days left. With fewer than three days there is no
trend: the mean daily total is extended instead (two days still give an interval; one
gives none, and the answer's confidence is 0). Quantities that cannot be negative
(cost, requests, tokens) are never projected below zero per day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.analytics.queries import Granularity, floor

CONFIDENCE = 0.9
DAY = timedelta(days=1)
QUOTA_RATE_WINDOW = timedelta(hours=3)

# Student t quantiles for a two-sided 90 % interval (0.95 one-sided), df 1..30.
_T95 = (
    6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
    1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725,
    1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697,
)  # fmt: skip
_Z95 = 1.6448536269514722


def t95(df: int) -> float:
    """The 0.95 quantile of Student's t with `df` degrees of freedom."""
    if df <= len(_T95):
        return _T95[df - 1]
    z, v = _Z95, float(df)  # Cornish-Fisher expansion: within 0.1 % beyond 30 df
    return z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)


@dataclass(frozen=True, slots=True)
class Projection:
    to_date: float
    month_end: float
    low: float
    high: float
    per_day: float


@dataclass(frozen=True, slots=True)
class Horizon:
    """What is left of the month at `as_of`: the rest of today, then whole days."""

    as_of: datetime
    month_start: datetime
    month_end: datetime

    @classmethod
    def at(cls, as_of: datetime) -> Horizon:
        start = as_of.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        return cls(as_of, start, end)

    @property
    def today(self) -> datetime:
        return floor(self.as_of, Granularity.DAY)

    @property
    def rest_of_today(self) -> float:
        """The fraction of today still to come."""
        return (self.today + DAY - self.as_of) / DAY

    @property
    def days_after_today(self) -> int:
        return (self.month_end - self.today - DAY) // DAY

    def weights(self) -> list[tuple[float, float]]:
        """(x, weight) for each future day: x = days from today, weight = the part of it
        still to come."""
        return [(0.0, self.rest_of_today)] + [
            (float(x), 1.0) for x in range(1, self.days_after_today + 1)
        ]


def method(days: int, lookback: int) -> str:
    if days >= 3:
        return (
            f"least-squares line through the daily totals of the last {days} complete UTC"
            f" days (lookback {lookback}), extended to the end of the month;"
            f" {CONFIDENCE:.0%} prediction interval from the fit's residuals"
            f" (Student t, {days - 2} degrees of freedom)"
        )
    if days == 2:
        return (
            "mean of the daily totals of the last 2 complete UTC days (too few for a"
            f" trend), extended to the end of the month; {CONFIDENCE:.0%} prediction"
            " interval from their spread (Student t, 1 degree of freedom)"
        )
    if days == 1:
        return (
            "the one complete UTC day with usage, extended to the end of the month;"
            " one day gives no spread, so there is no interval (confidence 0)"
        )
    return "no complete UTC day with usage in the lookback: the month ends at the usage so far"


def confidence(days: int) -> float:
    return CONFIDENCE if days >= 2 else 0.0


def project(
    daily: Sequence[float], to_date: float, horizon: Horizon, *, nonnegative: bool = True
) -> Projection:
    """`to_date` plus the trend of `daily` (the observed days, oldest first, ending
    yesterday) over the rest of the month."""
    ys = list(daily)
    n = len(ys)
    if n == 0:
        return Projection(to_date, to_date, to_date, to_date, 0.0)
    xs = [float(x) for x in range(-n, 0)]  # yesterday is -1
    if n >= 3:
        return _trend(xs, ys, to_date, horizon, nonnegative)
    return _mean(ys, to_date, horizon, nonnegative)


def _trend(
    xs: list[float], ys: list[float], to_date: float, horizon: Horizon, nonnegative: bool
) -> Projection:
    n = len(xs)
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    slope = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx  # the fitted value today (x = 0)
    residual = math.fsum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    sigma2 = residual / (n - 2)
    future = horizon.weights()
    central = to_date + math.fsum(w * _at(intercept + slope * x, nonnegative) for x, w in future)
    # Var(sum of future days − its estimate) = σ²·(Σw² + c'(X'X)⁻¹c), c = Σ w·(1, x).
    cw = math.fsum(w for _, w in future)
    cx = math.fsum(w * x for x, w in future)
    estimate = cw**2 / n + (cx - cw * mx) ** 2 / sxx
    spread = t95(n - 2) * math.sqrt(sigma2 * (math.fsum(w * w for _, w in future) + estimate))
    return _bounded(to_date, central, spread, _at(intercept, nonnegative), nonnegative)


def _mean(ys: list[float], to_date: float, horizon: Horizon, nonnegative: bool) -> Projection:
    n = len(ys)
    rate = _at(math.fsum(ys) / n, nonnegative)
    future = horizon.weights()
    central = to_date + rate * math.fsum(w for _, w in future)
    if n < 2:
        return Projection(to_date, central, central, central, rate)
    variance = math.fsum((y - rate) ** 2 for y in ys) / (n - 1)
    total_w = math.fsum(w for _, w in future)
    spread = t95(n - 1) * math.sqrt(
        variance * (math.fsum(w * w for _, w in future) + total_w**2 / n)
    )
    return _bounded(to_date, central, spread, rate, nonnegative)


def _at(value: float, nonnegative: bool) -> float:
    return max(value, 0.0) if nonnegative else value


def _bounded(
    to_date: float, central: float, spread: float, rate: float, nonnegative: bool
) -> Projection:
    low = central - spread
    if nonnegative:
        low = max(low, to_date)  # what is spent stays spent
    return Projection(to_date, central, low, central + spread, rate)


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """One model's free-tier use today, and where it is heading."""

    requests_today: int
    tokens_today: int
    projected_requests: float
    projected_tokens: float
    exhausted_at: datetime | None


def quota_use(
    requests_today: int,
    tokens_today: int,
    recent_requests: int,
    recent_tokens: int,
    horizon: Horizon,
    requests_per_day: int,
    tokens_per_day: int,
) -> QuotaUse:
    """Today's use so far plus the rate of the last `QUOTA_RATE_WINDOW` until midnight;
    `exhausted_at` is when the first stated limit is projected to run out (at or before
    `as_of` when one already has)."""
    left = horizon.today + DAY - horizon.as_of
    hours = QUOTA_RATE_WINDOW / timedelta(hours=1)
    request_rate, token_rate = recent_requests / hours, recent_tokens / hours  # per hour
    left_h = left / timedelta(hours=1)
    projected_requests = requests_today + request_rate * left_h
    projected_tokens = tokens_today + token_rate * left_h
    times = [
        _runs_out(requests_today, request_rate, requests_per_day, horizon.as_of, left),
        _runs_out(tokens_today, token_rate, tokens_per_day, horizon.as_of, left),
    ]
    known = [t for t in times if t is not None]
    return QuotaUse(
        requests_today,
        tokens_today,
        projected_requests,
        projected_tokens,
        min(known) if known else None,
    )


def _runs_out(
    used: int, rate_per_hour: float, limit: int, as_of: datetime, left: timedelta
) -> datetime | None:
    if not limit:
        return None
    if used >= limit:
        return as_of
    if rate_per_hour <= 0:
        return None
    needed = timedelta(hours=(limit - used) / rate_per_hour)
    return as_of + needed if needed <= left else None
