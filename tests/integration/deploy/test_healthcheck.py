"""The container health probe against real servers on loopback: a grpc.aio server with the
shared health service (services.shared.server) and an aiohttp app, probed in-process (on a
worker thread: the probe blocks) and as the exact command compose.yaml runs."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from grpc_health.v1 import health_pb2

from services.shared.healthcheck import grpc_status, http_status
from services.shared.server import RunningServer, start_server
from tests.conftest import ROOT, free_port

SERVICE = "freeway.test.v1.Probed"


@pytest.fixture
async def grpc_server() -> AsyncIterator[RunningServer]:
    server = await start_server("probe-test", "127.0.0.1:0", [])
    await server.health.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    yield server
    await server.stop(0)


@pytest.fixture
async def http_base() -> AsyncIterator[str]:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def sick(request: web.Request) -> web.Response:
        return web.Response(status=503, text="draining")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/sick", sick)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _probe(*args: str) -> tuple[int, str]:
    """Run `python -m services.shared.healthcheck ARGS` as compose does; (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.shared.healthcheck",
        "--timeout",
        "5",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_grpc_status_names_what_the_health_service_says(grpc_server: RunningServer) -> None:
    address = f"127.0.0.1:{grpc_server.port}"
    assert await asyncio.to_thread(grpc_status, address) == "SERVING"
    assert await asyncio.to_thread(grpc_status, address, SERVICE) == "SERVING"
    assert await asyncio.to_thread(grpc_status, address, "freeway.nope.v1.Missing") == "NOT_FOUND"
    await grpc_server.health.set(SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
    assert await asyncio.to_thread(grpc_status, address, SERVICE) == "NOT_SERVING"


async def test_grpc_status_of_nothing_listening_is_unavailable() -> None:
    assert (
        await asyncio.to_thread(grpc_status, f"127.0.0.1:{free_port()}", "", 2.0) == "UNAVAILABLE"
    )


async def test_grpc_probe_exit_codes(grpc_server: RunningServer) -> None:
    address = f"127.0.0.1:{grpc_server.port}"
    assert await _probe("grpc", address) == (0, "")
    assert (await _probe("grpc", address, SERVICE))[0] == 0
    await grpc_server.health.enter_graceful_shutdown()
    code, err = await _probe("grpc", address, SERVICE)
    assert (code, err.strip()) == (1, f"unhealthy: {address} {SERVICE}: NOT_SERVING")


async def test_http_status_and_probe_exit_codes(http_base: str) -> None:
    assert await asyncio.to_thread(http_status, f"{http_base}/healthz") == 200
    assert await asyncio.to_thread(http_status, f"{http_base}/sick") == 503
    assert await asyncio.to_thread(http_status, f"{http_base}/missing") == 404
    assert await _probe("http", f"{http_base}/healthz") == (0, "")
    code, err = await _probe("http", f"{http_base}/sick")
    assert (code, err.strip()) == (1, f"unhealthy: {http_base}/sick: 503")


async def test_http_probe_of_nothing_listening_fails() -> None:
    url = f"http://127.0.0.1:{free_port()}/healthz"
    assert await asyncio.to_thread(http_status, url, 2.0) == 0
    assert await _probe("http", url) == (1, f"unhealthy: {url}: no response\n")


async def test_probe_rejects_bad_usage() -> None:
    code, err = await _probe("http", "file:///etc/hostname")
    assert code == 2
    assert "url: expected http(s)" in err
    assert (await _probe("tcp", "127.0.0.1:1"))[0] == 2
