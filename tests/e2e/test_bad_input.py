"""Bad input through the whole suite (Envoy → edge → the real router): every probe of the
issue is a 4xx in OpenAI's shape, never a 5xx, and bad requests do not fail good ones."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections import Counter

import aiohttp
import httpx
import pytest

from tests.e2e.conftest import RunningSuite

pytestmark = pytest.mark.e2e

MAX_BODY_BYTES = 4 * 1024 * 1024  # the edge's default (FREEWAY_EDGE_MAX_BODY_BYTES)
CHARS_PER_TOKEN = 4
USER = [{"role": "user", "content": "hi"}]


def _assert_openai_error(reply: httpx.Response, status: int) -> dict[str, object]:
    assert reply.status_code == status, reply.text[:500]
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return dict(error)


def _largest_free_context(suite: RunningSuite) -> int:
    reply = httpx.get(f"{suite.base_url}/models", headers=suite.auth, timeout=10)
    return int(max(m.get("context_window", 0) for m in reply.json()["data"]))


def _estimated_tokens(suite: RunningSuite, text: str) -> int:
    """The router's own estimate of a prompt (from POST /v1/route)."""
    body = {"messages": [{"role": "user", "content": text}]}
    reply = httpx.post(f"{suite.base_url}/route", json=body, headers=suite.auth, timeout=60)
    assert reply.status_code == 200, reply.text[:300]
    return int(reply.json()["prompt_tokens"])


def test_a_prompt_larger_than_every_context_is_a_400(suite: RunningSuite) -> None:
    largest = _largest_free_context(suite)
    sample = "The quick brown fox, 42 jumps; over 7 lazy dogs! " * 2000  # ~100 KB
    per_char = _estimated_tokens(suite, sample) / len(sample)
    chars = min(int(largest * 1.1 / per_char), MAX_BODY_BYTES - 4096)
    body: dict[str, object] = {
        "model": "auto",
        "messages": [{"role": "user", "content": (sample * (chars // len(sample) + 1))[:chars]}],
    }
    prompt_tokens = int(chars * per_char)
    if prompt_tokens <= largest:  # the body limit comes first: ask for the rest as output
        body["max_completion_tokens"] = largest
    reply = httpx.post(
        f"{suite.base_url}/chat/completions", json=body, headers=suite.auth, timeout=60
    )
    error = _assert_openai_error(reply, 400)
    assert error["code"] == "context_length_exceeded", error
    print(f"largest free context {largest} tokens; prompt ~{prompt_tokens} tokens: 400")


PROBES = {
    "max_tokens of 5,000 digits": b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":'
    + b"9" * 5000
    + b"}",
    "a lone surrogate": b'{"messages":[{"role":"user","content":"\\ud800"}]}',
    "nesting 10,000 deep": b'{"messages":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "not UTF-8": b'{"messages":[{"role":"user","content":"\xff\xfe"}]}',
    "an image detail that is an object": json.dumps(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": {}}}
                    ],
                }
            ]
        }
    ).encode(),
}


@pytest.mark.parametrize("name", list(PROBES))
def test_bad_bodies_are_4xx_in_openai_shape(suite: RunningSuite, name: str) -> None:
    for path in ("/chat/completions", "/route"):
        reply = httpx.post(
            f"{suite.base_url}{path}",
            content=PROBES[name],
            headers={**suite.auth, "Content-Type": "application/json"},
            timeout=30,
        )
        _assert_openai_error(reply, 400)


def test_authorization_that_is_not_utf8_is_a_401(suite: RunningSuite) -> None:
    host, port = suite.settings.envoy_addr.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n"
        )
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert set(body["error"]) == {"message", "type", "param", "code"}


async def test_bad_gzip_never_fails_other_clients_of_the_suite(suite: RunningSuite) -> None:
    """Bodies declared gzip that are not, among other clients' requests through Envoy, the
    edge and the router. The good ones ask for routing decisions: chats would spend the
    simulated providers' free quotas, which later tests of the session count on."""
    headers = {**suite.auth, "Content-Type": "application/json"}
    good, bad = Counter[int](), Counter[int]()
    body = json.dumps({"model": "auto", "messages": USER}).encode()

    async def send(session: aiohttp.ClientSession, broken: bool) -> None:
        extra = {"Content-Encoding": "gzip"} if broken else {}
        url = f"{suite.base_url}/{'chat/completions' if broken else 'route'}"
        async with session.post(url, data=body, headers=headers | extra) as resp:
            await resp.read()
            (bad if broken else good)[resp.status] += 1

    plan = [False] * 300 + [True] * 50
    random.Random(8).shuffle(plan)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as session:
        await asyncio.gather(*(send(session, broken) for broken in plan))
    print(f"gzip probe through the suite: good {dict(good)}, bad {dict(bad)}")
    assert good == {200: 300}
    assert bad == {400: 50}
