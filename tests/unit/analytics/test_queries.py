"""Query validation: every bad field is named, every limit is stated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.analytics import queries
from services.analytics.feedback import FeedbackSource, Thumb, feedback
from services.analytics.queries import Dimension, Granularity
from services.shared.errors import InvalidArgument

NOW = datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)
DAY = timedelta(days=1)
MINUTE = Granularity.MINUTE


def ts(**fields: object) -> queries.Timeseries:
    defaults: dict[str, object] = {"since": None, "until": None, "granularity": Granularity.HOUR}
    return queries.timeseries(now=NOW, **(defaults | fields))  # type: ignore[arg-type]


def judged(score: float | None, thumb: Thumb | None = None) -> object:
    return feedback("r", score=score, thumb=thumb, source=FeedbackSource.JUDGE)


def test_a_timeseries_covers_whole_buckets_with_defaults() -> None:
    q = queries.timeseries(since=None, until=None, granularity=Granularity.HOUR, now=NOW)
    assert (q.since, q.until) == (
        NOW.replace(minute=0, second=0) - timedelta(hours=23),
        NOW.replace(hour=13, minute=0, second=0),
    )
    assert (q.percentiles, q.max_series, q.buckets) == ((50.0, 95.0, 99.0), 100, 24)
    day = queries.timeseries(
        since=NOW - timedelta(days=3), until=NOW, granularity=Granularity.DAY, now=NOW
    )
    assert (day.since.day, day.until.day, day.buckets) == (26, 2, 4)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ts(since=NOW, until=NOW - timedelta(hours=2)), "until: must not be before since"),
        (
            lambda: ts(since=NOW - 3 * DAY, granularity=MINUTE),
            "since: 4321 minute buckets from since to until; at most 3000",
        ),
        (
            lambda: ts(group_by_=[Dimension.MODEL, Dimension.KEY, Dimension.MODEL]),
            "group_by[2]: model is listed twice",
        ),
        (lambda: ts(percentiles=[50, 0]), "percentiles[1]: expected 0 < p <= 100, got 0"),
        (lambda: ts(percentiles=[float("nan")]), "percentiles[0]: expected 0 < p <= 100, got nan"),
        (lambda: ts(percentiles=[50] * 11), "percentiles: at most 10 values, got 11"),
        (lambda: ts(max_series=1001), "max_series: at most 1000, got 1001"),
        (
            lambda: queries.usage_filter(models=["a", ""]),
            "filter.models[1]: expected 1 to 512 characters",
        ),
        (
            lambda: queries.usage_filter(key_ids=["k" * 513]),
            "filter.key_ids[0]: expected 1 to 512 characters",
        ),
        (
            lambda: queries.usage_filter(team_ids=["t"] * 101),
            "filter.team_ids: at most 100 values, got 101",
        ),
        (
            lambda: queries.baseline("m", -1.0, 0.0, 0.0),
            "baseline.input_per_mtok: expected a price from 0 to 1e+06 USD",
        ),
        (
            lambda: queries.baseline("m", 1.0, float("inf"), 0.0),
            "baseline.output_per_mtok: expected a price",
        ),
        (
            lambda: queries.savings(since=None, until=None, now=NOW, request_limit=1001),
            "request_limit: at most 1000",
        ),
        (
            lambda: queries.forecast(as_of=None, now=NOW, lookback_days=91),
            "lookback_days: at most 90, got 91",
        ),
        (
            lambda: queries.forecast(as_of=None, now=NOW, quotas=[queries.Quota("")]),
            "quotas[0].model: expected 1 to",
        ),
        (
            lambda: queries.forecast(as_of=None, now=NOW, quotas=[queries.Quota("m", -1)]),
            "quotas[0].requests_per_day: must be >= 0",
        ),
        (
            lambda: queries.export(since=NOW, until=NOW - timedelta(1), now=NOW),
            "until: must not be before since",
        ),
        (lambda: queries.watch(50, 0), "interval_ms: expected 100 to 60000 ms, got 50"),
        (lambda: queries.watch(0, 301), "window_s: expected 1 to 300 s, got 301"),
        (lambda: feedback("", score=1.0, thumb=None, source=None), "request_id: required"),
        (lambda: judged(1.5), "score: expected a number in [0, 1], got 1.5"),
        (lambda: judged(None), "score: required: a score in [0, 1], or a thumb"),
        (lambda: judged(0.5, Thumb.UP), "thumb: give a score or a thumb, not both"),
        (
            lambda: feedback("r", score=0.5, thumb=None, source=None),
            "source: required: application or judge",
        ),
    ],
)
def test_bad_fields_are_named(build: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidArgument) as failure:
        build()
    assert str(failure.value).startswith(message)


def test_defaults_of_the_other_queries() -> None:
    s = queries.savings(since=None, until=None, now=NOW)
    assert (s.since, s.until, s.baseline) == (NOW - timedelta(days=30), NOW, None)
    twice = [queries.Quota("m", 1), queries.Quota("m", 2)]
    f = queries.forecast(as_of=None, now=NOW, quotas=twice)
    assert (f.as_of, f.lookback_days, f.quotas) == (NOW, 14, (queries.Quota("m", 2),))
    e = queries.export(since=None, until=None, now=NOW)
    assert (e.since.year, e.until, e.format) == (1, NOW, queries.ExportFormat.JSONL)
    assert queries.watch(0, 0) == queries.Watch(1000, 10)
    assert queries.usage_filter(models=["a", "a", "b"]).models == ("a", "b")


def test_a_baseline_prices_tokens_and_requests() -> None:
    b = queries.baseline("openai/gpt-4o", 2.5, 10.0, 0.01)
    assert b.cost(2, 1_000_000, 100_000) == pytest.approx(2.5 + 1.0 + 0.02)
