"""The response cache's rules: what may be cached, under which key, and the stores."""

from __future__ import annotations

from typing import Any

import pytest

from services.router.cache import (
    CACHE_DEFAULT,
    CACHE_OFF,
    CACHE_ON,
    Entry,
    MemoryStore,
    cache_key,
    cacheable,
)
from services.router.request import read_body

USER = [{"role": "user", "content": "hi"}]


def chat(**fields: Any) -> Any:
    return read_body({"messages": USER, **fields})


@pytest.mark.parametrize(
    ("fields", "mode", "ok"),
    [
        ({"temperature": 0}, CACHE_DEFAULT, True),
        ({"seed": 4}, CACHE_DEFAULT, True),
        ({}, CACHE_DEFAULT, False),  # sampled: another answer is as right
        ({"temperature": 0.7}, CACHE_DEFAULT, False),
        ({"temperature": 0.7}, CACHE_ON, True),  # the caller asked
        ({"temperature": 0}, CACHE_OFF, False),  # the caller (or its key) opted out
        ({"temperature": 0, "logprobs": True}, CACHE_ON, False),
    ],
)
def test_what_may_be_cached(fields: dict[str, Any], mode: int, ok: bool) -> None:
    assert cacheable(chat(**fields), mode) is ok


def test_keys_separate_namespaces_bodies_and_routing_but_not_key_order() -> None:
    a = cache_key("team:a", chat(temperature=0, top_p=1), ("free-first",))
    assert a == cache_key(
        "team:a", read_body({"top_p": 1, "temperature": 0, "messages": USER}), ("free-first",)
    )
    assert a != cache_key("team:b", chat(temperature=0, top_p=1), ("free-first",))
    assert a != cache_key("team:a", chat(temperature=0, top_p=0.9), ("free-first",))
    assert a != cache_key("team:a", chat(temperature=0, top_p=1), ("quality",))


async def test_the_memory_store_expires_and_evicts_least_recently_used() -> None:
    now = [0.0]
    store = MemoryStore(max_entries=2, max_bytes=100, clock=lambda: now[0])
    await store.put("a", b"1", 10)
    await store.put("b", b"2", 10)
    assert await store.get("a") == b"1"  # now b is the least recently used
    await store.put("c", b"3", 10)
    assert (await store.get("b"), await store.get("a"), await store.get("c")) == (None, b"1", b"3")
    now[0] = 11
    assert await store.get("a") is None
    await store.put("big", b"x" * 101, 10)  # larger than the whole store: not kept
    assert await store.get("big") is None
    await store.put("d", b"x" * 60, 10)
    await store.put("e", b"x" * 60, 10)  # over the byte bound: the older goes
    assert (await store.get("d"), store.size) == (None, 60)


def test_an_entry_that_cannot_be_read_is_a_miss() -> None:
    entry = Entry(
        "p/m",
        [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    )
    assert Entry.decode(entry.encode()) == entry
    assert Entry.decode(b"{not json") is None
    assert Entry.decode(b'{"model": "x"}') is None
