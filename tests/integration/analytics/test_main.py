"""`python -m services.analytics` as a real process: serves, stops on SIGTERM, and refuses
a bad setting naming its key."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.analytics.servicer import SERVICE_NAME
from tests.conftest import free_port

START_TIMEOUT_S = 20.0


def service_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREEWAY_")}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "FREEWAY_DATA_DIR": str(tmp_path / "var"),
            "FREEWAY_LOG_LEVEL": "WARNING",
            "FREEWAY_SERVICE_TOKEN": "test-service-token-0123456789",
        }
    )
    env.update(extra)
    return env


async def wait_serving(address: str) -> health_pb2.HealthCheckResponse:
    async with grpc.aio.insecure_channel(address) as ch:
        await asyncio.wait_for(ch.channel_ready(), START_TIMEOUT_S)
        request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        reply: health_pb2.HealthCheckResponse = await health_pb2_grpc.HealthStub(ch).Check(request)
        return reply


async def test_serves_until_sigterm(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.analytics",
        env=service_env(tmp_path, FREEWAY_ANALYTICS_ADDR=address),
        cwd=tmp_path,
    )  # fmt: skip
    try:
        reply = await wait_serving(address)
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), START_TIMEOUT_S)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert code == 0
    assert (tmp_path / "var" / "analytics.sqlite3").is_file()


async def test_bad_setting_fails_fast_naming_the_key(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.analytics",
        env=service_env(tmp_path, FREEWAY_ANALYTICS_MAX_BATCH_EVENTS="0"),
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)
    assert process.returncode == 2
    assert b"FREEWAY_ANALYTICS_MAX_BATCH_EVENTS" in stderr
