"""`freeway`: one command for the suite and its tools.

freeway run [--tls]         the whole suite behind Envoy (Ctrl-C stops it)
freeway demo [--tls]        the same against the provider simulator, plus one routed completion
freeway token               a new service token (FREEWAY_SERVICE_TOKEN) for compose / Kubernetes
freeway catalog parse|diff  how provider model lists are understood
freeway router fit          refit the complexity scorer's weights (also on usage: --from-usage)
freeway score               score JSON-line prompts from stdin
freeway keys                create | list | revoke | rotate API keys, set team limits
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from services.shared.config import ConfigError


def _run(args: argparse.Namespace) -> int:
    from services.local.commands import run_suite

    return asyncio.run(run_suite(args.tls))


def _demo(args: argparse.Namespace) -> int:
    from services.local.commands import run_demo

    return asyncio.run(run_demo(args.prompt, args.tls))


def _token(args: argparse.Namespace) -> int:
    from services.shared.settings import new_token

    print(new_token())
    return 0


def _delegate(module: str) -> Callable[[list[str]], int]:
    def call(argv: list[str]) -> int:
        import importlib

        main: Callable[[list[str]], int] = importlib.import_module(module).main
        return main(argv)

    return call


# Subcommands whose arguments belong to another module's own parser.
DELEGATES: dict[str, tuple[str, str]] = {
    "catalog": ("services.catalog.cli", "parse and diff recorded model lists"),
    "providers": ("services.catalog.providers_cli", "import / export the providers file as CSV"),
    "router": ("scorer.cli", "fit weights (on DATA… or --from-usage SOURCE) or eval them"),
    "score": ("scorer.score_lines", "score JSON-line prompts from stdin"),
    "keys": ("services.edge.keys_cli", "API keys: create | list | revoke | rotate, team limits"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATES:
        return _delegate(DELEGATES[argv[0]][0])(argv[1:])
    parser = argparse.ArgumentParser(
        prog="freeway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tls_help = "serve HTTPS (a development certificate unless FREEWAY_ENVOY_TLS_CERT is set)"
    run = sub.add_parser("run", help="start the whole suite")
    run.add_argument("--tls", action="store_true", help=tls_help)
    run.set_defaults(func=_run)
    demo = sub.add_parser("demo", help="the suite against the provider simulator")
    demo.add_argument("--prompt", default="In one sentence, what is an LLM gateway?")
    demo.add_argument("--tls", action="store_true", help=tls_help)
    demo.set_defaults(func=_demo)
    sub.add_parser("token", help="print a new service token").set_defaults(func=_token)
    for name, (_, help_text) in DELEGATES.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"freeway: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
