"""The simulator's rule book: which rule applies to a request, and the admin JSON format."""

from __future__ import annotations

import re

import pytest

from services.simulator.script import (
    Decommissioned,
    Drop,
    EchoKey,
    Error,
    FirstTokenDelay,
    Hang,
    HtmlPage,
    InvalidRequest,
    Latency,
    Malformed,
    Reply,
    Rule,
    Script,
    StreamError,
    Truncate,
    fault_to_json,
    plan_of,
    rule_from_json,
)


def test_no_rules_means_no_faults() -> None:
    plan = Script().plan("groq", "chat", "m")
    assert plan.error is None
    assert plan.latency == 0
    assert not plan.malformed


def test_model_rule_wins_over_newer_provider_rule() -> None:
    script = Script()
    script.add(Rule("groq", "m1", "chat", (Error(500),)))
    script.add(Rule("groq", None, "chat", (Error(503),)))
    assert script.plan("groq", "chat", "m1").error == Error(500)
    assert script.plan("groq", "chat", "m2").error == Error(503)


def test_rule_expires_after_times() -> None:
    script = Script()
    script.add(Rule("*", None, "chat", (Error(429, retry_after=1),), times=2))
    assert script.plan("openrouter", "chat", "a").error is not None
    assert script.plan("groq", "chat", "b").error is not None
    assert script.plan("groq", "chat", "b").error is None


def test_rules_are_per_endpoint_and_provider() -> None:
    script = Script()
    script.add(Rule("groq", None, "models", (Malformed(),)))
    assert script.plan("groq", "models", None).malformed
    assert not script.plan("groq", "chat", "m").malformed
    assert not script.plan("openrouter", "models", None).malformed


def test_clear_one_provider_keeps_the_others() -> None:
    script = Script()
    script.add(Rule("groq", None, "chat", (Drop(),)))
    script.add(Rule("openrouter", None, "chat", (Drop(2),)))
    script.clear("groq")
    assert script.plan("groq", "chat", "m").drop_after is None
    assert script.plan("openrouter", "chat", "m").drop_after == 2
    script.clear()
    assert not script.rules


def test_plan_flattens_every_fault() -> None:
    script = Script()
    script.add(Rule("groq", None, "chat", (Latency(0.5), Reply("hi"), Drop(3))))
    plan = script.plan("groq", "chat", None)
    assert (plan.latency, plan.reply, plan.drop_after) == (0.5, "hi", 3)


def test_rule_round_trips_through_json() -> None:
    faults = [fault_to_json(Error(429, retry_after=2.0)), fault_to_json(Latency(0.1))]
    rule = rule_from_json({"provider": "groq", "model": "m", "times": 1, "faults": faults})
    assert rule.faults == (Error(429, retry_after=2.0), Latency(0.1))
    assert rule.to_json()["faults"] == faults


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], "body"),
        ({"faults": []}, "provider"),
        ({"provider": "groq", "endpoint": "embeddings"}, "endpoint"),
        ({"provider": "groq", "times": 0}, "times"),
        ({"provider": "groq", "faults": {}}, "faults"),
        ({"provider": "groq", "faults": [{"kind": "explode"}]}, "faults[0].kind"),
        ({"provider": "groq", "faults": [{"kind": "error", "colour": 1}]}, "faults[0].colour"),
        ({"provider": "groq", "fraction": 0}, "fraction"),
    ],
)
def test_bad_rule_json_names_the_field(raw: object, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(field)}"):
        rule_from_json(raw)


def test_a_fraction_applies_to_evenly_spread_requests() -> None:
    script = Script()
    script.add(Rule("groq", None, "chat", (Error(500),), fraction=1 / 3))
    hits = [script.plan("groq", "chat", "m").error is not None for _ in range(9)]
    assert hits == [False, False, True] * 3


def test_times_counts_the_requests_a_fraction_applied_to() -> None:
    script = Script()
    script.add(Rule("groq", None, "chat", (Error(500),), times=2, fraction=0.5))
    hits = [script.plan("groq", "chat", "m").error is not None for _ in range(6)]
    assert hits == [False, True, False, True, False, False]
    assert not script.rules


def test_a_fraction_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^fraction"):
        Script().add(Rule("groq", None, "chat", (), fraction=1.5))


@pytest.mark.parametrize(
    "fault",
    [
        FirstTokenDelay(0.5),
        Hang(),
        HtmlPage(502),
        Decommissioned(),
        InvalidRequest("tools[0]", "bad tool"),
        EchoKey(403),
        Truncate(4),
        StreamError(2, "boom"),
        Error(503, body="<html/>", retry_after=1.5, content_type="text/html"),
    ],
)
def test_every_fault_round_trips_through_json(fault: object) -> None:
    raw = {"provider": "*", "faults": [fault_to_json(fault)]}  # type: ignore[arg-type]
    assert rule_from_json(raw).faults == (fault,)


def test_plan_flattens_the_new_faults() -> None:
    plan = plan_of((FirstTokenDelay(1), Truncate(3), StreamError(1), HtmlPage(503)))
    assert (plan.first_token_delay, plan.truncate_after) == (1, 3)
    assert plan.stream_error == StreamError(1)
    assert plan.html_page == 503
    assert plan.rejects


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ({"kind": "latency", "seconds": "soon"}, "faults[0].seconds"),
        ({"kind": "latency", "seconds": -1}, "faults[0].seconds"),
        ({"kind": "error", "status": 200}, "faults[0].status"),
        ({"kind": "error", "status": True}, "faults[0].status"),
        ({"kind": "truncate", "after_chunks": 1.5}, "faults[0].after_chunks"),
        ({"kind": "hang", "seconds": 1}, "faults[0].seconds"),
        ({"kind": "reply"}, "faults[0]"),
    ],
)
def test_a_bad_fault_field_is_named(fault: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(field)}"):
        rule_from_json({"provider": "groq", "faults": [fault]})
