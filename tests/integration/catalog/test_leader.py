"""Several replicas on one PostgreSQL: exactly one polls, all serve, a standby takes over."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import grpc
import pytest

from freeway.catalog.v1 import catalog_pb2
from services.catalog.app import App
from services.catalog.leadership import PgLeadership
from tests.integration.catalog.conftest import (
    AppFactory,
    fast_settings,
    refresh,
    refused_refresh,
    stub_for,
)
from tests.integration.catalog.provider import FakeProvider

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url(pg_schema: str) -> str:
    """Leadership needs PostgreSQL: this module runs on it only."""
    return pg_schema


def leadership(app: App) -> PgLeadership:
    assert isinstance(app.replica.leadership, PgLeadership)
    return app.replica.leadership


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    """Wait (bounded) for a condition that another task will make true."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_one_replica_polls_and_the_standby_follows(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    leader, standby = await make_app(), await make_app()
    leader_channel, leader_stub = stub_for(leader)
    standby_channel, standby_stub = stub_for(standby)
    watch = standby_stub.WatchCatalog(
        catalog_pb2.WatchCatalogRequest(since_version=leader.catalogue.version), timeout=60
    )

    provider.edit(provider.models[0]["id"], context_length=3)
    version = await refresh(leader_stub)
    followed = await watch.read()
    listed = await standby_stub.ListModels(catalog_pb2.ListModelsRequest(), timeout=10)
    statuses = await standby_stub.ListProviders(catalog_pb2.ListProvidersRequest(), timeout=10)
    watch.cancel()
    await leader_channel.close()
    await standby_channel.close()

    assert (leader.replica.is_leader, standby.replica.is_leader) == (True, False)
    assert len(provider.seen) == 2  # the leader's first poll and its refresh; none by the standby
    assert (followed.version, followed.change.changed_fields) == (version, ["context_window"])
    assert listed.version == version
    assert len(listed.models) == len(provider.models)
    assert statuses.providers[0].model_count == len(provider.models)


async def test_a_standby_takes_over_when_the_leader_stops(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    leader, standby = await make_app(), await make_app()
    version = leader.catalogue.version

    await leader.stop(grace=0.5)
    await asyncio.wait_for(standby.replica.wait_elected(), 30)
    channel, stub = stub_for(standby)
    provider.edit(provider.models[0]["id"], context_length=9)
    after = await refresh(stub)
    await channel.close()

    assert standby.replica.is_leader
    assert after == version + 1  # versions continue where the old leader left them


async def test_a_leader_that_loses_its_connection_is_replaced(
    make_app: AppFactory, postgres_url: str
) -> None:
    first, second = await make_app(), await make_app()
    pid = leadership(first).backend_pid
    assert pid is not None

    killer = await asyncpg.connect(postgres_url)
    await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    await killer.close()
    await until(lambda: leadership(first).terms + leadership(second).terms == 2)
    await until(lambda: first.replica.is_leader or second.replica.is_leader)

    assert [first.replica.is_leader, second.replica.is_leader].count(True) == 1


async def test_a_standby_pages_the_same_history_as_the_leader(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    leader, standby = await make_app(), await make_app()
    leader_channel, leader_stub = stub_for(leader)
    standby_channel, standby_stub = stub_for(standby)
    base = leader.catalogue.version
    provider.edit(provider.models[0]["id"], context_length=11)
    provider.edit(provider.models[1]["id"], context_length=12)
    version = await refresh(leader_stub)
    await until(lambda: standby.catalogue.version == version)

    request = catalog_pb2.ListChangesRequest(since_version=base - 1)
    from_leader = await leader_stub.ListChanges(request, timeout=10)
    from_standby = await standby_stub.ListChanges(request, timeout=10)
    await leader_channel.close()
    await standby_channel.close()

    assert not standby.replica.is_leader
    assert [e.version for e in from_standby.events] == [base, base + 1, base + 2]
    assert list(from_standby.events) == list(from_leader.events)
    assert from_standby.version == from_leader.version == version


async def test_a_standby_passes_refresh_on_to_the_leader(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    leader, standby = await make_app(), await make_app()
    channel, stub = stub_for(standby)
    provider.edit(provider.models[0]["id"], context_length=21)

    reply = await stub.RefreshProvider(
        catalog_pb2.RefreshProviderRequest(name="openrouter"), timeout=30
    )
    model = await stub.GetModel(
        catalog_pb2.GetModelRequest(id=f"openrouter/{provider.models[0]['id']}"), timeout=10
    )
    await channel.close()

    assert (leader.replica.is_leader, standby.replica.is_leader) == (True, False)
    assert len(provider.seen) == 2  # the leader's first poll and the one asked for
    assert reply.provider.healthy
    assert reply.provider.last_success.seconds > 0
    assert reply.version == leader.catalogue.version == standby.catalogue.version
    assert model.context_window == 21  # the standby caught up before it answered


async def test_the_leaders_refusal_reaches_the_standby(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    await make_app(fast_settings(min_poll_gap_s=600))  # it polled at start: too soon now
    standby = await make_app()

    refused = await refused_refresh(standby)

    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (refused.details() or "").startswith("name: the leader answered: provider")
    assert "minimum gap" in (refused.details() or "")
    assert len(provider.seen) == 1


async def test_a_standby_with_no_leader_to_ask_is_unavailable(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    lonely = await make_app(fast_settings(poll=False, refresh_timeout_s=0.3))

    refused = await refused_refresh(lonely)

    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    assert "no catalog replica answered within 0.3s" in (refused.details() or "")
    assert provider.seen == []
