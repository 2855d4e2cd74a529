"""One contract, both adapters: SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.shared.db import Database, Migration, migrate, open_database

MIGRATIONS = [
    Migration(1, "things", "CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL)"),
    Migration(2, "things.note", "ALTER TABLE things ADD COLUMN note TEXT"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_schema"))


@pytest.fixture
async def db(db_url: str | None, tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(db_url, tmp_path / "t.sqlite3")
    yield database
    await database.close()


async def test_migrations_apply_once(db: Database) -> None:
    assert await migrate(db, "svc", MIGRATIONS) == 2
    assert await migrate(db, "svc", MIGRATIONS) == 2
    rows = await db.fetch("SELECT version, name FROM schema_migrations WHERE service = $1", "svc")
    assert sorted((r["version"], r["name"]) for r in rows) == [(1, "things"), (2, "things.note")]


async def test_placeholders_upsert_and_conflicts(db: Database) -> None:
    await migrate(db, "svc", MIGRATIONS)
    sql = "INSERT INTO things (id, n) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"
    await db.executemany(sql, [("a", 1), ("b", 2), ("a", 9)])
    await db.execute("UPDATE things SET note = $2 WHERE id = $1", "b", "second")
    rows = await db.fetch("SELECT id, n, note FROM things ORDER BY id")
    assert [(r["id"], r["n"], r["note"]) for r in rows] == [("a", 1, None), ("b", 2, "second")]
    assert await db.fetchval("SELECT count(*) FROM things WHERE n > $1", 1) == 1


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    await migrate(db, "svc", MIGRATIONS)

    async def insert_then_fail() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO things (id, n) VALUES ($1, $2)", "x", 1)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await insert_then_fail()
    assert await db.fetchval("SELECT count(*) FROM things") == 0
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO things (id, n) VALUES ($1, $2)", "y", 2)
        assert await tx.fetchval("SELECT n FROM things WHERE id = $1", "y") == 2
    assert await db.fetchval("SELECT count(*) FROM things") == 1


async def test_bad_database_url_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        await open_database("mysql://x", tmp_path / "x")


async def test_a_cancelled_transaction_does_not_wedge_the_next_one(db: Database) -> None:
    """A cancel that lands while BEGIN (or ROLLBACK) runs in the worker thread leaves the
    connection inside a transaction; the next user must still get a clean one."""
    import asyncio

    await migrate(db, "svc", MIGRATIONS)

    async def writer(row_id: str) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO things (id, n) VALUES ($1, $2)", row_id, 1)

    for attempt in range(30):
        task = asyncio.create_task(writer(f"lost-{attempt}"))
        for _ in range(attempt % 4):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await writer("kept")
    rows = await db.fetch("SELECT id FROM things WHERE id = $1", "kept")
    assert [r["id"] for r in rows] == ["kept"]
