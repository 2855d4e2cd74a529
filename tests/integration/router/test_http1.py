"""The router's lean HTTP/1.1 client against a real socket server on loopback that answers
with exactly the bytes each test scripts (framings, splits, closes, faults)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable

import pytest
import uvloop

from services.router.http1 import Http1Client, HttpError, Target

Script = Callable[[int], list[bytes]]  # request number on the connection -> writes


class Server:
    """Reads each request (head + Content-Length body), answers with the script's writes
    (a `b""` write means: close the connection now)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                for part in self.script(served):
                    if part == b"":
                        writer.close()
                        return
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0)
                served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], asyncio.Future[Server]]]:
    servers: list[Server] = []

    async def start(script: Script) -> Server:
        server = Server(script)
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        servers.append(server)
        return server

    yield start  # type: ignore[misc]
    for s in servers:
        assert s.server is not None
        s.server.close()


def ok(body: bytes, extra: bytes = b"") -> list[bytes]:
    return [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), extra) + body]


async def post(client: Http1Client, server: Server, body: bytes = b'{"x":1}') -> tuple[int, bytes]:
    target = Target(f"http://127.0.0.1:{server.port}/v1/chat/completions")
    head = target.head({"Content-Type": "application/json", "Authorization": "Bearer k"})
    response = await client.post(target, head, body, 2.0, 2.0)
    try:
        data, cut = await response.read(1 << 24, 2.0)
        assert not cut
        return response.status, data
    finally:
        response.release()


async def test_content_length_and_keep_alive(serve: Callable[..., asyncio.Future[Server]]) -> None:
    server = await serve(lambda n: ok(b'{"n":%d}' % n))
    client = Http1Client()
    for n in range(3):
        assert await post(client, server) == (200, b'{"n":%d}' % n)
    assert server.connections == 1  # one keep-alive connection for all three
    request = server.requests[0]
    assert request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Host: 127.0.0.1:%d\r\n" % server.port in request
    assert b"Authorization: Bearer k\r\n" in request
    assert request.endswith(b'Content-Length: 7\r\n\r\n{"x":1}')
    await client.close()


async def test_chunked_split_at_every_byte(serve: Callable[..., asyncio.Future[Server]]) -> None:
    wire = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    server = await serve(lambda n: [wire[i : i + 1] for i in range(len(wire))])
    client = Http1Client()
    assert await post(client, server) == (200, b"hello world")
    assert await post(client, server) == (200, b"hello world")  # reused after the trailers
    assert server.connections == 1
    await client.close()


async def test_body_read_to_close(serve: Callable[..., asyncio.Future[Server]]) -> None:
    server = await serve(
        lambda n: [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ", b"eof", b""]
    )
    client = Http1Client()
    assert await post(client, server) == (200, b"until eof")
    assert await post(client, server) == (200, b"until eof")
    assert server.connections == 2  # never reused
    await client.close()


async def test_gzip_body_is_decoded(serve: Callable[..., asyncio.Future[Server]]) -> None:
    packed = gzip.compress(b'{"big":"' + b"a" * 5000 + b'"}')
    server = await serve(lambda n: ok(packed, b"Content-Encoding: gzip\r\n"))
    client = Http1Client()
    status, body = await post(client, server)
    assert status == 200
    assert body == b'{"big":"' + b"a" * 5000 + b'"}'
    await client.close()


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    # The server answers once per connection, then closes it without saying so.
    server = await serve(lambda n: ok(b"once") if n == 0 else [b""])
    client = Http1Client()
    assert await post(client, server) == (200, b"once")
    await asyncio.sleep(0.05)
    assert await post(client, server) == (200, b"once")  # a fresh connection, not an error
    assert server.connections >= 2
    await client.close()


async def test_large_body_with_flow_control(serve: Callable[..., asyncio.Future[Server]]) -> None:
    big = b"z" * (3 << 20)
    server = await serve(lambda n: ok(big))
    client = Http1Client()
    assert await post(client, server) == (200, big)
    await client.close()


async def test_no_body_statuses(serve: Callable[..., asyncio.Future[Server]]) -> None:
    server = await serve(lambda n: [b"HTTP/1.1 204 No Content\r\n\r\n"])
    client = Http1Client()
    assert await post(client, server) == (204, b"")
    assert await post(client, server) == (204, b"")
    assert server.connections == 1
    await client.close()


@pytest.mark.parametrize(
    ("writes", "kind"),
    [
        ([b"SMTP ready\r\n\r\n"], "malformed"),
        ([b"HTTP/1.1 abc OK\r\n\r\n"], "malformed"),
        ([b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"], "malformed"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", b""], "closed"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], "malformed"),
        ([b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx"], "malformed"),
        (
            [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Encoding: gzip\r\n\r\nnotgz"],
            "malformed",
        ),
        ([b""], "closed"),
    ],
)
async def test_faults_are_http_errors(
    serve: Callable[..., asyncio.Future[Server]], writes: list[bytes], kind: str
) -> None:
    server = await serve(lambda n: writes)
    client = Http1Client()
    with pytest.raises(HttpError) as caught:
        await post(client, server)
    assert caught.value.kind == kind
    await client.close()


async def test_a_silent_server_times_out(serve: Callable[..., asyncio.Future[Server]]) -> None:
    server = await serve(lambda n: [])
    client = Http1Client()
    target = Target(f"http://127.0.0.1:{server.port}/v1/chat/completions")
    with pytest.raises(TimeoutError):
        await client.post(target, target.head({}), b"{}", 1.0, 0.2)
    await client.close()


async def test_connect_refused_is_a_connect_error() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    target = Target(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(HttpError) as caught:
        await Http1Client().post(target, target.head({}), b"{}", 1.0, 1.0)
    assert caught.value.kind == "connect"


def test_targets_and_heads() -> None:
    assert Target("https://api.groq.com/openai/v1/chat/completions").authority == "api.groq.com"
    target = Target("http://[::1]:8080/v1/chat/completions?x=1")
    assert (target.host, target.port, target.path) == ("::1", 8080, "/v1/chat/completions?x=1")
    assert target.authority == "[::1]:8080"
    with pytest.raises(ValueError, match="line break"):
        target.head({"X-Bad": "a\r\nInjected: 1"})
    with pytest.raises(ValueError, match="not an http"):
        Target("ftp://example.com/")


def test_on_uvloop_as_the_router_runs() -> None:
    """uvloop's transports are not asyncio's classes: the same exchanges on its loop."""

    async def scenario() -> None:
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        server = Server(lambda n: [chunked[:20], chunked[20:]] if n % 2 else ok(b"plain"))
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        client = Http1Client()
        assert await post(client, server) == (200, b"plain")
        assert await post(client, server) == (200, b"abc")
        assert server.connections == 1
        await client.close()
        server.server.close()

    uvloop.run(scenario())
