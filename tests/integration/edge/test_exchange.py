"""The edge's multiplexed router calls (RouterService.Exchange) against real grpc.aio
servers on loopback: the same answers, errors, trailers, deadlines and cancellation as
the unary calls, and what happens when a router drains or dies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import pytest

from freeway.router.v1 import router_pb2, router_pb2_grpc
from services.edge.exchange import RouterCalls
from services.shared.channels import channel
from services.shared.errors import RETRY_AFTER_TRAILER
from services.shared.server import RunningServer
from tests.integration.edge.fakes import Failure, FakeRouter, serve_router


def request(text: str, rid: str = "") -> router_pb2.CompletionRequest:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    return router_pb2.CompletionRequest(body=json.dumps(body), request_id=rid)


class Served:
    def __init__(self, router: FakeRouter, server: RunningServer) -> None:
        self.router, self.server = router, server

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture
async def routers() -> AsyncIterator[list[Served]]:
    served: list[Served] = []
    for _ in range(2):
        router = FakeRouter()
        served.append(Served(router, await serve_router(router)))
    yield served
    for s in served:
        await s.server.stop(0)


def calls_to(address: str, lanes: int = 1) -> tuple[grpc.aio.Channel, RouterCalls]:
    """As the edge builds them: a stub per listed replica."""
    chan = channel(address)
    replicas = address.split(",")
    stubs = [router_pb2_grpc.RouterServiceStub(channel(a)) for a in replicas]
    return chan, RouterCalls(router_pb2_grpc.RouterServiceStub(chan), lanes, stubs)


def text_of(reply: router_pb2.CompletionResponse) -> str:
    return str(json.loads(reply.body)["choices"][0]["message"]["content"])


async def test_concurrent_calls_each_get_their_own_answer(routers: list[Served]) -> None:
    chan, calls = calls_to(routers[0].address)
    replies = await asyncio.gather(
        *(calls.Complete(request(f"n{i}", f"rid-{i}"), timeout=10) for i in range(200))
    )
    assert [text_of(r) for r in replies] == [f"echo: n{i}" for i in range(200)]
    seen = {s.request_id for s in routers[0].router.seen}
    assert seen == {f"rid-{i}" for i in range(200)}  # each call kept its request id
    await chan.close()


async def test_an_error_keeps_its_status_message_and_trailers(routers: list[Served]) -> None:
    routers[0].router.failure = Failure(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "every candidate is rate limited",
        trailing=((RETRY_AFTER_TRAILER, "7"),),
    )
    chan, calls = calls_to(routers[0].address)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await calls.Complete(request("x"), timeout=10)
    unary = router_pb2_grpc.RouterServiceStub(chan)
    with pytest.raises(grpc.aio.AioRpcError) as direct:
        await unary.Complete(request("x"), timeout=10)
    for exc in (caught.value, direct.value):
        assert exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert exc.details() == "every candidate is rate limited"
        assert (RETRY_AFTER_TRAILER, "7") in tuple(exc.trailing_metadata() or ())
    await chan.close()


async def test_a_crash_is_internal_with_the_request_id_only(routers: list[Served]) -> None:
    routers[0].router.crash = True
    chan, calls = calls_to(routers[0].address)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await calls.Complete(request("x", "rid-crash"), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error (request id rid-crash)"
    await chan.close()


async def test_the_deadline_ends_the_call_on_both_sides(routers: list[Served]) -> None:
    routers[0].router.delay_s = 5
    chan, calls = calls_to(routers[0].address)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await calls.Complete(request("slow"), timeout=0.3)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    routers[0].router.delay_s = 0
    assert text_of(await calls.Complete(request("after"), timeout=10)) == "echo: after"
    await chan.close()


async def test_a_stream_arrives_in_order_and_ends(routers: list[Served]) -> None:
    chan, calls = calls_to(routers[0].address)
    call = calls.CompleteStream(request("one two three"), timeout=10)
    texts = []
    while (chunk := await call.read()) is not grpc.aio.EOF:
        for event in chunk.events:
            choices = json.loads(event)["choices"]
            texts.append(choices[0]["delta"].get("content", "") if choices else "")
    assert "".join(texts) == "echo: one two three"
    assert await call.read() is grpc.aio.EOF
    await chan.close()


async def test_cancelling_a_stream_cancels_it_in_the_router(routers: list[Served]) -> None:
    routers[0].router.chunk_delay_s = 1.0
    chan, calls = calls_to(routers[0].address)
    call = calls.CompleteStream(request("a b c d e f"), timeout=30)
    first = await call.read()
    assert first is not grpc.aio.EOF
    call.cancel()
    await asyncio.wait_for(routers[0].router.cancelled.wait(), 5)
    # the stream (lane) goes on serving other calls
    assert text_of(await calls.Complete(request("still"), timeout=10)) == "echo: still"
    await chan.close()


async def test_a_stream_error_after_chunks_reads_as_unary(routers: list[Served]) -> None:
    routers[0].router.failure = Failure(grpc.StatusCode.UNAVAILABLE, "provider broke", 2)
    chan, calls = calls_to(routers[0].address)
    call = calls.CompleteStream(request("one two three four"), timeout=10)
    assert await call.read() is not grpc.aio.EOF
    assert await call.read() is not grpc.aio.EOF
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "provider broke"
    await chan.close()


async def test_a_draining_router_finishes_its_calls_and_new_ones_go_elsewhere(
    routers: list[Served],
) -> None:
    first, second = routers
    first.router.delay_s = second.router.delay_s = 0.5
    chan, calls = calls_to(f"{first.address},{second.address}", lanes=1)
    started = [
        asyncio.ensure_future(calls.Complete(request(f"s{i}"), timeout=10)) for i in range(2)
    ]
    await asyncio.sleep(0.2)
    assert len(first.router.seen) == len(second.router.seen) == 1  # a lane on each
    # the first router stops as the router app does: drain its streams, then the server
    first.router.drain.start()
    stopping = asyncio.ensure_future(first.server.stop(5))
    second.router.delay_s = 0
    late = await asyncio.gather(
        *(calls.Complete(request(f"late{i}"), timeout=10) for i in range(4))
    )
    assert [text_of(r) for r in late] == [f"echo: late{i}" for i in range(4)]
    assert [text_of(await c) for c in started] == ["echo: s0", "echo: s1"]  # both answered
    assert len(first.router.seen) == 1  # nothing new reached the draining router
    await stopping
    await chan.close()


async def test_a_router_that_dies_fails_only_its_open_calls(routers: list[Served]) -> None:
    served = routers[0]
    served.router.delay_s = 5
    port = served.server.port
    chan, calls = calls_to(served.address)
    pending = asyncio.ensure_future(calls.Complete(request("doomed"), timeout=20))
    await asyncio.sleep(0.3)
    await served.server.stop(0)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pending
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    # a router back on the same port: the next call opens a new lane and is answered
    revived = FakeRouter()
    from services.shared.server import Registration, start_server

    registration = Registration(
        router_pb2_grpc.add_RouterServiceServicer_to_server,
        revived,
        "freeway.router.v1.RouterService",
    )
    served.server = await start_server("fake-router", f"127.0.0.1:{port}", [registration])
    reply = None
    for _ in range(50):
        try:
            reply = await calls.Complete(request("again"), timeout=2)
            break
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.1)
    assert reply is not None
    assert text_of(reply) == "echo: again"
    await chan.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_calls_whose_stream_never_got_through_wait_for_a_router() -> None:
    from services.shared.server import Registration, start_server

    port = _free_port()
    chan, calls = calls_to(f"127.0.0.1:{port}")
    pending = asyncio.ensure_future(calls.Complete(request("early"), timeout=10))
    await asyncio.sleep(0.3)  # refused: nothing listens yet, so no call can have started
    router = FakeRouter()
    registration = Registration(
        router_pb2_grpc.add_RouterServiceServicer_to_server,
        router,
        "freeway.router.v1.RouterService",
    )
    server = await start_server("fake-router", f"127.0.0.1:{port}", [registration])
    try:
        assert text_of(await pending) == "echo: early"
        assert len(router.seen) == 1  # sent once more, and run once
    finally:
        await server.stop(0)
        await chan.close()


async def test_with_no_router_at_all_a_call_fails_unavailable() -> None:
    chan, calls = calls_to(f"127.0.0.1:{_free_port()}")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await calls.Complete(request("nobody"), timeout=20)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    await chan.close()
