"""Alerts end to end: the catalog polls the provider simulator over loopback; a free model
going paid, a model vanishing, a provider failing its polls and a router's free quota
running low each become an alert — logged with old and new values, listed, streamed, and
POSTed to a real webhook receiver through the persistent outbox, even when the receiver is
down for a while and the catalog restarts meanwhile (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.catalog import alert_store
from services.catalog.alert_store import AlertStore, Notice
from services.catalog.app import App, build
from services.catalog.config import CatalogSettings
from services.catalog.webhooks import signature
from services.router import app as router_app
from services.router.config import RouterSettings
from services.shared.providers import FreeTier, ProviderConfig
from services.shared.settings import SuiteSettings
from services.simulator.script import Error
from services.simulator.server import Simulator
from tests.conftest import free_port
from tests.integration.catalog.conftest import stub_for
from tests.integration.router.conftest import request, router_stub
from tests.prometheus_text import check_metrics, parse, total

pytestmark = pytest.mark.integration

KEY_ENV = "FREEWAY_TEST_SIM_KEY"
ENV = {KEY_ENV: "sk-sim"}
SECRET = "hook-secret"
WENT_PAID = catalog_pb2.ALERT_KIND_WENT_PAID


@dataclass
class Receiver:
    """A webhook receiver on loopback that can be taken down and brought back on its port."""

    port: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.bodies.append(json.loads(raw))
        self.headers.append({**dict(request.headers), "_raw": raw.decode()})
        return web.json_response({"ok": True})

    def alerts(self, kind: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b.get("type") == "freeway.alert" and b["kind"] == kind]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = await Simulator(port=0, record=False).start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_schema"))


def simulated(sim: Simulator, **overrides: Any) -> ProviderConfig:
    base = ProviderConfig(
        name="openrouter",
        base_url=sim.base_url("openrouter"),
        format="openrouter",
        api_key_env=KEY_ENV,
        timeout_s=10,
    )
    return dataclasses.replace(base, **overrides)


def alert_settings(receiver: Receiver, **overrides: Any) -> CatalogSettings:
    values: dict[str, Any] = {
        "jitter_fraction": 0.0,
        "min_poll_gap_s": 0.0,
        "follower_sync_s": 0.1,
        "misses_before_removal": 1,
        "alert_down_after": 2,
        "webhooks": (receiver.url,),
        "webhook_secret": SECRET,
        "webhook_backoff_base_s": 0.05,
        "webhook_backoff_max_s": 0.2,
        "webhook_attempts": 1000,
    }
    values.update(overrides)
    return CatalogSettings(**values)


CatalogFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def catalog(
    tmp_path: Path, database_url: str | None, sim: Simulator
) -> AsyncIterator[CatalogFactory]:
    """Start catalogs over one database (a second one is a restart), polled once each."""
    apps: list[App] = []

    async def factory(settings: CatalogSettings, **provider: Any) -> App:
        suite = SuiteSettings(
            catalog_addr="127.0.0.1:0", data_dir=tmp_path, database_url=database_url
        )
        app = await build(settings, suite, providers=[simulated(sim, **provider)], env=ENV)
        apps.append(app)
        await app.start()
        await app.replica.wait_elected()
        scheduler = app.replica.scheduler
        assert scheduler is not None
        async with asyncio.timeout(30):
            while not scheduler.completed["openrouter"]:
                await asyncio.sleep(0.01)
        return app

    yield factory
    for app in reversed(apps):
        if app.server is not None:
            await app.stop(grace=0.5)


def free_model(sim: Simulator) -> dict[str, Any]:
    doc = sim.recorded_models("openrouter")
    return next(m for m in doc["data"] if m["id"].endswith(":free"))


def serve_list(
    sim: Simulator, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> None:
    doc = copy.deepcopy(sim.recorded_models("openrouter"))
    doc["data"] = edit(doc["data"])
    sim.replace_models("openrouter", doc)


def make_paid(sim: Simulator, upstream_id: str) -> None:
    """The provider starts charging for a free model ($1 in / $2 out per million tokens)."""

    def edit(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for m in models:
            if m["id"] == upstream_id:
                m["pricing"] = {**m["pricing"], "prompt": "0.000001", "completion": "0.000002"}
        return models

    serve_list(sim, edit)


async def poll(stub: catalog_pb2_grpc.CatalogServiceStub) -> catalog_pb2.ProviderStatus:
    reply = await stub.RefreshProvider(
        catalog_pb2.RefreshProviderRequest(name="openrouter"), timeout=30
    )
    status: catalog_pb2.ProviderStatus = reply.provider
    return status


async def alerts_of(
    stub: catalog_pb2_grpc.CatalogServiceStub, kind: int
) -> list[catalog_pb2.Alert]:
    reply = await stub.ListAlerts(catalog_pb2.ListAlertsRequest(kinds=[kind]), timeout=10)  # type: ignore[list-item]
    return list(reply.alerts)


def values(alert: catalog_pb2.Alert) -> dict[str, tuple[Any, Any]]:
    def plain(v: Any) -> Any:
        kind = v.WhichOneof("kind")
        return None if kind in (None, "null_value") else getattr(v, kind)

    return {v.field: (plain(v.old), plain(v.new)) for v in alert.values}


async def test_a_free_model_going_paid_is_logged_listed_streamed_and_posted(
    catalog: CatalogFactory,
    sim: Simulator,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = await catalog(alert_settings(receiver))
    channel, stub = stub_for(app)
    upstream_id = free_model(sim)["id"]
    model_id = f"openrouter/{upstream_id}"
    first = await stub.RaiseAlert(  # an alert to resume the stream after
        catalog_pb2.RaiseAlertRequest(alert=warm_up_alert()), timeout=10
    )
    stream = stub.WatchAlerts(catalog_pb2.WatchAlertsRequest(since_seq=first.alert.seq))
    caplog.set_level(logging.INFO, "freeway.catalog.alerts")

    make_paid(sim, upstream_id)
    status = await poll(stub)
    streamed = await asyncio.wait_for(anext(aiter(stream)), 30)
    await app.webhooks.drain()
    stream.cancel()
    listed = await alerts_of(stub, WENT_PAID)
    await channel.close()

    assert status.healthy
    assert streamed.kind == WENT_PAID
    assert streamed.model_id == model_id
    assert streamed.severity == catalog_pb2.ALERT_SEVERITY_CRITICAL
    assert values(streamed)["is_free"] == (True, False)
    assert values(streamed)["input_price_per_mtok"] == (0, 1)
    assert values(streamed)["output_price_per_mtok"] == (0, 2)
    assert [a.id for a in listed] == [streamed.id]
    [line] = [r for r in caplog.records if "alert went_paid" in r.getMessage()]
    assert model_id in line.getMessage()
    assert "input_price_per_mtok 0 → 1" in line.getMessage().replace(".0", "")
    [posted] = receiver.alerts("went_paid")
    assert posted["id"] == streamed.id
    assert posted["topic"] == "catalog"
    prices = {v["field"]: (v["old"], v["new"]) for v in posted["values"]}
    assert prices["input_price_per_mtok"] == (0, 1)
    headers = receiver.headers[receiver.bodies.index(posted)]
    assert headers["X-Freeway-Event"] == "freeway.alert"
    expected = signature(SECRET, headers["X-Freeway-Timestamp"], headers["_raw"].encode())
    assert headers["X-Freeway-Signature"] == expected


def warm_up_alert() -> catalog_pb2.Alert:
    return catalog_pb2.Alert(
        id="test:warm-up",
        kind=catalog_pb2.ALERT_KIND_QUOTA_LOW,
        severity=catalog_pb2.ALERT_SEVERITY_INFO,
        subject="test",
        message="warm-up",
    )


async def test_a_receiver_that_is_down_gets_the_alert_after_a_restart_of_the_catalog(
    catalog: CatalogFactory, sim: Simulator, receiver: Receiver
) -> None:
    await receiver.stop()  # down: connections refused on its port
    app = await catalog(alert_settings(receiver))
    channel, stub = stub_for(app)
    upstream_id = free_model(sim)["id"]
    make_paid(sim, upstream_id)
    await poll(stub)
    [alert] = await alerts_of(stub, WENT_PAID)
    await channel.close()
    async with asyncio.timeout(30):  # retried with backoff while the receiver is down
        while not any(
            r["ref"] == alert.id and r["attempts"] >= 3 for r in await app.webhooks.store.outbox()
        ):
            await asyncio.sleep(0.05)
    await app.stop(grace=0.5)

    await receiver.start()
    restarted = await catalog(alert_settings(receiver))
    await restarted.webhooks.drain()

    [posted] = receiver.alerts("went_paid")
    assert posted["id"] == alert.id
    rows = [r for r in await restarted.webhooks.store.outbox() if r["ref"] == alert.id]
    assert [(r["state"], r["attempts"] >= 4) for r in rows] == [("delivered", True)]
    assert (await restarted.webhooks.store.counts())["dead"] == 0


async def test_a_model_that_vanishes_is_gone(
    catalog: CatalogFactory, sim: Simulator, receiver: Receiver
) -> None:
    app = await catalog(alert_settings(receiver))
    channel, stub = stub_for(app)
    upstream_id = free_model(sim)["id"]
    serve_list(sim, lambda models: [m for m in models if m["id"] != upstream_id])

    await poll(stub)
    [gone] = await alerts_of(stub, catalog_pb2.ALERT_KIND_GONE)
    await app.webhooks.drain()
    await channel.close()

    assert gone.model_id == f"openrouter/{upstream_id}"
    assert gone.severity == catalog_pb2.ALERT_SEVERITY_WARNING  # it was free
    assert values(gone)["is_free"] == (True, None)
    assert values(gone)["status"] == ("active", None)
    assert [b["model_id"] for b in receiver.alerts("gone")] == [gone.model_id]


async def test_a_provider_failing_its_polls_is_down_then_recovered(
    catalog: CatalogFactory, sim: Simulator, receiver: Receiver
) -> None:
    app = await catalog(alert_settings(receiver))
    channel, stub = stub_for(app)
    sim.script("openrouter", Error(503), endpoint="models", times=3)

    failed = [await poll(stub) for _ in range(3)]
    [down] = await alerts_of(stub, catalog_pb2.ALERT_KIND_PROVIDER_DOWN)
    sim.clear_script()
    await poll(stub)
    [recovered] = await alerts_of(stub, catalog_pb2.ALERT_KIND_PROVIDER_RECOVERED)
    await app.webhooks.drain()
    await channel.close()

    assert [s.healthy for s in failed] == [False, False, False]
    assert down.subject == "openrouter"
    assert values(down)["healthy"] == (True, False)
    assert values(down)["consecutive_failures"] == (1, 2)  # down after 2, raised once
    assert "503" in values(down)["last_error"][1]
    assert values(recovered)["healthy"] == (False, True)
    assert len(receiver.alerts("provider_down")) == 1
    assert len(receiver.alerts("provider_recovered")) == 1


async def test_raise_alert_validates_and_dedupes(
    catalog: CatalogFactory, receiver: Receiver
) -> None:
    app = await catalog(alert_settings(receiver, webhooks=()))
    channel, stub = stub_for(app)
    first = await stub.RaiseAlert(catalog_pb2.RaiseAlertRequest(alert=warm_up_alert()))
    again = await stub.RaiseAlert(catalog_pb2.RaiseAlertRequest(alert=warm_up_alert()))
    bad = warm_up_alert()
    bad.ClearField("subject")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RaiseAlert(catalog_pb2.RaiseAlertRequest(alert=bad))
    await channel.close()

    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.alert.seq == first.alert.seq
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "alert.subject" in (refused.value.details() or "")


async def test_a_router_crossing_a_free_quota_raises_quota_low(
    catalog: CatalogFactory, sim: Simulator, receiver: Receiver, tmp_path: Path
) -> None:
    """Five requests a day for the provider's free models: the fourth is 80 % of it."""
    tier = FreeTier(requests_per_day=5, scope="per_provider")
    app = await catalog(alert_settings(receiver), free_tier=tier)
    router = await start_router(tmp_path, app, sim, tier)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{router.port}")
    stub = router_stub(channel)
    try:
        for _ in range(4):
            await stub.Complete(request(), timeout=30)
        assert router.alerts is not None
        await asyncio.wait_for(router.alerts.drain(), 30)
    finally:
        await channel.close()
        await router.stop(0.5)
    catalog_channel, catalog_stub = stub_for(app)
    [low] = await alerts_of(catalog_stub, catalog_pb2.ALERT_KIND_QUOTA_LOW)
    await app.webhooks.drain()
    await catalog_channel.close()

    assert low.subject == "openrouter"
    assert low.source == "router"
    assert values(low)["requests_per_day_used"] == (3, 4)
    assert values(low)["used_share"] == (0.6, 0.8)
    assert low.severity == catalog_pb2.ALERT_SEVERITY_WARNING
    [posted] = receiver.alerts("quota_low")
    assert posted["topic"] == "providers"


async def start_router(tmp_path: Path, app: App, sim: Simulator, tier: FreeTier) -> router_app.App:
    providers = tmp_path / "router-providers.toml"
    providers.write_text(
        "[[providers]]\n"
        'name = "openrouter"\n'
        f'base_url = "{sim.base_url("openrouter")}"\n'
        'format = "openrouter"\n'
        f'api_key_env = "{KEY_ENV}"\n'
        f"free_tier = {{ requests_per_day = {tier.requests_per_day}, scope = "
        f'"{tier.scope}" }}\n'
    )
    suite = SuiteSettings(
        catalog_addr=app.address,
        analytics_addr=f"127.0.0.1:{free_port()}",  # down: usage waits in the spool
        router_addr="127.0.0.1:0",
        data_dir=tmp_path / "router",
        providers_file=providers,
    )
    router = router_app.build(RouterSettings(cache=False), suite, env=ENV)
    await router.start()
    await asyncio.wait_for(router.watcher.ready.wait(), 30)
    return router


DAY = 86_400.0


async def test_done_webhook_rows_go_after_the_keep_and_pending_ones_never(
    catalog: CatalogFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_store, "PRUNE_CHUNK", 2)  # several chunks
    app = await catalog(alert_settings(receiver, webhooks=()))  # no worker: the test drives
    store = AlertStore(app.db)
    now = time.time()
    for n in range(8):
        await store.enqueue(Notice("test", f"n{n}", "{}"), ("http://a.invalid/",), now - 10 * DAY)
    seqs = [int(r["seq"]) for r in await store.outbox()]
    for seq in seqs[:3]:
        await store.delivered(seq, now - 9 * DAY)
    for seq in seqs[3:5]:
        await store.dead(seq, now - 8 * DAY, "refused")
    await store.delivered(seqs[5], now - DAY)  # done, but within the keep
    # seqs[6:] stay pending, however old

    assert await store.prune_outbox(now - 7 * DAY) == 5
    left = {r["ref"]: r["state"] for r in await store.outbox()}
    assert left == {"n5": "delivered", "n6": "pending", "n7": "pending"}
    assert await store.prune_outbox(now - 7 * DAY) == 0


async def test_the_outbox_worker_prunes_and_metrics_show_its_depth_by_state(
    catalog: CatalogFactory, receiver: Receiver
) -> None:
    app = await catalog(alert_settings(receiver))
    channel, stub = stub_for(app)
    await stub.RaiseAlert(catalog_pb2.RaiseAlertRequest(alert=warm_up_alert()), timeout=10)
    await channel.close()
    await app.webhooks.drain()
    await app.webhooks.housekeep()
    counts = await app.webhooks.store.counts()
    assert counts["delivered"] >= 2  # the first poll's change notice, and the alert
    exposed = app.metrics.registry.expose()
    check_metrics(exposed)  # promtool
    for state, n in counts.items():
        assert f'freeway_catalog_webhook_outbox_rows{{state="{state}"}} {n}' in exposed
    delivered = total(
        parse(exposed), "freeway_catalog_webhook_deliveries_total", result="delivered"
    )
    assert delivered == counts["delivered"]  # this replica delivered every one
    assert total(parse(exposed), "freeway_catalog_webhook_deliveries_total", result="dead") == 0

    # Eight days on, everything done is past the default keep (7 days): the next prune,
    # due once its hour is up, takes it.
    app.webhooks._wall = lambda: time.time() + 8 * DAY
    app.webhooks._pruned_at -= app.webhooks.policy.prune_every_s
    await app.webhooks.housekeep()
    assert app.webhooks.depth == {"pending": 0, "delivered": 0, "dead": 0}
    assert 'freeway_catalog_webhook_outbox_rows{state="delivered"} 0' in (
        app.metrics.registry.expose()
    )
