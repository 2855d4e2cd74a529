"""A lean HTTP/1.1 client for the providers' chat endpoints: pooled keep-alive connections,
one asyncio Protocol per connection, and nothing a chat POST does not need.

Why not aiohttp's client: per request it builds a ClientRequest, merges headers and
cookies, creates a ClientResponse with its own stream reader and timers, and runs trace
hooks — about as much CPU as the whole rest of the router's work for a small completion.
This client writes one pre-built request head, parses the response head once, and hands
the body on as the bytes arrive (Content-Length, chunked, or read to close; gzip and
deflate decoded), so the hot path pays only for the bytes.

What it does not do, on purpose: redirects (a provider API that redirects is refused),
proxies from the environment, cookies, HTTP/2, 100-continue. Each call is one attempt; a
failure is an `HttpError` (connect, closed, malformed, too large) that `upstream` maps to
its own vocabulary. A pooled connection that the server closed while idle is detected
before reuse or — when the close raced the request and no byte came back — the request is
sent once more on a fresh connection (it cannot have been processed).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 << 10
_HIGH_WATER = 1 << 20  # body bytes queued before the socket is paused
IDLE_S = 15.0  # a pooled connection idle longer than this is closed, not reused


class HttpError(Exception):
    """A transport-level failure of one request."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "connect" | "closed" | "malformed"


@dataclass(frozen=True)
class Target:
    """A parsed URL and the request-head bytes that never change for it."""

    url: str
    scheme: str = field(init=False)
    host: str = field(init=False)
    port: int = field(init=False)
    path: str = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {self.url!r}")
        default = 443 if parts.scheme == "https" else 80
        object.__setattr__(self, "scheme", parts.scheme)
        object.__setattr__(self, "host", parts.hostname)
        object.__setattr__(self, "port", parts.port or default)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        object.__setattr__(self, "path", path)

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def head(self, headers: Mapping[str, str]) -> bytes:
        """`POST path HTTP/1.1` with Host and `headers`, up to (not including) the
        Content-Length line that each request adds."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {self.authority}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")


class Response:
    """A response whose head has arrived; the body follows through `read` / `iter`."""

    __slots__ = ("_conn", "_slot", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], conn: _Connection) -> None:
        self.status = status
        self.headers = headers  # lower-case names; a repeated header keeps its last value
        self._conn = conn
        self._slot: asyncio.Semaphore | None = None  # the pool slot it holds until released

    async def read(self, limit: int, timeout: float) -> tuple[bytes, bool]:
        """The body, at most `limit` bytes; True beside it when it was cut there."""
        parts: list[bytes] = []
        size = 0
        async for part in self.iter(timeout):
            parts.append(part)
            size += len(part)
            if size > limit:
                return b"".join(parts)[:limit], True
        return (parts[0] if len(parts) == 1 else b"".join(parts)), False

    async def iter(self, timeout: float) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (decoded); each wait bounded by `timeout`."""
        conn = self._conn
        while True:
            part = conn.take()
            if part is None:
                if conn.body_done:
                    return
                if conn.failure is not None:
                    raise conn.failure
                await conn.wait(timeout)
                continue
            yield part

    def release(self) -> None:
        """Back to the pool when the body was read to its end; closed otherwise. Gives the
        pool slot back (once)."""
        slot, self._slot = self._slot, None
        if slot is not None:
            self._conn.finish()
            slot.release()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a parser of response heads and bodies."""

    def __init__(self, pool: _HostPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head_waiter: asyncio.Future[Response] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.parts: collections.deque[bytes] = collections.deque()
        self.queued = 0
        self.paused = False
        self.failure: HttpError | None = None
        self.lost = False
        self.received_any = False
        self.idle_since = 0.0
        self._reset_body()

    def _reset_body(self) -> None:
        self.in_body = False
        self.body_done = False
        self.remaining = -1  # Content-Length bytes left; -1 = not length-delimited
        self.chunked = False
        self.chunk_left = 0  # bytes of the current chunk left, then its CRLF
        self.chunk_state = 0  # 0 size line, 1 data, 2 CRLF after data, 3 trailers
        self.to_close = False  # body ends when the connection does
        self.keep_alive = True
        self.decoder: zlib._Decompress | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but act as one
        self.transport = cast("asyncio.Transport", transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.in_body and not self.body_done:
            if self.to_close and self.chunk_state == 0 and self.remaining < 0:
                self._end_body()
            else:
                self._fail(HttpError("closed", "connection closed before the reply ended"))
        elif self.head_waiter is not None and not self.head_waiter.done():
            kind = "closed" if self.received_any or self.buffer else "reset"
            self._fail(HttpError(kind, "connection closed before a reply"))
        self.pool.forget(self)

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        if self.in_body:
            self._body(data)
            return
        self.buffer += data
        if self.head_waiter is None:  # bytes with no request outstanding: unusable
            self._fail(HttpError("malformed", "bytes arrived with no request outstanding"))
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                self._fail(HttpError("malformed", "response head too large"))
            return
        head = bytes(self.buffer[:end])
        rest = bytes(self.buffer[end + 4 :])
        self.buffer.clear()
        try:
            response = self._parse_head(head)
        except HttpError as exc:
            self._fail(exc)
            return
        waiter, self.head_waiter = self.head_waiter, None
        if not waiter.done():
            waiter.set_result(response)
        if rest:
            self._body(rest)

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost ends or fails the body

    # parsing
    def _parse_head(self, head: bytes) -> Response:
        lines = head.split(b"\r\n")
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
            raise HttpError("malformed", f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        try:
            status = int(status_line[1])
        except ValueError:
            raise HttpError("malformed", f"bad status code: {status_line[1][:16]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise HttpError("malformed", f"bad header line: {line[:80]!r}")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        self._reset_body()
        self.in_body = True
        http10 = status_line[0] == b"HTTP/1.0"
        connection = headers.get("connection", "").lower()
        self.keep_alive = "close" not in connection and (not http10 or "keep-alive" in connection)
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "x-gzip"):
            self.decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.decoder = zlib.decompressobj()
        elif encoding not in ("identity", ""):
            raise HttpError("malformed", f"content-encoding {encoding!r} is not supported")
        if status in (204, 304) or 100 <= status < 200:
            self._end_body()
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in headers:
            try:
                self.remaining = int(headers["content-length"])
            except ValueError:
                raise HttpError("malformed", "bad content-length") from None
            if self.remaining < 0:
                raise HttpError("malformed", "bad content-length")
            if self.remaining == 0:
                self._end_body()
        else:
            self.to_close = True
            self.keep_alive = False
        return Response(status, headers, self)

    def _body(self, data: bytes) -> None:
        if self.body_done:
            self.keep_alive = False  # bytes beyond the body: do not reuse
            return
        if self.chunked:
            self._chunked(data)
        elif self.remaining >= 0:
            if len(data) >= self.remaining:
                if len(data) > self.remaining:
                    self.keep_alive = False
                self._deliver(data[: self.remaining])
                self.remaining = 0
                self._end_body()
            else:
                self.remaining -= len(data)
                self._deliver(data)
        else:
            self._deliver(data)

    def _chunked(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        pos = 0
        size = len(buf)
        out: list[bytes] = []
        while pos < size:
            if self.chunk_state == 1:
                take = min(self.chunk_left, size - pos)
                out.append(bytes(buf[pos : pos + take]))
                pos += take
                self.chunk_left -= take
                if self.chunk_left == 0:
                    self.chunk_state = 2
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if size - pos > 4096:
                    self._fail(HttpError("malformed", "chunk size line too long"))
                    return
                break
            line = bytes(buf[pos:end])
            pos = end + 2
            if self.chunk_state == 2:
                if line:
                    self._fail(HttpError("malformed", "chunk data not followed by CRLF"))
                    return
                self.chunk_state = 0
            elif self.chunk_state == 0:
                try:
                    self.chunk_left = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self._fail(HttpError("malformed", f"bad chunk size: {line[:20]!r}"))
                    return
                self.chunk_state = 1 if self.chunk_left else 3
            elif not line:  # the blank line ending the trailers
                del buf[:pos]
                if out:
                    self._deliver(b"".join(out))
                self._end_body()
                if buf:
                    self.keep_alive = False
                return
        del buf[:pos]
        if out:
            self._deliver(out[0] if len(out) == 1 else b"".join(out))

    def _deliver(self, data: bytes) -> None:
        if self.decoder is not None:
            try:
                data = self.decoder.decompress(data)
            except zlib.error as exc:
                self._fail(HttpError("malformed", f"bad compressed body: {exc}"))
                return
        if not data:
            return
        self.parts.append(data)
        self.queued += len(data)
        if self.queued > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def _end_body(self) -> None:
        decoder, self.decoder = self.decoder, None
        if decoder is not None:
            try:
                tail = decoder.flush()
            except zlib.error:
                tail = b""
            if not decoder.eof:
                self._fail(HttpError("malformed", "compressed body ends before its end"))
                return
            if tail:
                self.parts.append(tail)
        self.body_done = True
        self._wake()

    def _fail(self, failure: HttpError) -> None:
        if self.failure is None:
            self.failure = failure
        self.keep_alive = False
        if self.head_waiter is not None and not self.head_waiter.done():
            self.head_waiter.set_exception(failure)
            self.head_waiter = None
        self._wake()
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # used by Response
    def take(self) -> bytes | None:
        if not self.parts:
            return None
        part = self.parts.popleft() if len(self.parts) == 1 else self._take_all()
        self.queued = 0 if not self.parts else self.queued - len(part)
        if self.paused and self.queued < _HIGH_WATER // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return part

    def _take_all(self) -> bytes:
        part = b"".join(self.parts)
        self.parts.clear()
        return part

    async def wait(self, timeout: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        try:
            async with asyncio.timeout(timeout):
                await waiter
        finally:
            self.waiter = None

    def finish(self) -> None:
        reusable = (
            self.body_done
            and not self.parts
            and self.keep_alive
            and self.failure is None
            and not self.lost
            and self.transport is not None
            and not self.transport.is_closing()
        )
        if reusable:
            self.in_body = False
            self.idle_since = time.monotonic()
            self.pool.put_back(self)
        else:
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.pool.forget(self)

    async def send(self, data: bytes, timeout: float) -> Response:
        assert self.transport is not None
        self.buffer.clear()
        self.received_any = False
        self.failure = None
        self.parts.clear()
        self.queued = 0
        self.head_waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        async with asyncio.timeout(timeout):
            return await self.head_waiter


class _HostPool:
    """Idle connections to one (scheme, host, port)."""

    def __init__(self, target: Target, ssl_context: ssl.SSLContext | None, limit: int) -> None:
        self.target = target
        self.ssl_context = ssl_context
        self.idle: list[_Connection] = []
        self.open: set[_Connection] = set()
        self.slots = asyncio.Semaphore(limit)

    def forget(self, conn: _Connection) -> None:
        self.open.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    def put_back(self, conn: _Connection) -> None:
        self.idle.append(conn)

    def reuse(self) -> _Connection | None:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            transport = conn.transport
            if (
                transport is None
                or transport.is_closing()
                or conn.lost
                or now - conn.idle_since > IDLE_S
            ):
                conn.close()
                continue
            return conn
        return None

    async def connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        target = self.target
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self),
                    target.host,
                    target.port,
                    ssl=self.ssl_context,
                    server_hostname=target.host if self.ssl_context is not None else None,
                )
        except TimeoutError:
            raise HttpError("connect", "connect timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError("connect", f"{type(exc).__name__}: {exc}") from None
        self.open.add(conn)
        return conn

    def close(self) -> None:
        for conn in list(self.open):
            conn.close()


class Http1Client:
    """Every provider's connections, pooled per (scheme, host, port)."""

    def __init__(self, max_per_host: int = 512, ssl_context: ssl.SSLContext | None = None) -> None:
        self.max_per_host = max_per_host
        self._ssl = ssl_context
        self._pools: dict[tuple[str, str, int], _HostPool] = {}

    def _pool(self, target: Target) -> _HostPool:
        key = (target.scheme, target.host, target.port)
        pool = self._pools.get(key)
        if pool is None:
            context = None
            if target.scheme == "https":
                context = self._ssl or ssl.create_default_context()
            pool = self._pools[key] = _HostPool(target, context, self.max_per_host)
        return pool

    async def post(
        self, target: Target, head: bytes, body: bytes, connect_timeout: float, timeout: float
    ) -> Response:
        """Send `head` (from `Target.head`) + Content-Length + `body`; the response once its
        head has arrived. The caller must `release()` it."""
        pool = self._pool(target)
        request = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        await pool.slots.acquire()
        try:
            conn = pool.reuse()
            if conn is not None:
                try:
                    return _holding(await conn.send(request, timeout), pool)
                except HttpError as exc:
                    conn.close()
                    if exc.kind != "reset":
                        raise
                    # the server closed the idle connection as we reused it: nothing was
                    # processed, so the request goes once more on a fresh connection
                except BaseException:
                    conn.close()
                    raise
            conn = await pool.connect(min(connect_timeout, timeout))
            try:
                return _holding(await conn.send(request, timeout), pool)
            except HttpError as exc:
                conn.close()
                if exc.kind == "reset":
                    raise HttpError("closed", str(exc)) from None
                raise
            except BaseException:
                conn.close()
                raise
        except BaseException:
            pool.slots.release()
            raise

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await asyncio.sleep(0)


def _holding(response: Response, pool: _HostPool) -> Response:
    response._slot = pool.slots
    return response
