"""`python -m services.simulator [--addr 127.0.0.1[:8090]] [--port 8090] [--no-record]`: serve
every simulated provider on one port until SIGTERM. Script it and read what it received over
HTTP under /_simulator/ (see services/simulator/admin.py)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from services.simulator.server import Simulator


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.simulator", description=__doc__)
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
    async with Simulator(args.addr, args.port, record=not args.no_record) as sim:
        names = ", ".join(f"{n} {sim.base_url(n)}" for n in sim.providers)
        print(f"simulator listening on {sim.url} ({names})", flush=True)
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
