"""A minimal Redis client for one command at a time, on one connection (RESP2).

The edge's admission ledger sends one script call at a time per process (see
`ratelimit`), on every request: through redis-py's asyncio client a call costs ~190 µs of
CPU here, through this ~35 µs. It speaks only what the ledger needs — connect (TLS for
rediss://, unix sockets, AUTH, SELECT), send a command, read its reply — and reconnects
on the next call after any failure. Every call has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

Reply = int | bytes | str | list[Any] | None


class RespError(Exception):
    """Redis answered with an error, or the connection failed (then it is closed)."""


class RespClient:
    def __init__(self, url: str, timeout_s: float = 0.5) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def call(self, *args: bytes | str | int) -> Reply:
        """Send one command and return its reply (an error reply raises RespError)."""
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout_s):
                    if self._writer is None:
                        await self._connect()
                    return await self._exchange(args)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                self._drop()
                raise RespError(
                    f"redis at {_shown(self.url)}: {exc or type(exc).__name__}"
                ) from None

    async def _exchange(self, args: tuple[bytes | str | int, ...]) -> Reply:
        if self._writer is None or self._reader is None:
            raise ConnectionError("not connected")
        self._writer.write(pack(args))
        reply: Reply | _ErrorReply = await read_reply(self._reader)
        if isinstance(reply, _ErrorReply):
            raise RespError(reply.message)
        return reply

    async def _connect(self) -> None:
        parsed = urlparse(self.url)
        query = parse_qs(parsed.query)
        if parsed.scheme == "unix":
            self._reader, self._writer = await asyncio.open_unix_connection(parsed.path)
            db = query.get("db", ["0"])[0]
        else:
            tls = ssl.create_default_context() if parsed.scheme == "rediss" else None
            host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
            self._reader, self._writer = await asyncio.open_connection(host, port, ssl=tls)
            db = (parsed.path or "/0").lstrip("/") or query.get("db", ["0"])[0]
        if parsed.password is not None:
            user = unquote(parsed.username) if parsed.username else None
            auth = (
                ("AUTH", user, unquote(parsed.password))
                if user
                else ("AUTH", unquote(parsed.password))
            )
            await self._checked(auth)
        if db != "0":
            await self._checked(("SELECT", db))

    async def _checked(self, args: tuple[Any, ...]) -> None:
        try:
            await self._exchange(args)
        except RespError:
            self._drop()
            raise

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def close(self) -> None:
        async with self._lock:
            writer = self._writer
            self._drop()
            if writer is not None:
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(writer.wait_closed(), self.timeout_s)


class _ErrorReply:
    def __init__(self, message: str) -> None:
        self.message = message


def pack(args: tuple[bytes | str | int, ...]) -> bytes:
    """A command as RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> Any:
    line = await reader.readuntil(b"\r\n")
    kind, body = line[:1], line[1:-2]
    if kind == b":":
        return int(body)
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        return _ErrorReply(body.decode(errors="replace"))
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = await reader.readexactly(size + 2)
        return data[:-2]
    if kind == b"*":
        count = int(body)
        return None if count < 0 else [await read_reply(reader) for _ in range(count)]
    raise ValueError(f"unexpected reply {line[:40]!r}")


def _shown(url: str) -> str:
    """The URL without its password (for messages)."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return url.replace(f":{parsed.password}@", ":***@", 1)
