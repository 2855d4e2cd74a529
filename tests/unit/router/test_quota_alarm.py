"""Quota alarms: a share of a window's limit crossed is noticed once per window, the
highest share first crossed wins, and a new window starts again."""

from __future__ import annotations

from services.router.quota import QuotaLedger
from services.router.quota_alarm import Crossing, QuotaAlarm
from tests.unit.router.test_quota import model

DAY_START = 1_700_006_400.0  # a UTC midnight


def alarmed(clock: list[float]) -> tuple[QuotaLedger, list[Crossing]]:
    crossings: list[Crossing] = []
    ledger = QuotaLedger(lambda: clock[0])
    ledger.alarm = QuotaAlarm((0.8, 0.95), crossings.append)
    return ledger, crossings


def test_each_share_is_crossed_once_per_window() -> None:
    clock = [DAY_START + 5]
    ledger, crossings = alarmed(clock)
    m = model("p/m", rpd=20)

    for _ in range(20):
        ledger.started(m)
    clock[0] += 86_400
    for _ in range(16):
        ledger.started(m)

    assert [(c.limit_name, c.before, c.after, c.share) for c in crossings] == [
        ("requests_per_day", 15, 16, 0.8),
        ("requests_per_day", 18, 19, 0.95),
        ("requests_per_day", 15, 16, 0.8),  # the next day
    ]
    assert crossings[0].id == f"quota_low:p/m:requests_per_day:{int(DAY_START // 86_400)}:80"


def test_a_jump_past_both_shares_raises_the_higher_only() -> None:
    clock = [DAY_START + 5]
    ledger, crossings = alarmed(clock)
    m = model("p/m", tpd=1000)

    ledger.record(m, 900, 70)

    assert [(c.limit_name, c.share, c.after) for c in crossings] == [("tokens_per_day", 0.95, 970)]


def test_models_without_limits_never_alarm() -> None:
    ledger, crossings = alarmed([DAY_START])
    for _ in range(100):
        ledger.started(model("p/free"))
    assert crossings == []
