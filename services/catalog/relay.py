"""RefreshProvider on any replica: a standby cannot poll (only the leader does), so it
asks the leader over PostgreSQL NOTIFY and waits for the answer.

A request is `{"id", "name"}` on REQUEST_CHANNEL; every replica hears it, and only the one
that leads answers, with `{"id", "status", "message", "field"}` on ANSWER_CHANNEL once its
poll is stored (status "OK", or the name of the error it raised). The asker waits for the
answer with its id, for a bounded time: no answer means no replica leads right now.

Each replica listens on a dedicated connection (kept open, re-opened when it drops) and
sends its notices through the shared pool, so concurrent requests never share a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import asyncpg

from services.catalog.leadership import CONNECTION_ERRORS, close_connection
from services.shared.db import Database

log = logging.getLogger("freeway.catalog")

REQUEST_CHANNEL = "freeway_catalog_refresh"
ANSWER_CHANNEL = "freeway_catalog_refreshed"
OK = "OK"


@dataclass(frozen=True)
class Answer:
    """The leader's answer: status OK, or a FreewayError's status name, message and field."""

    status: str
    message: str = ""
    field: str = ""


# Answers a request for a provider's poll; None when this replica does not lead.
Handler = Callable[[str], Awaitable[Answer | None]]


class NoAnswer(Exception):
    """Nobody answered in time (no replica leads, or the relay is not connected)."""


class Relay(Protocol):
    async def run(self, handle: Handler) -> None:
        """Listen for requests (until cancelled), answering each with `handle`."""
        ...

    async def ask(self, name: str, timeout_s: float) -> Answer:
        """Ask the leader to poll `name`; NoAnswer when none answers within `timeout_s`."""
        ...


class PgRelay:
    """Requests and answers as PostgreSQL notifications (channels are per database, so
    the payload carries the schema: deployments sharing a database do not mix)."""

    def __init__(self, url: str, db: Database, retry_s: float = 5.0) -> None:
        self.url = url
        self.db = db
        self.retry_s = retry_s
        self.connected = asyncio.Event()
        self._scope = ""
        self._waiting: dict[str, asyncio.Future[Answer]] = {}
        self._answering: set[asyncio.Task[None]] = set()

    async def run(self, handle: Handler) -> None:
        try:
            while True:
                try:
                    await self._session(handle)
                except CONNECTION_ERRORS as exc:
                    log.warning("refresh relay connection lost: %s: %s", type(exc).__name__, exc)
                self.connected.clear()
                await asyncio.sleep(self.retry_s)
        finally:
            for task in list(self._answering):
                task.cancel()
            await asyncio.gather(*self._answering, return_exceptions=True)

    async def _session(self, handle: Handler) -> None:
        conn = await asyncpg.connect(self.url, timeout=10)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            self._scope = str(await conn.fetchval("SELECT current_schema()"))
            await conn.add_listener(REQUEST_CHANNEL, self._requested(handle))
            await conn.add_listener(ANSWER_CHANNEL, self._answered)
            self.connected.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self.retry_s)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1")  # notices a dead connection promptly
            raise ConnectionError("refresh relay connection closed")
        finally:
            self.connected.clear()
            await close_connection(conn)

    def _requested(self, handle: Handler) -> Callable[..., None]:
        def on_request(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            request = self._decode(payload)
            if request is None or not isinstance(request.get("name"), str):
                return
            task = asyncio.create_task(self._answer(handle, str(request["id"]), request["name"]))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

        return on_request

    async def _answer(self, handle: Handler, request_id: str, name: str) -> None:
        try:
            answer = await handle(name)
        except Exception:  # a bug guard: the asker still gets an answer
            log.exception("refresh of %s for another replica crashed", name)
            answer = Answer("INTERNAL", "the leader failed to poll; see its log")
        if answer is None:
            return
        try:
            await self._notify(ANSWER_CHANNEL, {"id": request_id, **asdict(answer)})
        except CONNECTION_ERRORS as exc:
            log.warning("could not answer a refresh of %s: %s", name, exc)

    def _answered(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        answer = self._decode(payload)
        if answer is None:
            return
        waiting = self._waiting.get(str(answer["id"]))
        if waiting is not None and not waiting.done():
            waiting.set_result(
                Answer(
                    str(answer.get("status", "")),
                    str(answer.get("message", "")),
                    str(answer.get("field", "")),
                )
            )

    def _decode(self, payload: str) -> dict[str, Any] | None:
        """The notice as a dict, if it is well formed and meant for this deployment."""
        try:
            data = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("scope") != self._scope or "id" not in data:
            return None
        return data

    async def ask(self, name: str, timeout_s: float) -> Answer:
        request_id = uuid.uuid4().hex
        waiting: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiting
        try:
            async with asyncio.timeout(timeout_s):
                await self.connected.wait()  # its answer would go unheard otherwise
                await self._notify(REQUEST_CHANNEL, {"id": request_id, "name": name})
                return await waiting
        except TimeoutError:
            raise NoAnswer(f"no catalog replica answered within {timeout_s:g}s") from None
        except CONNECTION_ERRORS as exc:
            raise NoAnswer(f"the request could not be sent: {exc}") from None
        finally:
            del self._waiting[request_id]

    async def _notify(self, channel: str, payload: dict[str, Any]) -> None:
        text = json.dumps({**payload, "scope": self._scope}, separators=(",", ":"))
        await self.db.execute("SELECT pg_notify($1, $2)", channel, text)
