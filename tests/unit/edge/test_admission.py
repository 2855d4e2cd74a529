"""Admission: the plan of counters for a caller, and what a settled request costs."""

from __future__ import annotations

import calendar

import pytest

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from services.edge import roles
from services.edge.accounts import Budgets, Limits, Scopes, Team
from services.edge.admission import Admission, Plan, Ticket, _month
from services.edge.auth import Caller
from services.edge.config import EdgeSettings
from services.edge.errors import RateLimited
from services.shared.errors import PermissionDenied
from services.shared.ratelimit import MemoryLedger

NOW = calendar.timegm((2026, 12, 31, 23, 59, 30))


def admission(**settings: object) -> Admission:
    return Admission(MemoryLedger(), EdgeSettings(**settings))  # type: ignore[arg-type]


def outcome(cost: float | None, tokens: int = 12) -> router_pb2.Outcome:
    made = router_pb2.Outcome(model="m", usage=common_pb2.Usage(total_tokens=tokens))
    if cost is not None:
        made.cost_usd = cost
    return made


def test_nothing_to_count_means_no_ledger_call() -> None:
    plan = admission().plan(Caller("k"), NOW)
    assert (plan.counters, plan.gauges) == ([], [])


def test_the_plan_names_every_window_per_key_and_team() -> None:
    team = Team("t", limits=Limits(rpm=10), budgets=Budgets(monthly_usd=5.0))
    caller = Caller(
        "k",
        limits=Limits(rpm=2, rpd=100, tpm=1000, concurrent=3),
        budgets=Budgets(daily_usd=1.0, reserve_usd=0.25),
        team=team,
    )
    plan = admission().plan(caller, NOW)
    minute, day = int(NOW // 60), int(NOW // 86400)
    assert [c.name for c in plan.counters] == [
        f"k:k:rpm:{minute}",
        f"k:k:rpd:{day}",
        f"k:k:tpm:{minute}",
        f"k:k:usd-day:{day}",
        f"t:t:rpm:{minute}",
        "t:t:usd-month:202612",
    ]
    budgets = [c for c in plan.counters if "usd" in c.name]
    assert [(c.limit, c.need, c.take) for c in budgets] == [
        (1_000_000_000, 250_000_000, 250_000_000),
        (5_000_000_000, 250_000_000, 250_000_000),
    ]
    assert [round(c.ttl_s) for c in plan.counters] == [150, 150, 150, 150, 150, 150]
    assert [g.name for g in plan.gauges] == ["k:k:inflight"]
    assert plan.checks[-1].what == "concurrent requests"


def test_a_plan_is_built_once_per_caller_and_minute() -> None:
    gate = admission()
    caller = Caller("k", limits=Limits(rpm=1))
    assert gate.plan(caller, NOW) is gate.plan(caller, NOW + 10)
    assert gate.plan(caller, NOW + 60) is not gate.plan(caller, NOW)
    assert gate.plan(Caller("k", limits=Limits(rpm=1)), NOW) is not gate.plan(caller, NOW)


def test_the_month_rolls_over_at_utc_midnight() -> None:
    assert _month(NOW) == ("202612", 30.0)


def ticket(started: bool, seen: router_pb2.Outcome | None = None) -> Ticket:
    made = Ticket("t", Plan(reserve_nano=10_000_000))
    if seen is not None:
        made.saw(seen)
    made.started = started
    return made


@pytest.mark.parametrize(
    ("made", "cost"),
    [
        (ticket(False), 0),  # failed before any answer: free
        (ticket(True, router_pb2.Outcome(model="m")), 10_000_000),  # cut stream: reserved
        (ticket(True, outcome(0.0)), 0),  # a free model
        (ticket(True, outcome(0.0000315)), 31_500),
        (ticket(True, outcome(None)), 50_000_000),  # unknown price: the ceiling, never 0
    ],
    ids=["failed", "cut", "free", "priced", "unknown"],
)
def test_what_a_request_costs(made: Ticket, cost: int) -> None:
    assert admission().cost(made)[0] == cost


def test_a_streams_last_outcome_wins() -> None:
    made = Ticket("t", Plan(1))
    made.saw(router_pb2.Outcome(model="m"))
    made.saw(outcome(0.5, tokens=40))
    assert admission().cost(made) == (500_000_000, 40)


def test_scopes_fill_the_constraints() -> None:
    caller = Caller(
        "k",
        scopes=Scopes(models=("a/b",), providers=("groq",), strategies=("cost",), paid=False),
        budgets=Budgets(daily_usd=1.0),
    )
    message = admission().scope(caller, b"{}", router_pb2.CompletionRequest())
    assert list(message.constraints.allow) == ["a/b", "groq"]
    assert message.constraints.free_only
    assert message.constraints.HasField("max_price_per_mtok")
    assert message.strategy == common_pb2.STRATEGY_COST
    ceiling = admission(unknown_price="ceiling").scope(
        caller, b"{}", router_pb2.CompletionRequest()
    )
    assert not ceiling.constraints.HasField("max_price_per_mtok")


def test_a_strategy_outside_the_scopes_is_refused() -> None:
    caller = Caller("k", scopes=Scopes(strategies=("cost",)))
    with pytest.raises(PermissionDenied, match="cost"):
        admission().scope(caller, b'{"strategy": "quality"}', router_pb2.CompletionRequest())


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("POST", "/v1/chat/completions", roles.CHAT),
        ("POST", "/v1/route", roles.CHAT),
        ("GET", "/v1/models", roles.READ),
        ("GET", "/v1/usage/summary", roles.READ),
        ("GET", "/v1/admin/keys", roles.ADMINISTER),
        ("POST", "/v1/admin/keys", roles.ADMINISTER),
        ("POST", "/v1/anything-new", roles.ADMINISTER),
        ("GET", "/v1/administrators", roles.READ),
    ],
)
def test_what_each_route_needs(method: str, path: str, needed: str) -> None:
    assert roles.permission(method, path) == needed


def test_roles_grant() -> None:
    roles.require("viewer", "GET", "/v1/catalog")
    roles.require("member", "POST", "/v1/chat/completions")
    with pytest.raises(PermissionDenied, match="viewer"):
        roles.require("viewer", "POST", "/v1/chat/completions")
    with pytest.raises(PermissionDenied):
        roles.require("member", "GET", "/v1/admin/audit")


async def test_a_refusal_names_the_check_that_refused() -> None:
    # A key gauge and a team counter: the ledger names counters first, then gauges.
    team = Team("t", limits=Limits(rpm=1))
    caller = Caller("k", limits=Limits(concurrent=5), team=team)
    gate = admission()
    assert await gate.admit(caller, NOW) is not None
    with pytest.raises(RateLimited, match="team t: 1 requests per minute"):
        await gate.admit(caller, NOW)
