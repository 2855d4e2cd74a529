"""The edge served for fuzzing as it is in production — `serve()`, so aiohttp's own
protocol errors go through the edge's runner — on a free loopback port, against the fake
router (which validates every body with the router's real reader), the fake catalog and a
real analytics service (SQLite in a temporary directory), so the usage routes answer too.

It runs on an event loop of its own in a background thread, so that synchronous clients
(schemathesis, raw sockets under hypothesis) can drive it; one per test module."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services.analytics.app import App as AnalyticsApp
from services.analytics.app import build as build_analytics
from services.analytics.config import AnalyticsSettings
from services.edge.app import bound_port, create_app, serve
from services.edge.config import EdgeSettings
from services.shared.server import RunningServer
from services.shared.settings import SuiteSettings
from tests.integration.edge.conftest import ADMIN_KEY
from tests.integration.edge.fakes import FakeCatalog, FakeRouter, serve_catalog, serve_router

START_WITHIN_S = 30.0
MAX_BODY_BYTES = 64 * 1024  # small, so oversized bodies are cheap to send


@dataclass
class ServedEdge:
    """Where the edge listens, and what it has answered (for the figures)."""

    host: str
    port: int
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def exchange(self, raw: bytes, timeout: float = 10.0) -> bytes:
        """Send `raw` bytes on a fresh connection; everything the edge answers until it
        closes the connection or the answer is complete."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as conn:
            # The edge may answer and close before reading it all: read the answer then.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.sendall(raw)
            return read_answer(conn, head_only=raw.startswith(b"HEAD "))


def read_answer(conn: socket.socket, head_only: bool = False) -> bytes:
    """One HTTP response: headers, then Content-Length bytes (or until the close); an
    answer to HEAD has no body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(conn)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0 if head_only else content_length(head)
    while length is None or len(body) < length:
        chunk = _recv(conn)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(65536)
    except ConnectionResetError:
        return b""


def content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one raw HTTP response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), headers, body


def openai_error(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """Assert an answer ≥ 400 is OpenAI's error shape; its error object."""
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body)
    payload = json.loads(body)
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert "Traceback" not in error["message"], error
    assert isinstance(error["type"], str), error
    assert error["param"] is None or isinstance(error["param"], str), error
    assert error["code"] is None or isinstance(error["code"], str), error
    return dict(error)


class EdgeThread:
    """Fake backends and the edge on an event loop in a thread."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="served-edge", daemon=True)
        self.port = 0
        self.failure: BaseException | None = None
        self._servers: list[RunningServer] = []
        self._analytics: AnalyticsApp | None = None
        self._runner: web.AppRunner | None = None
        self._stopped: asyncio.Event | None = None

    def __enter__(self) -> ServedEdge:
        self.thread.start()
        if not self.ready.wait(START_WITHIN_S) or self.failure is not None:
            raise RuntimeError(f"the edge did not start: {self.failure!r}")
        return ServedEdge("127.0.0.1", self.port)

    def __exit__(self, *exc: object) -> None:
        stopped = self._stopped
        if stopped is not None:
            self.loop.call_soon_threadsafe(stopped.set)
        self.thread.join(START_WITHIN_S)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        try:
            router_server = await serve_router(FakeRouter())
            catalog_server = await serve_catalog(FakeCatalog())
            self._servers = [router_server, catalog_server]
            data_dir = Path(tempfile.mkdtemp(prefix="freeway-fuzz-analytics-"))
            self._analytics = build_analytics(
                AnalyticsSettings(shutdown_grace_s=1),
                SuiteSettings(analytics_addr="127.0.0.1:0", data_dir=data_dir, database_url=None),
            )
            await self._analytics.start()
            suite = SuiteSettings(
                router_addr=f"127.0.0.1:{router_server.port}",
                catalog_addr=f"127.0.0.1:{catalog_server.port}",
                analytics_addr=f"127.0.0.1:{self._analytics.port}",
                redis_url=None,
            )
            values: dict[str, Any] = {"admin_key": ADMIN_KEY, "rpm": 0}
            values |= {"max_body_bytes": MAX_BODY_BYTES, **self.settings}
            settings = EdgeSettings(**values)
            self._runner = await serve(create_app(settings, suite), "127.0.0.1:0", grace=1)
            self.port = bound_port(self._runner)
            self._stopped = asyncio.Event()
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
            raise
        self.ready.set()
        await self._stopped.wait()
        await self._runner.cleanup()
        for server in self._servers:
            await server.stop(0)
        if self._analytics is not None:
            await self._analytics.stop()


@pytest.fixture(scope="module")
def served() -> Iterator[ServedEdge]:
    with EdgeThread() as edge:
        yield edge
