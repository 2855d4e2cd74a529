"""`python -m tests.standin [--addr 127.0.0.1[:8090]] [--port 8090] [--no-record]`: serve until
SIGTERM. Script it over HTTP: POST /_standin/script, PUT /_standin/models/<provider>,
GET /_standin/requests, GET /_standin/health (see tests/standin/server.py)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from tests.standin.server import StandIn


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.standin", description=__doc__)
    parser.add_argument("--addr", default="127.0.0.1", help="host or host:port to bind (loopback)")
    parser.add_argument("--port", type=int, default=8090, help="port, unless --addr names one")
    parser.add_argument(
        "--no-record", action="store_true", help="keep no request log (for benchmarks)"
    )
    args = parser.parse_args(argv)
    host, sep, port = args.addr.rpartition(":")
    if sep and port.isdigit():
        args.addr, args.port = host.strip("[]"), int(port)
    return args


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with StandIn(args.addr, args.port, record=not args.no_record) as standin:
        names = ", ".join(f"{n} {standin.base_url(n)}" for n in standin.providers)
        print(f"stand-in listening on {standin.url} ({names})", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))


if __name__ == "__main__":
    main()
