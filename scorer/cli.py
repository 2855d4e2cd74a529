"""``freeway router fit|eval``: fit the scorer's weights, or measure them on held-out prompts.

    freeway router fit [DATA...] [--out PATH]        # DATA defaults to data/prompts
    freeway router fit --from-usage SOURCE [--usage-weight W] [--only-usage] [--out PATH]
    freeway router eval [DATA...] [--weights PATH] [--json PATH] [--cv] [--ood]

See ``scorer.labelled`` for the DATA formats, ``scorer.usage`` for how usage rows (an
analytics gRPC address or a JSON-lines export) become labelled examples, and
``scorer.quality`` for what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from native import kernel
from native._common import DEFAULT_WEIGHTS_PATH, Weights
from scorer import usage
from scorer.fitting import (
    SPLIT_SEED,
    TEST_SHARE,
    cross_validated,
    examples_split,
    fit_weights,
    hyper_of,
    out_of_distribution,
    score_examples,
)
from scorer.labelled import DataError, Labelled, default_data, load
from scorer.quality import format_table, report_scores
from services.shared.config import ConfigError

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "router_quality.json"


def report(examples: Sequence[Labelled], weights: Weights) -> dict[str, Any]:
    """Quality of the scorer, of prompt length and of random routing, per source and pooled."""
    return report_scores(examples, score_examples(examples, weights))


def evaluate(examples: Sequence[Labelled], weights: Weights) -> dict[str, Any]:
    """The held-out test report for ``weights`` on ``examples``."""
    _, test = examples_split(examples)
    return {
        "weights_version": weights.version,
        "split": f"test = sha256('{SPLIT_SEED}' + prompt) % 100 < {TEST_SHARE}",
        "kernel": kernel.IMPLEMENTATION,
        "test": report(test, weights),
    }


# Issue 11's bar: held-out APGR of at least this much on these sets.
AIM_APGR = 0.70
AIM_SETS = ("gsm8k", "mmlu")


def _aim(table: dict[str, Any]) -> str:
    """Whether the held-out test split meets the APGR aim, said plainly."""
    test = table["test"]
    parts = [f"{s} {test[s]['scorer']['apgr']:.3f}" for s in AIM_SETS if s in test]
    met = all(test[s]["scorer"]["apgr"] >= AIM_APGR for s in AIM_SETS if s in test)
    verdict = "met" if met and parts else "NOT met"
    sets = " and ".join(AIM_SETS)
    return f"aim: held-out APGR >= {AIM_APGR:.2f} on {sets}: {verdict} ({', '.join(parts)})"


def _buckets(text: str) -> int:
    """--buckets: a power of two (the kernel hashes words into that many buckets)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"must be a power of two, got {value}")
    return value


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` atomically: a temporary file beside it, fsync'd, renamed over it, and
    the directory fsync'd. A router watching the file sees the old one or the new one,
    whole, never a half-written one, even across a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(doc, indent=1) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(staged, 0o644)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _fit_command(args: argparse.Namespace, examples: Sequence[Labelled]) -> int:
    result = fit_weights(examples, args.buckets)
    table = evaluate(examples, result.weights)
    doc = result.weights.to_json()
    doc["validation"] = table["test"]
    _write_json(args.out, doc)
    print(format_table(table["test"]))
    print(f"wrote {args.out} ({result.weights.version})")
    return 0


def _eval_command(args: argparse.Namespace, examples: Sequence[Labelled]) -> int:
    weights = kernel.load_weights(args.weights)
    table = evaluate(examples, weights)
    print(f"held-out test split ({weights.version}):")
    print(format_table(table["test"]))
    if args.cv:
        table["cross_validated"] = cross_validated(
            examples, hyper_of(weights), max(weights.hash_buckets, 1)
        )
        print(
            "5-fold out-of-fold, every prompt (same recipe, never scored by a model that saw it):"
        )
        print(format_table(table["cross_validated"]["table"]))
    if args.ood:
        table["out_of_distribution"] = out_of_distribution(
            examples, hyper_of(weights), max(weights.hash_buckets, 1)
        )
        print("out of distribution, each set scored by a model fitted on the other sets only:")
        print(format_table(table["out_of_distribution"]["table"]))
    print(_aim(table))
    _write_json(args.json, table)
    print(f"wrote {args.json}")
    return 0


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _examples(args: argparse.Namespace, data: Sequence[Path]) -> list[Labelled]:
    """The labelled prompts of DATA and, with --from-usage, the usage examples."""
    source = getattr(args, "from_usage", None)
    if source is None and getattr(args, "only_usage", False):
        raise DataError("--only-usage needs --from-usage SOURCE")
    examples: list[Labelled] = []
    if not getattr(args, "only_usage", False):
        examples += load(data)
    if source is not None:
        labelled = _usage_examples(args, source)
        print(labelled.summary())
        examples += labelled.examples
    if not examples:
        where = source if args.command == "fit" and args.only_usage else ", ".join(map(str, data))
        raise DataError(f"no labelled prompts in {where}")
    return examples


def _usage_examples(args: argparse.Namespace, source: str) -> usage.Labelled:
    from services.shared.settings import suite_settings

    suite = suite_settings()
    token = suite.service_token
    if not token and suite.service_token_file is not None:
        try:
            token = suite.service_token_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise DataError(f"FREEWAY_SERVICE_TOKEN_FILE: {exc.strerror or exc}") from None
    catalog = args.catalog
    if catalog is None and args.qualities is None and usage.is_address(source):
        catalog = suite.catalog_addr
    if catalog is None and args.qualities is None:
        raise DataError("the served models' tiers: give --catalog ADDR or --qualities FILE")
    rows, quality = usage.read_usage(source, catalog, token)
    if args.qualities is not None:
        quality.update(usage.qualities_from_file(args.qualities))
    tiers = usage.Tiers(quality, args.strong_quality)
    return usage.examples(rows, tiers, args.buckets, args.usage_weight)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="freeway router", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit_cmd = sub.add_parser("fit", help="fit weights, print held-out quality, write them")
    fit_cmd.add_argument(
        "data", nargs="*", type=Path, help="labelled prompts (default: data/prompts)"
    )
    fit_cmd.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS_PATH)
    fit_cmd.add_argument("--buckets", type=_buckets, default=1 << 14)
    fit_cmd.add_argument(
        "--from-usage",
        metavar="SOURCE",
        help="also fit on Freeway's own traffic: an analytics gRPC address (host:port) or a"
        " JSON-lines usage export with feedback and features",
    )
    fit_cmd.add_argument(
        "--usage-weight",
        type=_weight,
        default=1.0,
        help="weight of each usage example against a labelled prompt (default 1)",
    )
    fit_cmd.add_argument(
        "--only-usage", action="store_true", help="fit on usage alone, not on data/prompts"
    )
    fit_cmd.add_argument(
        "--catalog",
        metavar="ADDR",
        help="catalog gRPC address for the served models' quality tiers"
        " (default: FREEWAY_CATALOG_ADDR when SOURCE is an address)",
    )
    fit_cmd.add_argument(
        "--qualities",
        type=Path,
        help="a JSON file {model id: quality} instead of asking the catalog",
    )
    fit_cmd.add_argument(
        "--strong-quality",
        type=float,
        default=usage.STRONG_QUALITY,
        help="catalogue quality at or above which a served model counts as strong",
    )
    eval_cmd = sub.add_parser("eval", help="held-out quality of a weights file")
    eval_cmd.add_argument("data", nargs="*", type=Path)
    eval_cmd.add_argument("--weights", type=Path, default=None)
    eval_cmd.add_argument("--json", type=Path, default=RESULTS)
    eval_cmd.add_argument(
        "--cv", action="store_true", help="also report 5-fold out-of-fold quality on all data"
    )
    eval_cmd.add_argument(
        "--ood", action="store_true", help="also score each set with a model fitted without it"
    )
    args = parser.parse_args(argv)
    command = _fit_command if args.command == "fit" else _eval_command
    data = args.data or default_data()
    try:
        examples = _examples(args, data)
        return command(args, examples)
    except (DataError, ConfigError, kernel.WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
