"""``freeway catalog parse|diff``: how recorded model-list bodies are understood.

    freeway catalog parse FILE... [--format NAME] [--provider NAME] [--prices PATH]...
                                  [--free-mode MODE] [--allow PATTERN]... [--extra]
    freeway catalog diff OLD NEW  [--format NAME] [--provider NAME] [--prices PATH]...

``parse`` prints one JSON object per model (stdout, JSON lines) and a one-line summary per
file on stderr (format, generic or not, model and free counts, warnings). ``diff`` prints one
JSON object per change between two bodies. The provider name defaults to the folder after
``providers/`` in the path (``…/providers/groq/…`` → ``groq``), else the detected format.
Local-runtime formats (Ollama, llama.cpp, LM Studio) use the ``local`` free mode unless
``--free-mode`` says otherwise. Exit status: 0 ok, 1 when a file could not be read or parsed
(the others are still printed), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from services.catalog.delta import Change, diff
from services.catalog.formats import FORMATS, LOCAL_FORMATS, ParseError, detect_format, parse_models
from services.catalog.freeness import MODES, FreePolicy, classify
from services.catalog.pricing import PriceCatalogue, PricingError, combine, enrich
from services.catalog.pricing import load_price_catalogue as load_prices
from services.catalog.records import ModelRecord
from services.catalog.serial import record_to_dict


class CliError(Exception):
    """A file the command could not use; the message names it."""


def main(argv: list[str]) -> int:
    """Run ``parse`` or ``diff``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse reports usage errors by exiting
        return int(exc.code or 0)
    try:
        prices = _load_catalogues(args.prices)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = _parse_files if args.command == "parse" else _diff_files
    try:
        return command(args, prices, sys.stdout, sys.stderr)
    except BrokenPipeError:  # e.g. piped into `head`: the reader has all it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's flush quiet
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freeway catalog", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    parse = commands.add_parser("parse", help="print the normalised records of model-list bodies")
    parse.add_argument("files", nargs="+", metavar="FILE")
    parse.add_argument("--extra", action="store_true", help="include unmapped provider fields")
    changes = commands.add_parser("diff", help="print the changes between two model-list bodies")
    changes.add_argument("old", metavar="OLD")
    changes.add_argument("new", metavar="NEW")
    for sub in (parse, changes):
        sub.add_argument("--format", default="auto", choices=("auto", *FORMATS))
        sub.add_argument("--provider", default="", help="provider name used in model ids")
        sub.add_argument(
            "--prices",
            action="append",
            default=[],
            metavar="PATH",
            help="LiteLLM JSON or models.dev tree/api.json for unpriced models",
        )
        sub.add_argument("--free-mode", choices=MODES, default=None)
        sub.add_argument(
            "--allow",
            action="append",
            default=[],
            metavar="PATTERN",
            help="operator allow-list entry (id or glob)",
        )
    return parser


def _parse_files(
    args: argparse.Namespace, prices: PriceCatalogue | None, out: TextIO, err: TextIO
) -> int:
    status = 0
    for name in args.files:
        try:
            records = _records(Path(name), args, prices, err)
        except CliError as exc:
            print(f"error: {exc}", file=err)
            status = 1
            continue
        for record in records:
            out.write(json.dumps(_record_json(record, args.extra), ensure_ascii=False) + "\n")
    return status


def _diff_files(
    args: argparse.Namespace, prices: PriceCatalogue | None, out: TextIO, err: TextIO
) -> int:
    try:
        old = _records(Path(args.old), args, prices, err)
        new = _records(Path(args.new), args, prices, err)
    except CliError as exc:
        print(f"error: {exc}", file=err)
        return 1
    changes = diff(old, new)
    for change in changes:
        out.write(json.dumps(_change_json(change), ensure_ascii=False) + "\n")
    print(f"{len(changes)} change(s)", file=err)
    return 0


def _records(
    path: Path, args: argparse.Namespace, prices: PriceCatalogue | None, err: TextIO
) -> list[ModelRecord]:
    """Parse, enrich and classify one body file, reporting a summary line on ``err``."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        fmt = args.format if args.format != "auto" else detect_format(body)
        provider = args.provider or provider_from_path(path) or fmt
        result = parse_models(body, provider, args.format)
    except ParseError as exc:
        raise CliError(f"{path}: {exc}") from None
    policy = FreePolicy(mode=_mode(args.free_mode, result.format), allow=tuple(args.allow))
    records = [classify(enrich(r, prices) if prices else r, policy) for r in result.records]
    _summary(path, result.format, result.generic, records, result.warnings, err)
    return records


def provider_from_path(path: Path) -> str:
    """The folder after ``providers`` in the path ('' when there is none)."""
    parts = path.resolve().parts
    for index, part in enumerate(parts[:-2]):
        if part == "providers":
            return parts[index + 1]
    return ""


def _mode(requested: str | None, fmt: str) -> str:
    if requested:
        return requested
    return "local" if fmt in LOCAL_FORMATS else "price"


def _summary(
    path: Path,
    fmt: str,
    generic: bool,
    records: Sequence[ModelRecord],
    warnings: Sequence[str],
    err: TextIO,
) -> None:
    free = sum(r.is_free for r in records)
    unpriced = sum(not r.priced for r in records)
    kind = "generic fallback" if generic else "format"
    print(
        f"{path}: {kind} {fmt}, {len(records)} model(s), {free} free, {unpriced} unpriced",
        file=err,
    )
    for warning in warnings:
        print(f"{path}: warning: {warning}", file=err)


def _record_json(record: ModelRecord, with_extra: bool) -> dict[str, Any]:
    data = record_to_dict(record)
    if not with_extra:
        data.pop("extra", None)
    return data


def _change_json(change: Change) -> dict[str, Any]:
    data: dict[str, Any] = {"type": change.type.value, "model_id": change.model_id}
    if change.changed_fields:
        old = record_to_dict(change.old) if change.old else {}
        new = record_to_dict(change.new) if change.new else {}
        data["changed_fields"] = list(change.changed_fields)
        data["old"] = {f: old.get(f) for f in change.changed_fields}
        data["new"] = {f: new.get(f) for f in change.changed_fields}
    elif change.new is not None:
        data["new"] = _record_json(change.new, with_extra=False)
    elif change.old is not None:
        data["old"] = _record_json(change.old, with_extra=False)
    data["lost_free"] = change.lost_free
    return data


def _load_catalogues(paths: Sequence[str]) -> PriceCatalogue | None:
    catalogues: list[PriceCatalogue] = []
    for path in paths:
        try:
            catalogues.append(load_prices(path))
        except (PricingError, OSError) as exc:
            raise CliError(f"--prices {path}: {exc}") from None
    return combine(*catalogues) if catalogues else None


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
