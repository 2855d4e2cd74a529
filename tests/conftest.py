"""Shared fixtures: real servers or a clear skip (never a skip under CI=true: then it fails)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from services.local.supervisor import free_port

__all__ = ["free_port"]  # the one helper for a free loopback port, used by many tests

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip with `reason` locally; fail under CI=true, where every server must be there."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    if not _reachable(DATABASE_URL, 5432):
        unavailable(f"no PostgreSQL at {DATABASE_URL} (set DATABASE_URL)")
    return DATABASE_URL


def require_redis() -> str:
    if not _reachable(REDIS_URL, 6379):
        unavailable(f"no Redis at {REDIS_URL} (set REDIS_URL)")
    return REDIS_URL


@pytest.fixture
def postgres_url() -> str:
    return require_postgres()


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A throwaway PostgreSQL schema: yields a DATABASE_URL whose search_path points at it.

    Synchronous (on its own short-lived loop) so that sync and async fixtures can use it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_execute(postgres_url, f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    asyncio.run(pg_execute(postgres_url, f'DROP SCHEMA "{schema}" CASCADE'))


async def pg_execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
