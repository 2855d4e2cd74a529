"""The local supervisor with real processes: a taken port stops the start before anything
runs, with one line naming the port and who holds it; a child that dies is restarted with
backoff while the others keep running; the service token is made once and kept."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.local.ports import holder, taken
from services.local.supervisor import (
    PortTaken,
    ProcessSpec,
    RestartPolicy,
    Suite,
    check_ports,
    ensure_token,
    loopback_settings,
)
from tests.conftest import ROOT, free_port

# A child that serves /healthz on the port it is given (the stand-in for a service).
SERVE = (
    "import sys, http.server\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
    "    def log_message(self, *a): pass\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_a_taken_port_is_named_with_its_holder(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert taken(f"127.0.0.1:{port}")
    assert not taken(f"127.0.0.1:{free_port()}")
    assert holder(port).startswith(f"pid {os.getpid()} (")
    spec = ProcessSpec("x", ["true"], ("http", "-"), (("FREEWAY_EDGE_ADDR", f"127.0.0.1:{port}"),))
    with pytest.raises(PortTaken) as refused:
        check_ports([spec])
    message = str(refused.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port} (FREEWAY_EDGE_ADDR)" in message
    assert f"pid {os.getpid()}" in message


def test_a_second_demo_fails_before_it_starts_anything(
    tmp_path: Path, listener: socket.socket
) -> None:
    """As when a first `make demo` holds the gateway port: one line, no banner, no answer."""
    port = listener.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    for name in ("ENVOY_ADMIN", "EDGE", "CATALOG", "ROUTER", "ANALYTICS", "SIMULATOR"):
        env[f"FREEWAY_{name}_ADDR"] = f"127.0.0.1:{free_port()}"
    env["FREEWAY_ENVOY_ADDR"] = f"127.0.0.1:{port}"
    env["FREEWAY_DATA_DIR"] = str(tmp_path / "var")
    env.pop("FREEWAY_ADMIN_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert f"127.0.0.1:{port} (FREEWAY_ENVOY_ADDR) is already in use by pid {os.getpid()}" in line
    assert "Freeway is up" not in done.stderr
    assert not taken(env["FREEWAY_SIMULATOR_ADDR"])  # nothing was started


def test_backoff_doubles_to_its_ceiling() -> None:
    policy = RestartPolicy(initial_s=0.5, max_s=4.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


async def test_a_dead_child_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    settings = loopback_settings(tmp_path / "var", tmp_path / "providers.toml")
    ports = [free_port(), free_port()]
    specs = [
        ProcessSpec(
            f"child-{n}",
            [sys.executable, "-c", SERVE, str(port)],
            ("http", f"http://127.0.0.1:{port}/healthz"),
            (("PORT", f"127.0.0.1:{port}"),),
        )
        for n, port in enumerate(ports)
    ]
    suite = Suite(
        settings, dict(os.environ), log_dir=tmp_path / "logs", before=specs, with_services=False
    )
    reports: list[str] = []
    await suite.start(timeout=30)
    supervisor = asyncio.create_task(suite.supervise(reports.append))
    try:
        first = suite.process("child-0").popen.pid
        other = suite.process("child-1").popen.pid
        os.kill(first, signal.SIGKILL)
        await _until(lambda: any("child-0 is back" in r for r in reports))
        assert suite.process("child-0").popen.pid != first
        assert suite.process("child-0").restarts == 1
        assert suite.process("child-1").popen.pid == other  # never touched
        assert suite.process("child-1").popen.poll() is None
        assert reports[0] == "freeway: child-0 exited with code -9; restarting it in 0.5s"
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        await suite.stop()


async def test_a_child_that_keeps_dying_is_restarted_ever_later(tmp_path: Path) -> None:
    settings = loopback_settings(tmp_path / "var", tmp_path / "providers.toml")
    port = free_port()
    flaky = ProcessSpec(
        "flaky",
        # Serves once (so the suite starts), then every restart dies at once.
        [sys.executable, "-c", f"import os, sys\nif os.path.exists({str(tmp_path / 'ran')!r}):"
         f" sys.exit(3)\nopen({str(tmp_path / 'ran')!r}, 'w').close()\n{SERVE}", str(port)],
        ("http", f"http://127.0.0.1:{port}/healthz"),
    )  # fmt: skip
    policy = RestartPolicy(initial_s=0.05, max_s=0.2, ready_timeout_s=5)
    suite = Suite(settings, dict(os.environ), before=[flaky], with_services=False, restart=policy)
    reports: list[str] = []
    await suite.start(timeout=30)
    supervisor = asyncio.create_task(suite.supervise(reports.append))
    try:
        suite.process("flaky").popen.kill()
        await _until(lambda: sum("restarting it in" in r for r in reports) >= 4)
        delays = [r.rsplit(" ", 1)[1] for r in reports if "restarting it in" in r]
        assert delays[:4] == ["0.1s", "0.1s", "0.2s", "0.2s"]  # 0.05, 0.1, 0.2, 0.2 rounded
        assert any("exited with code 3" in r for r in reports)
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        await suite.stop()


def test_the_service_token_is_made_once_kept_private_and_reused(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    token = ensure_token(env, tmp_path)
    assert env["FREEWAY_SERVICE_TOKEN"] == token
    assert len(token) >= 32
    path = tmp_path / "service-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again: dict[str, str] = {}
    assert ensure_token(again, tmp_path) == token
    given = {"FREEWAY_SERVICE_TOKEN": "operator-chosen-token-abcdef"}
    assert ensure_token(given, tmp_path) == "operator-chosen-token-abcdef"


async def _until(condition: object, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
