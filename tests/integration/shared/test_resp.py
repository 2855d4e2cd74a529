"""The minimal Redis client of the admission ledger, against the real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.shared.resp import RespClient, RespError, pack


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert (
        pack(("SET", "k", 1, b"\xff")) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$1\r\n\xff\r\n"
    )


async def test_replies_of_every_kind(redis_url: str) -> None:
    client = RespClient(redis_url)
    name = f"test-resp-{uuid.uuid4().hex}"
    try:
        assert await client.call("PING") == "PONG"
        assert await client.call("INCRBY", name, 5) == 5
        assert await client.call("MGET", name, name + ":none") == [b"5", None]
        assert await client.call("EVAL", "return {1, 'a', {2}}", 0) == [1, b"a", [2]]
        assert await client.call("DEL", name) == 1
        with pytest.raises(RespError, match="NOSCRIPT"):  # the ledger reloads on this prefix
            await client.call("EVALSHA", "0" * 40, 0)
        assert await client.call("PING") == "PONG"  # an error reply keeps the connection
    finally:
        await client.close()


async def test_concurrent_callers_take_turns(redis_url: str) -> None:
    client = RespClient(redis_url)
    try:
        replies = await asyncio.gather(*(client.call("ECHO", str(i)) for i in range(50)))
        assert replies == [str(i).encode() for i in range(50)]
    finally:
        await client.close()


async def test_a_refused_password_is_an_error_that_does_not_show_it(redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis://:s3cret-pass@", 1)
    client = RespClient(url)
    try:
        with pytest.raises(RespError) as caught:
            await client.call("PING")
        assert "s3cret-pass" not in str(caught.value)
    finally:
        await client.close()


async def test_nothing_listening_is_an_error_then_a_retry() -> None:
    client = RespClient("redis://127.0.0.1:1/0", timeout_s=0.5)
    for _ in range(2):
        with pytest.raises(RespError, match=r"127\.0\.0\.1:1"):
            await client.call("PING")
    await client.close()
