"""A chat request's admission: the caller's scopes become the router's constraints; its
limits and budgets (per key and per team) are checked and taken in one atomic step before
the router is called, and settled from the router's `Outcome` after it answers.

Budgets count nano-USD. Admission reserves the key's `reserve_usd` (else
`FREEWAY_BUDGET_RESERVE_USD`) on every budget the request is under, and is refused when
the reservation does not fit, so concurrent requests cannot overspend: at settlement the
reservation is replaced by the real cost. A cost the router could not know (a model of
unknown price) counts `FREEWAY_BUDGET_UNKNOWN_PRICE_USD`, never $0; with the `refuse`
policy (the default) budgeted callers are never routed to such a model in the first
place. A request that failed before any answer costs nothing; a stream cut after its
start, whose final usage never came, keeps its reservation.
"""

from __future__ import annotations

import calendar
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from freeway.router.v1 import router_pb2
from services.edge.accounts import NANO, Budgets, Limits, to_nano
from services.edge.auth import Caller
from services.edge.config import EdgeSettings
from services.edge.errors import RateLimited
from services.shared.errors import PermissionDenied, ResourceExhausted
from services.shared.ratelimit import ADMITTED, Adjustment, Counter, Gauge, Ledger
from services.shared.vocabulary import STRATEGY_BY_NAME

log = logging.getLogger("freeway.edge")

MINUTE, DAY = 60, 86_400
SLACK_S = 120  # counters outlive their window a little (settlements arrive late)
MAX_PLANS = 100_000  # callers with a cached plan in one minute
NO_UNKNOWN_PRICE = 1e12  # a finite price ceiling: the router then skips unpriced models
_STRATEGY_KEY = b'"strategy"'


@dataclass(frozen=True)
class Check:
    """Why a counter exists, to say so when it refuses a request."""

    what: str  # "requests per minute", "USD per day", …
    who: str  # "key key_…", "team …"
    limit: float
    ends_at: float  # when its window ends (a concurrency slot: 0, "retry in a second")
    budget: bool = False


@dataclass
class Plan:
    """A caller's counters in one minute (built once per caller and minute, then shared
    by its requests): what to admit, why each check exists, and what to settle."""

    reserve_nano: int
    counters: list[Counter] = field(default_factory=list)
    gauges: list[Gauge] = field(default_factory=list)
    counter_checks: list[Check] = field(default_factory=list)
    gauge_checks: list[Check] = field(default_factory=list)
    budgets: list[Adjustment] = field(default_factory=list)  # delta = what is reserved
    tokens: list[Adjustment] = field(default_factory=list)

    @property
    def checks(self) -> list[Check]:
        """One per counter, then one per gauge: the order the ledger names a refusal in."""
        return self.counter_checks + self.gauge_checks

    @property
    def empty(self) -> bool:
        return not self.counters and not self.gauges


@dataclass
class Ticket:
    """An admitted request: its plan, and what the router said about it."""

    id: str
    plan: Plan
    outcome: router_pb2.Outcome | None = None
    started: bool = False

    def saw(self, outcome: router_pb2.Outcome) -> None:
        """Note the router's outcome (a stream's last one carries usage and cost)."""
        self.started = True
        if outcome.HasField("usage") or self.outcome is None:
            self.outcome = outcome


class Admission:
    def __init__(self, ledger: Ledger, settings: EdgeSettings) -> None:
        self.ledger = ledger
        self.settings = settings
        self.reserve_nano = to_nano(settings.budget_reserve_usd)
        self.unknown_nano = to_nano(settings.unknown_price_usd)
        self.hold_s = settings.completion_timeout_s + SLACK_S
        self._minute = -1
        self._plans: dict[int, tuple[Caller, Plan]] = {}

    # ------------------------------------------------------------------ scopes

    def scope(
        self, caller: Caller, raw: bytes, message: router_pb2.CompletionRequest
    ) -> router_pb2.CompletionRequest:
        """Fill the router's constraints from the caller's scopes: allowed models and
        providers, free models only, allowed strategies, no unpriced model under a budget."""
        scopes = caller.scopes
        constraints = message.constraints
        constraints.allow.extend(scopes.allow)
        constraints.free_only = not scopes.paid
        if self.settings.unknown_price == "refuse" and _budgeted(caller):
            constraints.max_price_per_mtok = NO_UNKNOWN_PRICE
        if scopes.strategies:
            message.strategy = _allowed_strategy(scopes.strategies, raw)  # type: ignore[assignment]
        return message

    # ------------------------------------------------------------------ limits and budgets

    def plan(self, caller: Caller, now: float) -> Plan:
        """The caller's plan for the minute of `now` (cached: keyring callers are long-lived
        objects, replaced when the key store changes, so identity is the key)."""
        minute = int(now // MINUTE)
        if minute != self._minute or len(self._plans) >= MAX_PLANS:
            self._minute, self._plans = minute, {}
        cached = self._plans.get(id(caller))
        if cached is not None and cached[0] is caller:
            return cached[1]
        made = self._build(caller, now)
        self._plans[id(caller)] = (caller, made)
        return made

    def _build(self, caller: Caller, now: float) -> Plan:
        reserve = self.reserve_nano
        if caller.budgets.reserve_usd is not None:
            reserve = to_nano(caller.budgets.reserve_usd)
        plan = Plan(reserve)
        key, team = caller.key_id, caller.team
        self._add(plan, f"k:{key}", f"key {key}", caller.limits, caller.budgets, now)
        if team is not None:
            self._add(plan, f"t:{team.id}", f"team {team.id}", team.limits, team.budgets, now)
        return plan

    def _add(
        self, plan: Plan, name: str, who: str, limits: Limits, budgets: Budgets, now: float
    ) -> None:
        minute, day = int(now // MINUTE), int(now // DAY)
        month, to_month = _month(now)
        minute_ends, day_ends = (minute + 1) * MINUTE, (day + 1) * DAY

        def counter(kind: str, limit: int, need: int, take: int, ends: float, what: str) -> Counter:
            made = Counter(f"{name}:{kind}", limit, need, take, ends - now + SLACK_S)
            plan.counters.append(made)
            budget = kind.startswith("usd")
            shown = limit / NANO if budget else limit
            plan.counter_checks.append(Check(what, who, shown, ends, budget))
            return made

        if limits.rpm:
            counter(f"rpm:{minute}", limits.rpm, 1, 1, minute_ends, "requests per minute")
        if limits.rpd:
            counter(f"rpd:{day}", limits.rpd, 1, 1, day_ends, "requests per day")
        if limits.tpm:
            made = counter(f"tpm:{minute}", limits.tpm, 1, 0, minute_ends, "tokens per minute")
            plan.tokens.append(Adjustment(made.name, 0, made.ttl_s))
        reserve = plan.reserve_nano
        for amount, kind, ends, what in (
            (budgets.daily_usd, f"usd-day:{day}", day_ends, "USD per day"),
            (budgets.monthly_usd, f"usd-month:{month}", now + to_month, "USD per month"),
        ):
            if amount is not None:
                made = counter(kind, to_nano(amount), reserve, reserve, ends, what)
                plan.budgets.append(Adjustment(made.name, reserve, made.ttl_s))
        if limits.concurrent:
            plan.gauges.append(Gauge(f"{name}:inflight", limits.concurrent, self.hold_s))
            plan.gauge_checks.append(Check("concurrent requests", who, limits.concurrent, 0.0))

    async def admit(self, caller: Caller, now: float | None = None) -> Ticket | None:
        """Take the request's share of every limit and budget, or raise 429 naming the
        first one it would exceed (nothing is taken then). None: nothing to count."""
        at = time.time() if now is None else now
        plan = self.plan(caller, at)
        if plan.empty:
            return None
        ticket = Ticket(os.urandom(8).hex(), plan)
        failed = await self.ledger.admit(plan.counters, plan.gauges, ticket.id)
        if failed == ADMITTED:
            return ticket
        raise refusal(plan.checks[failed], at)

    async def settle(self, ticket: Ticket | None) -> None:
        """Replace the reservation by the real cost, add the tokens, leave the slots."""
        if ticket is None:
            return
        plan = ticket.plan
        cost, tokens = self.cost(ticket)
        budgets = [Adjustment(a.name, cost - a.delta, a.ttl_s) for a in plan.budgets]
        used = [Adjustment(a.name, tokens, a.ttl_s) for a in plan.tokens]
        gauges = [g.name for g in plan.gauges]
        await self.ledger.settle(budgets + used, gauges, ticket.id)

    def cost(self, ticket: Ticket) -> tuple[int, int]:
        """What the request cost (nano-USD) and how many tokens it used."""
        outcome = ticket.outcome
        if outcome is None or not outcome.HasField("usage"):
            # No final usage: nothing was answered (free), or a stream was cut (reserved).
            return (ticket.plan.reserve_nano if ticket.started else 0), 0
        tokens = outcome.usage.total_tokens
        if outcome.HasField("cost_usd"):
            return to_nano(outcome.cost_usd), tokens
        log.info("%s: price unknown, counted at %s USD", outcome.model, self.unknown_nano / 1e9)
        return self.unknown_nano, tokens


def refusal(check: Check, now: float) -> ResourceExhausted:
    """The 429 for a check that refused a request (OpenAI's codes: `insufficient_quota` for
    a budget, `rate_limit_exceeded` for the rest), with when to retry."""
    reset_s = max(1.0, check.ends_at - now)
    if check.budget:
        return ResourceExhausted(
            f"Budget of {check.who} exhausted: {check.limit:g} {check.what}. "
            "It resets at the start of the next period.",
            code="insufficient_quota",
            retry_after_s=reset_s,
        )
    return RateLimited(
        f"Rate limit reached for {check.who}: {check.limit:g} {check.what}.", reset_s
    )


def _budgeted(caller: Caller) -> bool:
    return caller.budgets.any or (caller.team is not None and caller.team.budgets.any)


def _allowed_strategy(allowed: tuple[str, ...], raw: bytes) -> int:
    """The strategy the request asks for, if this key may use it; the key's first
    allowed strategy when it asks for none."""
    asked = None
    if _STRATEGY_KEY in raw:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None  # the router says what is wrong with the body
        if isinstance(body, dict):
            asked = body.get("strategy")
    if asked is None:
        return int(STRATEGY_BY_NAME[allowed[0]])
    if asked not in allowed:
        raise PermissionDenied(
            f"this key may use the strategies {', '.join(allowed)}, not {asked!r}",
            field="strategy",
            code="strategy_not_allowed",
        )
    return int(STRATEGY_BY_NAME[asked])


def _month(now: float) -> tuple[str, float]:
    """The UTC month of `now` ("202612") and the seconds until the next one starts."""
    at = datetime.fromtimestamp(now, UTC)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    start = calendar.timegm((year, month, 1, 0, 0, 0))
    return f"{at.year:04d}{at.month:02d}", start - now
