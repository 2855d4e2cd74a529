"""Fixtures for the analytics tests: one store contract, run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.analytics.store import UsageStore, open_usage_store

MAX_BATCH = 50


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None selects the embedded SQLite default; otherwise a throwaway PostgreSQL schema."""
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_schema"))


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "analytics.sqlite3"


@pytest.fixture
async def store(database_url: str | None, sqlite_file: Path) -> AsyncIterator[UsageStore]:
    opened = await open_usage_store(database_url, sqlite_file, max_batch_events=MAX_BATCH)
    yield opened
    await opened.close()
