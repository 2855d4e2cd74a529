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
from services.edge.accounts import Budgets, Limits, to_nano
from services.edge.auth import Caller
from services.edge.config import EdgeSettings
from services.edge.errors import RateLimited
from services.shared.errors import PermissionDenied, ResourceExhausted
from services.shared.ratelimit import ADMITTED, Adjustment, Counter, Gauge, Ledger
from services.shared.vocabulary import STRATEGY_BY_NAME

log = logging.getLogger("freeway.edge")

MINUTE, DAY = 60, 86_400
SLACK_S = 120  # counters outlive their window a little (settlements arrive late)
NO_UNKNOWN_PRICE = 1e12  # a finite price ceiling: the router then skips unpriced models
_STRATEGY_KEY = b'"strategy"'


@dataclass(frozen=True)
class Check:
    """Why a counter exists, to say so when it refuses a request."""

    what: str  # "requests per minute", "USD per day", …
    who: str  # "key key_…", "team …"
    limit: float
    reset_s: float
    budget: bool = False


@dataclass
class Ticket:
    """An admitted request: what to settle when it ends."""

    id: str
    reserve_nano: int
    budgets: list[Adjustment] = field(default_factory=list)  # delta = what was reserved
    tokens: list[Adjustment] = field(default_factory=list)
    gauges: list[str] = field(default_factory=list)
    outcome: router_pb2.Outcome | None = None
    started: bool = False

    def saw(self, outcome: router_pb2.Outcome) -> None:
        """Note the router's outcome (a stream's last one carries usage and cost)."""
        self.started = True
        if outcome.HasField("usage") or self.outcome is None:
            self.outcome = outcome


@dataclass(frozen=True)
class Plan:
    counters: list[Counter]
    gauges: list[Gauge]
    counter_checks: list[Check]
    gauge_checks: list[Check]
    ticket: Ticket

    @property
    def checks(self) -> list[Check]:
        """One per counter, then one per gauge: the order the ledger names a refusal in."""
        return self.counter_checks + self.gauge_checks


class Admission:
    def __init__(self, ledger: Ledger, settings: EdgeSettings) -> None:
        self.ledger = ledger
        self.settings = settings
        self.reserve_nano = to_nano(settings.budget_reserve_usd)
        self.unknown_nano = to_nano(settings.unknown_price_usd)
        self.hold_s = settings.completion_timeout_s + SLACK_S

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
        team = caller.team
        reserve = self.reserve_nano
        if caller.budgets.reserve_usd is not None:
            reserve = to_nano(caller.budgets.reserve_usd)
        ticket = Ticket(os.urandom(8).hex(), reserve)
        plan = Plan([], [], [], [], ticket)
        self._add(
            plan, f"k:{caller.key_id}", f"key {caller.key_id}", caller.limits, caller.budgets, now
        )
        if team is not None:
            self._add(plan, f"t:{team.id}", f"team {team.id}", team.limits, team.budgets, now)
        return plan

    def _add(
        self, plan: Plan, name: str, who: str, limits: Limits, budgets: Budgets, now: float
    ) -> None:
        minute, day = int(now // MINUTE), int(now // DAY)
        to_minute, to_day = (minute + 1) * MINUTE - now, (day + 1) * DAY - now
        month, to_month = _month(now)
        ticket = plan.ticket

        def counter(
            kind: str, limit: int, need: int, take: int, reset_s: float, what: str
        ) -> Counter:
            made = Counter(f"{name}:{kind}", limit, need, take, reset_s + SLACK_S)
            plan.counters.append(made)
            budget = kind.startswith("usd")
            shown = limit / 1e9 if budget else limit
            plan.counter_checks.append(Check(what, who, shown, reset_s, budget))
            return made

        if limits.rpm:
            counter(f"rpm:{minute}", limits.rpm, 1, 1, to_minute, "requests per minute")
        if limits.rpd:
            counter(f"rpd:{day}", limits.rpd, 1, 1, to_day, "requests per day")
        if limits.tpm:
            made = counter(f"tpm:{minute}", limits.tpm, 1, 0, to_minute, "tokens per minute")
            ticket.tokens.append(Adjustment(made.name, 0, made.ttl_s))
        for amount, kind, reset_s, what in (
            (budgets.daily_usd, f"usd-day:{day}", to_day, "USD per day"),
            (budgets.monthly_usd, f"usd-month:{month}", to_month, "USD per month"),
        ):
            if amount is not None:
                made = counter(
                    kind, to_nano(amount), ticket.reserve_nano, ticket.reserve_nano, reset_s, what
                )
                ticket.budgets.append(Adjustment(made.name, ticket.reserve_nano, made.ttl_s))
        if limits.concurrent:
            plan.gauges.append(Gauge(f"{name}:inflight", limits.concurrent, self.hold_s))
            plan.gauge_checks.append(Check("concurrent requests", who, limits.concurrent, 1.0))
            ticket.gauges.append(f"{name}:inflight")

    async def admit(self, caller: Caller, now: float | None = None) -> Ticket | None:
        """Take the request's share of every limit and budget, or raise 429 naming the
        first one it would exceed (nothing is taken then). None: nothing to count."""
        plan = self.plan(caller, time.time() if now is None else now)
        if not plan.counters and not plan.gauges:
            return None
        failed = await self.ledger.admit(plan.counters, plan.gauges, plan.ticket.id)
        if failed == ADMITTED:
            return plan.ticket
        raise refusal(plan.checks[failed])

    async def settle(self, ticket: Ticket | None) -> None:
        """Replace the reservation by the real cost, add the tokens, leave the slots."""
        if ticket is None:
            return
        cost, tokens = self.cost(ticket)
        budgets = [Adjustment(a.name, cost - a.delta, a.ttl_s) for a in ticket.budgets]
        used = [Adjustment(a.name, tokens, a.ttl_s) for a in ticket.tokens]
        await self.ledger.settle(budgets + used, ticket.gauges, ticket.id)

    def cost(self, ticket: Ticket) -> tuple[int, int]:
        """What the request cost (nano-USD) and how many tokens it used."""
        outcome = ticket.outcome
        if outcome is None or not outcome.HasField("usage"):
            # No final usage: nothing was answered (free), or a stream was cut (reserved).
            return (ticket.reserve_nano if ticket.started else 0), 0
        tokens = outcome.usage.total_tokens
        if outcome.HasField("cost_usd"):
            return to_nano(outcome.cost_usd), tokens
        log.info("%s: price unknown, counted at %s USD", outcome.model, self.unknown_nano / 1e9)
        return self.unknown_nano, tokens


def refusal(check: Check) -> ResourceExhausted:
    """The 429 for a check that refused a request (OpenAI's codes: `insufficient_quota` for
    a budget, `rate_limit_exceeded` for the rest), with when to retry."""
    if check.budget:
        return ResourceExhausted(
            f"Budget of {check.who} exhausted: {check.limit:g} {check.what}. "
            "It resets at the start of the next period.",
            code="insufficient_quota",
            retry_after_s=check.reset_s,
        )
    return RateLimited(
        f"Rate limit reached for {check.who}: {check.limit:g} {check.what}.", check.reset_s
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
