"""Trust boundaries of the whole suite, as processes behind Envoy serving HTTPS with a
certificate made for the run: no gRPC call gets in without the service token, and a
provider that echoes the API key it was sent never gets it into a log line, a stored usage
row or any answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from freeway.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.router.v1 import router_pb2, router_pb2_grpc
from services.local.envoy import dev_certificate
from services.local.supervisor import ProcessSpec, Suite, SuiteError, child_env, loopback_settings
from services.shared.channels import channel
from services.shared.redact import MASK
from tests.conftest import free_port, pg_execute

pytestmark = pytest.mark.e2e

ADMIN_KEY = "trust-admin-key"
PROVIDER_KEY = f"sk-trust-{uuid.uuid4().hex}"
KEY_ENV = "FREEWAY_TRUST_GROQ_KEY"


@dataclass
class Trusted:
    suite: Suite
    base_url: str  # https://…/v1
    tls: ssl.SSLContext
    standin: str
    database_url: str
    log_dir: Path

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            verify=self.tls,
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=30,
        )


def _providers(tmp: Path, standin: str) -> Path:
    path = tmp / "providers.toml"
    path.write_text(
        "[[providers]]\n"
        'name = "groq"\n'
        f'base_url = "{standin}/groq/openai/v1"\n'
        'format = "groq"\n'
        f'api_key_env = "{KEY_ENV}"\n'
        'free_policy = "free_tier"\n'
        "timeout_s = 5\n"
    )
    return path


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trusted]:
    from tests.conftest import require_postgres

    postgres = require_postgres()
    schema = f"trust_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_execute(postgres, f'CREATE SCHEMA "{schema}"'))
    database_url = f"{postgres}?options=-csearch_path%3D{schema}"
    tmp = tmp_path_factory.mktemp("trust")
    cert, key = dev_certificate(tmp / "tls")
    standin_addr = f"127.0.0.1:{free_port()}"
    settings = loopback_settings(
        tmp / "var",
        _providers(tmp, f"http://{standin_addr}"),
        database_url=database_url,
        envoy_tls_cert=cert,
        envoy_tls_key=key,
    )
    env = child_env(
        settings,
        {
            "DATABASE_URL": database_url,
            "FREEWAY_ADMIN_KEY": ADMIN_KEY,
            "FREEWAY_CONFIG": "",
            "FREEWAY_LOG_LEVEL": "DEBUG",
            "FREEWAY_CATALOG_MIN_POLL_GAP_S": "0",
            KEY_ENV: PROVIDER_KEY,
        },
    )
    env.pop("REDIS_URL", None)
    env.pop("FREEWAY_SERVICE_TOKEN", None)  # the suite makes its own
    standin = ProcessSpec(
        "standin",
        [sys.executable, "-m", "services.simulator", "--addr", standin_addr],
        ("http", f"http://{standin_addr}/_simulator/health"),
    )
    suite = Suite(settings, env, log_dir=tmp / "logs", before=[standin])
    tls = ssl.create_default_context(cafile=str(cert))
    running = Trusted(
        suite,
        f"https://{settings.envoy_addr}/v1",
        tls,
        f"http://{standin_addr}",
        database_url,
        tmp / "logs",
    )
    try:
        asyncio.run(suite.start(timeout=60))
        _wait_for_models(running)
    except SuiteError as exc:
        asyncio.run(suite.stop())
        pytest.fail(f"the suite did not start: {exc}", pytrace=False)
    yield running
    asyncio.run(suite.stop())
    asyncio.run(pg_execute(postgres, f'DROP SCHEMA "{schema}" CASCADE'))


def _wait_for_models(trusted: Trusted) -> None:
    deadline = time.monotonic() + 30
    with trusted.http() as http:
        while time.monotonic() < deadline:
            reply = http.get("/models")
            if reply.status_code == 200 and len(reply.json()["data"]) > 1:
                return
            time.sleep(0.2)
    raise SuiteError("no models listed through HTTPS after 30s")


def _address(trusted: Trusted, service: str) -> str:
    return dict(trusted.suite.process(service).spec.binds)[f"FREEWAY_{service.upper()}_ADDR"]


def test_envoy_terminates_tls_with_the_generated_certificate(trusted: Trusted) -> None:
    with trusted.http() as http:
        reply = http.get("/models")
    assert reply.status_code == 200
    assert any(m["id"].startswith("groq/") for m in reply.json()["data"])
    plain = trusted.base_url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/models", timeout=5)


def test_no_grpc_call_gets_in_without_the_service_token(trusted: Trusted) -> None:
    forged = analytics_pb2.UsageEvent(
        event_id=f"forged-{uuid.uuid4().hex}",
        key_id="admin",
        cost_usd=12345.67,
        status=analytics_pb2.USAGE_STATUS_OK,
    )
    forged.time.GetCurrentTime()

    async def attempts() -> dict[str, grpc.StatusCode]:
        codes: dict[str, grpc.StatusCode] = {}
        async with channel(_address(trusted, "catalog")) as ch:
            stub = catalog_pb2_grpc.CatalogServiceStub(ch)
            codes["catalog"] = await _code(stub.ListModels(catalog_pb2.ListModelsRequest()))
        async with channel(_address(trusted, "router")) as ch:
            request = router_pb2.CompletionRequest(
                body='{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}',
                key_id="made-up-key",
            )
            codes["router"] = await _code(router_pb2_grpc.RouterServiceStub(ch).Complete(request))
        async with channel(_address(trusted, "analytics"), "not-the-service-token-at-all") as ch:
            call = analytics_pb2_grpc.AnalyticsServiceStub(ch).Ingest()
            codes["analytics"] = await _stream_code(
                call, analytics_pb2.IngestRequest(sequence=1, events=[forged])
            )
        return codes

    codes = asyncio.run(attempts())
    assert codes == dict.fromkeys(
        ("catalog", "router", "analytics"), grpc.StatusCode.UNAUTHENTICATED
    )
    rows = asyncio.run(
        _fetch(trusted, "SELECT count(*) AS n FROM usage_events WHERE key_id = 'admin'")
    )
    assert rows[0]["n"] == 0


def test_a_provider_echoing_its_key_never_gets_it_out(trusted: Trusted) -> None:
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {PROVIDER_KEY}"}})
    for endpoint, status in (("chat", 500), ("models", 401)):
        rule = {"provider": "groq", "endpoint": endpoint, "faults": [
            {"kind": "error", "status": status, "body": echo}]}  # fmt: skip
        assert httpx.post(f"{trusted.standin}/_simulator/script", json=rule).status_code == 201
    answers: list[str] = []
    with trusted.http() as http:
        for stream in (False, True):
            body = {
                "model": "auto",
                "stream": stream,
                "messages": [{"role": "user", "content": "hi"}],
            }
            reply = http.post("/chat/completions", json=body)
            assert reply.status_code >= 400, reply.text
            answers.append(reply.text)
        answers.append(_refresh(trusted))
        providers = http.get("/providers")
        answers.append(providers.text)
    groq = next(p for p in providers.json()["data"] if p["name"] == "groq")
    assert MASK in groq["last_error"]
    errors = _stored_errors(trusted, at_least=2)  # both completions' usage rows
    assert any(MASK in e for e in errors), errors
    logs = {
        path.name: path.read_text(errors="replace")
        for path in trusted.log_dir.glob("*.log")
        if path.name != "standin.log"  # test equipment, not Freeway
    }
    assert any(MASK in text for text in logs.values())
    for where, text in [*enumerate(answers), *enumerate(errors), *logs.items()]:
        assert PROVIDER_KEY not in text, where


def _stored_errors(trusted: Trusted, at_least: int) -> list[str]:
    """The usage rows' error texts, once the router has shipped them."""
    deadline = time.monotonic() + 20
    while True:
        rows = asyncio.run(_fetch(trusted, "SELECT error FROM usage_events WHERE error <> ''"))
        if len(rows) >= at_least or time.monotonic() > deadline:
            return [row["error"] for row in rows]
        time.sleep(0.2)


def _refresh(trusted: Trusted) -> str:
    """RefreshProvider over gRPC (with the token): the poll's error as it is answered."""

    async def ask() -> str:
        async with channel(_address(trusted, "catalog"), trusted.suite.token) as ch:
            reply = await catalog_pb2_grpc.CatalogServiceStub(ch).RefreshProvider(
                catalog_pb2.RefreshProviderRequest(name="groq"), timeout=20
            )
        return str(reply)

    return asyncio.run(ask())


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


async def _stream_code(call: Any, request: analytics_pb2.IngestRequest) -> grpc.StatusCode:
    """The status a stream ended with, the forged event sent if the server lets it. A server
    that refuses does so on the call's headers; writing into a call it already ended fails
    locally (INTERNAL from grpc's core, which then is the call's status too), so the
    refusal is waited for first (bounded: a server that takes the call answers nothing until
    it gets the event, which is then sent)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(call.initial_metadata()), 2.0)
    if not call.done():
        with contextlib.suppress(grpc.aio.AioRpcError):
            await call.write(request)
            await call.read()
    code: grpc.StatusCode = await call.code()
    return code


async def _fetch(trusted: Trusted, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(trusted.database_url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql)
    finally:
        await conn.close()
    return rows
