"""The in-house Prometheus registry: exposition format, escaping, histogram buckets, the
naming rules and the series bound."""

from __future__ import annotations

import math

import pytest

from services.shared.metrics import OTHER, MetricError, Registry, format_value
from tests.prometheus_text import check_metrics, parse, total


def test_counter_with_labels_and_escaping() -> None:
    r = Registry()
    c = r.counter("freeway_things_total", 'Things\\ "counted"\nper model', ("model",))
    c.labels('a"b\\c\nd').inc(2)
    c.labels("plain").inc()
    assert r.expose() == (
        '# HELP freeway_things_total Things\\\\ "counted"\\nper model\n'
        "# TYPE freeway_things_total counter\n"
        'freeway_things_total{model="a\\"b\\\\c\\nd"} 2\n'
        'freeway_things_total{model="plain"} 1\n'
    )


def test_histogram_buckets_are_cumulative_and_le_is_inclusive() -> None:
    r = Registry()
    h = r.histogram("freeway_wait_seconds", "Waits", ("provider",), buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 7):
        h.labels("p").observe(value)
    samples = parse(r.expose())
    assert total(samples, "freeway_wait_seconds_bucket", le="0.1") == 2
    assert total(samples, "freeway_wait_seconds_bucket", le="1") == 3
    assert total(samples, "freeway_wait_seconds_bucket", le="+Inf") == 4
    assert total(samples, "freeway_wait_seconds_count") == 4
    assert total(samples, "freeway_wait_seconds_sum") == pytest.approx(7.65)


def test_sampled_metrics_are_read_at_scrape_time() -> None:
    r = Registry()
    state = {"depth": 3.0}
    r.sampled("freeway_depth_bytes", "Depth", (), lambda: [((), state["depth"])])
    assert "freeway_depth_bytes 3\n" in r.expose()
    state["depth"] = 5.5
    assert "freeway_depth_bytes 5.5\n" in r.expose()


def test_a_failing_sampled_metric_leaves_the_rest_of_the_scrape() -> None:
    r = Registry()
    r.gauge("freeway_ok", "Fine").set(1)

    def broken() -> list[tuple[tuple[str, ...], float]]:
        raise RuntimeError("boom")

    r.sampled("freeway_broken", "Broken", (), broken)
    assert r.expose().endswith("freeway_ok 1\n")


@pytest.mark.parametrize(
    ("value", "text"), [(math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"), (3.0, "3")]
)
def test_special_values(value: float, text: str) -> None:
    assert format_value(value) == text


def test_naming_rules() -> None:
    r = Registry()
    with pytest.raises(MetricError, match="_total"):
        r.counter("freeway_things", "x")
    with pytest.raises(MetricError, match="metric name"):
        r.gauge("9bad", "x")
    with pytest.raises(MetricError, match="label name"):
        r.gauge("freeway_x", "x", ("__reserved",))
    with pytest.raises(MetricError, match="le"):
        r.histogram("freeway_h_seconds", "x", ("le",))
    r.gauge("freeway_twice", "x")
    with pytest.raises(MetricError, match="twice"):
        r.gauge("freeway_twice", "x")
    with pytest.raises(MetricError, match="expected labels"):
        r.counter("freeway_l_total", "x", ("a", "b")).labels("only-one")
    with pytest.raises(MetricError, match="only goes up"):
        r.counter("freeway_up_total", "x").inc(-1)


def test_series_past_the_bound_fold_into_one() -> None:
    r = Registry()
    c = r.counter("freeway_many_total", "x", ("id",), max_series=3)
    for i in range(10):
        c.labels(str(i)).inc()
    samples = parse(r.expose())
    assert len([k for k in samples if k[0] == "freeway_many_total"]) == 3 + 1  # and _other
    assert total(samples, "freeway_many_total", id=OTHER) == 7


def test_a_full_registry_passes_promtool() -> None:
    r = Registry()
    r.counter("freeway_requests_total", "Requests", ("status",)).labels("ok").inc()
    r.histogram("freeway_duration_seconds", "Durations").observe(0.2)
    r.gauge("freeway_in_flight", "In flight").set(2)
    check_metrics(r.expose())
