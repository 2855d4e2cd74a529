"""The free-tier quota ledger (windows, scopes, fractions, 429 holds) and how routing and
execution use it, on an injected wall clock."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.router.breaker import BreakerPolicy, HealthBoard
from services.router.catalogue import (
    SCOPE_PER_ACCOUNT,
    SCOPE_PER_MODEL,
    SCOPE_PER_PROVIDER,
    SCOPE_UNSPECIFIED,
    ModelInfo,
    QuotaLimits,
)
from services.router.execution import ExecutionPolicy, Executor, Trace
from services.router.failures import Kind, UpstreamFailure
from services.router.quota import Cell, QuotaLedger, quota_key
from services.router.request import ChatRequest, read_body
from services.router.routing import Router, RouteRequest
from services.shared.errors import ResourceExhausted

DAY = 86_400.0
START = 1_700_000_020.0  # 40 s into a minute, 20 s before that minute ends
HELLO = (("user", "hello there"),)


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def model(
    model_id: str,
    quality: float = 0.5,
    *,
    rpm: int = 0,
    rpd: int = 0,
    tpm: int = 0,
    tpd: int = 0,
    scope: int = SCOPE_PER_MODEL,
) -> ModelInfo:
    provider, _, upstream = model_id.partition("/")
    return ModelInfo(
        id=model_id,
        provider=provider,
        upstream_id=upstream,
        context_window=32_000,
        input_price=0.0,
        output_price=0.0,
        is_free=True,
        quality=quality,
        free_tier=QuotaLimits(rpm, rpd, tpm, tpd, scope),
    )


def ledger(clock: Clock | None = None) -> tuple[QuotaLedger, Clock]:
    at = clock or Clock()
    return QuotaLedger(at), at


def test_keys_follow_the_scope() -> None:
    assert quota_key(model("g/a", scope=SCOPE_PER_MODEL)) == "g/a"
    assert quota_key(model("g/a", scope=SCOPE_UNSPECIFIED)) == "g/a"
    assert quota_key(model("g/a", scope=SCOPE_PER_PROVIDER)) == "g"
    assert quota_key(model("g/a", scope=SCOPE_PER_ACCOUNT)) == "g#account"


def test_a_model_stating_no_limits_has_unlimited_quota() -> None:
    book, _ = ledger()
    free = model("g/a")
    for _ in range(100):
        book.started(free)
        book.record(free, 1_000, 1_000)
    assert book.remaining(free) == math.inf
    assert book.exhausted(free) > 0  # a 429 is the board's business for such a model
    assert book.remaining(free) == math.inf
    assert book.take_changes() == frozenset()


def test_requests_per_minute_run_out_and_come_back_with_the_next_minute() -> None:
    book, clock = ledger()
    limited = model("g/a", rpm=2)
    assert book.remaining(limited) == 1.0
    book.started(limited)
    assert book.remaining(limited) == 0.5
    book.started(limited)
    assert book.remaining(limited) == 0.0
    clock.now += 19.9  # still the same minute window
    assert book.remaining(limited) == 0.0
    clock.now += 0.1  # the next minute (UTC-aligned, not 60 s after the first request)
    assert book.remaining(limited) == 1.0


def test_the_day_window_outlasts_minutes() -> None:
    book, clock = ledger()
    limited = model("g/a", rpm=10, rpd=3)
    for _ in range(3):
        book.started(limited)
    assert book.remaining(limited) == 0.0
    clock.now += 60
    assert book.remaining(limited) == 0.0
    assert book.retry_in(limited) == pytest.approx((START // DAY + 1) * DAY - clock.now)
    clock.now = (START // DAY + 1) * DAY  # midnight UTC
    assert book.remaining(limited) == 1.0


def test_remaining_is_the_smallest_fraction_over_the_stated_limits() -> None:
    book, _ = ledger()
    limited = model("g/a", rpm=10, rpd=100, tpm=1_000, tpd=0)
    book.started(limited)
    book.record(limited, prompt_tokens=300, completion_tokens=200)
    assert book.used("g/a") == (1, 1, 500, 500)
    assert book.remaining(limited) == pytest.approx(0.5)  # tokens/min: 500 of 1,000 used
    book.record(limited, prompt_tokens=900, completion_tokens=0)
    assert book.remaining(limited) == 0.0  # overshot: never negative


def test_scopes_share_or_separate_the_counts() -> None:
    book, _ = ledger()
    own_a, own_b = model("g/a", rpm=1), model("g/b", rpm=1)
    book.started(own_a)
    assert (book.remaining(own_a), book.remaining(own_b)) == (0.0, 1.0)
    shared_a = model("p/a", rpm=2, scope=SCOPE_PER_PROVIDER)
    shared_b = model("p/b", rpm=2, scope=SCOPE_PER_PROVIDER)
    account = model("p/c", rpm=2, scope=SCOPE_PER_ACCOUNT)
    book.started(shared_a)
    book.started(shared_b)
    assert (book.remaining(shared_a), book.remaining(shared_b)) == (0.0, 0.0)
    assert book.remaining(account) == 1.0


def test_a_429_exhausts_the_key_until_retry_after_or_the_minute_end() -> None:
    book, clock = ledger()
    a = model("p/a", rpm=100, scope=SCOPE_PER_PROVIDER)
    sibling = model("p/b", rpm=100, scope=SCOPE_PER_PROVIDER)
    assert book.exhausted(a) == START + 20  # no Retry-After: the end of this minute window
    assert (book.remaining(a), book.remaining(sibling)) == (0.0, 0.0)
    assert book.retry_in(sibling) == pytest.approx(20)
    clock.now += 20
    assert book.remaining(a) == 1.0
    book.exhausted(a, until=clock.now + 90)  # Retry-After: 90
    clock.now += 89
    assert book.remaining(sibling) == 0.0
    clock.now += 1
    assert book.remaining(sibling) == 1.0


def test_changes_name_each_key_once_and_include_window_rollover() -> None:
    book, clock = ledger()
    a, b = model("g/a", rpm=5), model("g/b", rpm=5)
    book.started(a)
    book.started(a)
    book.record(b, 10, 0)  # b limits requests only; its tokens are counted all the same
    assert book.take_changes() == {"g/a", "g/b"}
    assert book.take_changes() == frozenset()
    clock.now += 20  # the minute ends: a's count drops
    assert "g/a" in book.take_changes()
    book.exhausted(b, until=clock.now + 5)
    assert book.take_changes() == {"g/b"}
    clock.now += 5
    assert book.take_changes() == {"g/b"}  # the hold ran out


def test_fractions_agree_with_remaining_row_by_row() -> None:
    book, _ = ledger()
    rows = [
        model("p/a", rpm=4, scope=SCOPE_PER_PROVIDER),
        model("p/b", rpm=8, tpm=100, scope=SCOPE_PER_PROVIDER),
        model("p/c", rpd=3, scope=SCOPE_PER_PROVIDER),
    ]
    book.started(rows[0])
    book.record(rows[1], 30, 10)
    limits = np.array([m.free_tier.row for m in rows], dtype=np.float64)
    assert book.fractions("p", limits).tolist() == [book.remaining(m) for m in rows]
    book.exhausted(rows[0])
    assert book.fractions("p", limits).tolist() == [0.0, 0.0, 0.0]


def test_shared_counts_replace_the_local_view_and_keep_unsent_deltas() -> None:
    book = QuotaLedger(Clock(), shared=True)
    a = model("g/a", rpm=10)
    book.started(a)
    cells, holds = book.take_unsent()
    minute = int(START // 60)
    assert cells == {Cell("g/a", 0, minute): 1, Cell("g/a", 1, int(START // DAY)): 1}
    assert holds == {}
    book.started(a)  # while the push is on its way
    book.apply_shared(Cell("g/a", 0, minute), 7)  # 6 from other replicas + our first
    assert book.used("g/a")[0] == 8
    book.restore_unsent(cells, holds)  # pretend the push failed after all
    again, _ = book.take_unsent()
    assert again[Cell("g/a", 0, minute)] == 2
    book.apply_shared_hold("g/a", START + 30)
    assert book.remaining(a) == 0.0


def test_routing_skips_a_model_whose_quota_ran_out_without_touching_old_arrays() -> None:
    clock = Clock()
    book = QuotaLedger(clock)
    a, b = model("g/a", 0.9, rpm=2), model("g/b", 0.5)
    router = Router(HealthBoard(BreakerPolicy()), quota=book)
    router.install([a, b], 1)
    assert book.tracked == frozenset({"g/a"})
    first = router.decide(RouteRequest(messages=HELLO))
    old_column = router._table.cat.quota_left  # what that decision read
    book.started(a)
    book.started(a)
    second = router.decide(RouteRequest(messages=HELLO))
    assert (first.chosen.id, second.chosen.id) == ("g/a", "g/b")
    assert old_column.tolist() == [1.0, math.inf]
    assert router._table.cat.quota_left.tolist() == [0.0, math.inf]
    with pytest.raises(ResourceExhausted, match=r"within free-tier quota: 0 \(retry in 20s\)"):
        router.decide(RouteRequest(messages=HELLO, allow=("g/a",)))
    clock.now += 20
    assert router.decide(RouteRequest(messages=HELLO)).chosen.id == "g/a"


class Upstream:
    """Every model answers, except `p/limited`, which says 429 without Retry-After."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def complete(self, model: ModelInfo, chat: ChatRequest, timeout: float) -> bytes:
        self.calls.append(model.id)
        if model.upstream_id == "limited":
            raise UpstreamFailure(Kind.RATE_LIMITED, "slow down", status=429)
        return b'{"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}'

    def stream(self, model: ModelInfo, chat: ChatRequest, timeout: float) -> object:
        raise NotImplementedError


async def test_execution_counts_attempts_and_holds_the_key_after_a_429() -> None:
    clock = Clock()
    book = QuotaLedger(clock)
    board = HealthBoard(BreakerPolicy(), clock)
    upstream = Upstream()
    executor = Executor(upstream, board, ExecutionPolicy(), clock, book)  # type: ignore[arg-type]
    limited = model("p/limited", rpm=10, scope=SCOPE_PER_PROVIDER)
    sibling = model("p/sibling", rpm=10, scope=SCOPE_PER_PROVIDER)
    other = model("q/other", rpm=10)
    chat = read_body({"messages": [{"role": "user", "content": "hi"}]})
    trace = Trace(started=clock.now)
    await executor.complete([limited, sibling, other], chat, None, trace, "c")
    assert upstream.calls == ["p/limited", "q/other"]  # the sibling shares the used-up quota
    assert book.used("q/other")[:2] == (1, 1)
    assert book.remaining(sibling) == 0.0
    assert board.retry_in("p/limited") == pytest.approx(20)  # to the end of the minute
    await executor.complete([sibling, other], chat, None, Trace(started=clock.now), "c")
    assert upstream.calls[-1] == "q/other"
