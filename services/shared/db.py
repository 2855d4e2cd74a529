"""Storage adapters: PostgreSQL through asyncpg in production, SQLite embedded by default.

SQL is written once, in PostgreSQL's `$1` placeholder style; the SQLite adapter rewrites
`$n` to SQLite's numbered `?n`. Portable SQL only (INSERT … ON CONFLICT DO NOTHING,
RETURNING and upserts work on both). Schema changes go through versioned migrations,
recorded per service in `schema_migrations`.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg

Row = Mapping[str, Any]

_PLACEHOLDER = re.compile(r"\$(\d+)")


class Database(Protocol):
    dialect: str  # "postgresql" or "sqlite"

    async def execute(self, sql: str, *args: Any) -> None: ...
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...
    def transaction(self) -> Any: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # portable SQL; use `sqlite` / `postgresql` to override per dialect
    sqlite: str = ""
    postgresql: str = ""

    def for_dialect(self, dialect: str) -> str:
        return getattr(self, dialect) or self.sql


class PostgresQueries:
    """The query surface over an asyncpg pool or one connection (inside a transaction)."""

    dialect = "postgresql"

    def __init__(self, target: asyncpg.Pool | asyncpg.Connection) -> None:
        self.target = target

    async def execute(self, sql: str, *args: Any) -> None:
        await self.target.execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.target.executemany(sql, list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self.target.fetch(sql, *args)]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.target.fetchval(sql, *args)


class PostgresDatabase(PostgresQueries):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.pool = pool

    @classmethod
    async def connect(cls, url: str, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, timeout=10)
        return cls(pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresQueries]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield PostgresQueries(conn)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.pool.close(), timeout=5)
        except TimeoutError:
            self.pool.terminate()


class SqliteDatabase:
    """SQLite on one worker thread (SQLite serialises writers anyway); WAL for readers."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, path: str) -> SqliteDatabase:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = cls(path)
        await db._run(db._open)
        return db

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged write (a usage batch) must survive a power cut, not just a crash.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _c(self) -> sqlite3.Connection:
        assert self._conn is not None, "SqliteDatabase used before connect()"
        return self._conn

    @staticmethod
    def _sql(sql: str) -> str:
        return _PLACEHOLDER.sub(r"?\1", sql)

    def _settled(self) -> sqlite3.Connection:
        """The connection, outside any transaction. A transaction whose task was cancelled
        may have left before its ROLLBACK ran; what it wrote was never acknowledged."""
        conn = self._c()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return conn

    async def execute(self, sql: str, *args: Any) -> None:
        async with self._lock:
            await self._run(lambda: self._settled().execute(self._sql(sql), args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._lock:
            await self._run(self._executemany, self._sql(sql), list(rows))

    def _executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        conn = self._settled()
        conn.execute("BEGIN")
        try:
            conn.executemany(sql, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._lock:
            rows = await self._run(lambda: self._settled().execute(self._sql(sql), args).fetchall())
        return [dict(r) for r in rows]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return next(iter(rows[0].values())) if rows else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        async with self._lock:
            await self._run(lambda: self._settled().execute("BEGIN IMMEDIATE"))
            try:
                yield SqliteTransaction(self)
            except BaseException:
                await self._run(self._c().execute, "ROLLBACK")
                raise
            await self._run(self._c().execute, "COMMIT")

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._run(self._conn.close)
                self._conn = None
        self._pool.shutdown(wait=True)


class SqliteTransaction:
    """Queries inside an open SQLite transaction (the database lock is already held)."""

    dialect = "sqlite"

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def execute(self, sql: str, *args: Any) -> None:
        await self.db._run(self.db._c().execute, self.db._sql(sql), args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.db._run(self.db._c().executemany, self.db._sql(sql), list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        conn = self.db._c()
        rows = await self.db._run(lambda: conn.execute(self.db._sql(sql), args).fetchall())
        return [dict(r) for r in rows]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return next(iter(rows[0].values())) if rows else None


async def open_database(url: str | None, default_sqlite: Path) -> Database:
    """PostgreSQL for postgres(ql)://…, else SQLite at sqlite:///path or `default_sqlite`."""
    if url and url.startswith(("postgres://", "postgresql://")):
        return await PostgresDatabase.connect(url)
    if url and url.startswith("sqlite:///"):
        return await SqliteDatabase.connect(url.removeprefix("sqlite:///"))
    if url:
        raise ValueError(f"DATABASE_URL: expected postgresql://… or sqlite:///…, got {url!r}")
    return await SqliteDatabase.connect(str(default_sqlite))


async def migrate(db: Database, service: str, migrations: Sequence[Migration]) -> int:
    """Apply the migrations newer than what `service` has recorded; return the version."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " service TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
        " PRIMARY KEY (service, version))"
    )
    async with db.transaction() as tx:
        if db.dialect == "postgresql":
            # Replicas starting together must not race each other through the same migration.
            await tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{service}")
        done = {
            r["version"]
            for r in await tx.fetch(
                "SELECT version FROM schema_migrations WHERE service = $1", service
            )
        }
        for m in sorted(migrations, key=lambda m: m.version):
            if m.version in done:
                continue
            for statement in _statements(m.for_dialect(db.dialect)):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (service, version, name) VALUES ($1, $2, $3)",
                service,
                m.version,
                m.name,
            )
    return max((m.version for m in migrations), default=0)


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
