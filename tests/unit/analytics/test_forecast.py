"""The month-end projection: its arithmetic, its interval, and what it says about itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.analytics import forecast
from services.analytics.forecast import Horizon, project, quota_use

AS_OF = datetime(2026, 2, 10, 18, 0, tzinfo=UTC)  # February: 28 days


def test_the_horizon_is_the_rest_of_the_utc_month() -> None:
    h = Horizon.at(AS_OF)
    assert (h.month_start, h.month_end) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert h.rest_of_today == 0.25
    assert h.days_after_today == 18
    assert Horizon.at(datetime(2026, 12, 31, 23, tzinfo=UTC)).month_end.year == 2027


def test_a_straight_line_is_extended_exactly() -> None:
    daily = [10.0 + 2 * i for i in range(7)]  # yesterday 22, rising 2 a day
    p = project(daily, 100.0, Horizon.at(AS_OF))
    # today (x=0) is 24; its last quarter is 6; then 26, 28, ... for 18 days.
    rest = 0.25 * 24 + sum(24 + 2 * x for x in range(1, 19))
    assert p.month_end == pytest.approx(100 + rest)
    assert p.low == pytest.approx(p.month_end)
    assert p.high == pytest.approx(p.month_end)
    assert p.per_day == pytest.approx(24)


def test_noise_widens_the_interval_and_days_left_widen_it_more() -> None:
    daily = [10.0, 14.0, 9.0, 15.0, 11.0, 13.0, 12.0]
    early = project(daily, 0.0, Horizon.at(datetime(2026, 2, 3, tzinfo=UTC)))
    late = project(daily, 0.0, Horizon.at(datetime(2026, 2, 26, tzinfo=UTC)))
    assert early.low < early.month_end < early.high
    assert (early.high - early.low) > (late.high - late.low) > 0


def test_spent_money_stays_spent_but_a_saving_may_fall() -> None:
    falling = [50.0, 40.0, 30.0, 20.0, 10.0]
    cost = project(falling, 500.0, Horizon.at(AS_OF))
    assert cost.month_end == 500.0  # the trend goes below zero: nothing more per day
    assert cost.low >= 500.0
    saving = project(falling, 500.0, Horizon.at(AS_OF), nonnegative=False)
    assert saving.month_end < 500.0


def test_too_few_days_for_a_trend() -> None:
    two = project([10.0, 14.0], 30.0, Horizon.at(AS_OF))
    assert two.per_day == 12.0
    assert two.low < two.month_end < two.high
    one = project([12.0], 30.0, Horizon.at(AS_OF))
    assert one.low == one.month_end == one.high == 30 + 12 * 18.25
    none = project([], 30.0, Horizon.at(AS_OF))
    assert none.month_end == 30.0
    assert forecast.confidence(1) == 0.0
    assert forecast.confidence(2) == 0.9
    assert "no interval" in forecast.method(1, 14)
    assert "Student t, 5 degrees" in forecast.method(7, 14)


def test_student_t_quantiles() -> None:
    assert forecast.t95(1) == 6.314
    assert forecast.t95(30) == 1.697
    assert forecast.t95(60) == pytest.approx(1.6706, abs=1e-3)
    assert forecast.t95(10_000) == pytest.approx(1.645, abs=1e-3)


def test_a_quota_runs_out_when_the_recent_rate_says() -> None:
    h = Horizon.at(AS_OF)  # 6 hours left today
    use = quota_use(80, 8000, 30, 0, h, requests_per_day=100, tokens_per_day=0)
    assert use.projected_requests == 80 + 10 * 6
    assert use.exhausted_at == AS_OF + timedelta(hours=2)
    assert quota_use(100, 0, 0, 0, h, 100, 0).exhausted_at == AS_OF
    assert quota_use(10, 0, 3, 0, h, 100, 0).exhausted_at is None
