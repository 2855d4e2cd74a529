"""A container health probe: exit 0 when the service answers healthy, 1 when it does not.

    python -m services.shared.healthcheck grpc ADDR [SERVICE]   # grpc.health.v1 Check → SERVING
    python -m services.shared.healthcheck http URL              # GET → 200

compose.yaml and the Kubernetes manifests call it, so images need no grpc_health_probe or
curl. It is a one-shot process: a blocking call with a short timeout, then exit.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HEALTHY = 0
UNHEALTHY = 1
DEFAULT_TIMEOUT_S = 3.0


def grpc_status(address: str, service: str = "", timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """The serving status name grpc.health.v1 reports for `service` ("" = the whole server).

    A failed call is reported by its status code name (UNAVAILABLE, NOT_FOUND, …)."""
    with grpc.insecure_channel(address) as chan:
        stub = health_pb2_grpc.HealthStub(chan)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return str(exc.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def http_status(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """The HTTP status code of GET `url`; 0 when no response arrives."""
    # A probe targets its own container: never through an HTTP(S)_PROXY from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.shared.healthcheck")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds")
    kinds = parser.add_subparsers(dest="kind", required=True)
    grpc_cmd = kinds.add_parser("grpc", help="grpc.health.v1 Check; healthy when SERVING")
    grpc_cmd.add_argument("address", help="host:port")
    grpc_cmd.add_argument("service", nargs="?", default="", help="service name ('' = server)")
    http_cmd = kinds.add_parser("http", help="GET; healthy on 200")
    http_cmd.add_argument("url")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Probe once and return the exit code (0 healthy, 1 unhealthy, 2 bad usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.kind == "http" and not args.url.startswith(("http://", "https://")):
        parser.error(f"url: expected http(s)://…, got {args.url!r}")
    if args.kind == "grpc":
        status = grpc_status(args.address, args.service, args.timeout)
        healthy = status == "SERVING"
        target = f"{args.address} {args.service}".rstrip()
    else:
        code = http_status(args.url, args.timeout)
        status = str(code) if code else "no response"
        healthy = code == 200
        target = args.url
    if not healthy:
        print(f"unhealthy: {target}: {status}", file=sys.stderr)
    return HEALTHY if healthy else UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
