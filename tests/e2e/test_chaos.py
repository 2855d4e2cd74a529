"""The kill and restart probes of `make chaos` (bench/chaos.py), at a small scale, asserting
what they must show: nothing answered is unrecorded, the supervisor brings back what dies
while the rest serves, and with two of each only requests in flight at a kill fail.

Each probe starts its own suite of real processes behind a real Envoy, on its own
throwaway PostgreSQL cluster (a restart of the shared server would disturb other tests).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import chaos
from tests.conftest import require_redis, unavailable

pytestmark = pytest.mark.e2e

SECONDS = 2.0  # of load around each kill
CONCURRENCY = 4


def _log(line: str) -> None:
    print(line)


@pytest.fixture
def postgres_bin() -> Path:
    found = chaos.postgres_bin()
    if found is None:
        unavailable("no PostgreSQL server binaries (initdb, pg_ctl) for a throwaway cluster")
    assert found is not None
    return found


def test_kill_9_and_a_postgres_restart_lose_and_duplicate_no_usage_event(
    tmp_path: Path, postgres_bin: Path
) -> None:
    probe = asyncio.run(chaos.run_usage(tmp_path, SECONDS, CONCURRENCY, _log))
    figures = probe.figures
    print(figures.table())
    assert figures.answered > 20, figures.table()  # the load ran
    assert figures.events_lost == 0, figures.table()
    assert figures.events_duplicated == 0, figures.table()
    # The supervisor restarted each killed service, and answers came after each comeback.
    assert set(probe.back_at) == {"router", "analytics"}
    for name, at in probe.back_at.items():
        assert any(a.answered and a.started > at for a in probe.attempts), name
    # While analytics was dead the rest kept serving (usage waited in the router's spool).
    analytics_kill = next(k for k in probe.kills if k.name == "analytics")
    down = [
        a
        for a in probe.attempts
        if analytics_kill.at < a.started and a.ended < probe.back_at["analytics"]
    ]
    assert down, "no request ran while analytics was down"
    assert all(a.answered for a in down), [a.detail for a in down if not a.answered]


def test_with_two_of_each_a_kill_fails_only_what_was_in_flight(
    tmp_path: Path, postgres_bin: Path
) -> None:
    redis_url = require_redis()
    probe = asyncio.run(chaos.run_scale_out(tmp_path, SECONDS, CONCURRENCY, redis_url, _log))
    figures = probe.figures
    print(figures.table())
    assert figures.answered > 20, figures.table()
    outside = chaos.failed_not_in_flight(probe.attempts, probe.kills)
    assert outside == [], [(a.status, a.detail) for a in outside]
    assert figures.failed_in_flight <= CONCURRENCY * len(probe.kills)
    assert figures.standby_polled, "the standby catalog never polled after the leader died"
    for kill in probe.kills:
        assert any(a.answered and a.started > kill.at + chaos.NOTICE_S for a in probe.attempts)
    assert figures.events_lost == 0, figures.table()
    assert figures.events_duplicated == 0, figures.table()


def test_half_the_free_models_failing_every_way_still_answers_every_request(
    tmp_path: Path, postgres_bin: Path
) -> None:
    from bench import failover

    figures = asyncio.run(failover.run(tmp_path, 200, 8, _log))
    print(figures.table())
    assert figures.failing_models >= 10, figures.table()  # a real part of the catalogue fails
    assert figures.healthy_models > 0
    assert figures.success_rate == 1.0, figures.table()  # while a healthy candidate exists
    assert figures.added_p99_ms <= 1000, figures.table()
