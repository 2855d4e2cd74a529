"""`freeway providers import FILE.csv` / `freeway providers export`: the providers file as CSV.

Import validates every row (errors name file, line and field; good rows still convert) and
writes the TOML providers file; export writes the current providers file as CSV.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from services.shared.providers import (
    load_providers,
    providers_from_csv,
    providers_to_csv,
    providers_to_toml,
)


def _default_providers_file() -> Path:
    return Path(os.environ.get("FREEWAY_PROVIDERS_FILE", "config/providers.toml"))


def _write(text: str, out: str | None) -> None:
    if out in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)


def import_csv(args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"freeway providers: {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    providers, errors = providers_from_csv(text, args.file)
    for error in errors:
        print(f"freeway providers: {error}", file=sys.stderr)
    if providers:
        _write(providers_to_toml(providers), args.out)
    return 1 if errors else 0


def export_csv(args: argparse.Namespace) -> int:
    providers, errors = load_providers(Path(args.providers or _default_providers_file()))
    for error in errors:
        print(f"freeway providers: {error}", file=sys.stderr)
    _write(providers_to_csv(providers), args.out)
    return 1 if errors else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="freeway providers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="CSV → providers TOML")
    imp.add_argument("file")
    imp.add_argument("--out", "-o", help="TOML file to write (default: stdout)")
    imp.set_defaults(func=import_csv)
    exp = sub.add_parser("export", help="providers TOML → CSV")
    exp.add_argument("--providers", help="providers file (default: $FREEWAY_PROVIDERS_FILE)")
    exp.add_argument("--out", "-o", help="CSV file to write (default: stdout)")
    exp.set_defaults(func=export_csv)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code
