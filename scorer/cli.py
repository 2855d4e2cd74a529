"""``freeway router fit|eval``: fit the scorer's weights, or measure them on held-out prompts.

    freeway router fit [DATA...] [--out PATH]        # DATA defaults to data/prompts
    freeway router eval [DATA...] [--weights PATH] [--json PATH] [--cv] [--ood]

See ``scorer.labelled`` for the DATA formats and ``scorer.quality`` for what is measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from native import kernel
from native._common import DEFAULT_WEIGHTS_PATH, Weights
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
from scorer.labelled import DataError, Example, default_data, load
from scorer.quality import format_table, report_scores

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "router_quality.json"


def report(examples: Sequence[Example], weights: Weights) -> dict[str, Any]:
    """Quality of the scorer, of prompt length and of random routing, per source and pooled."""
    return report_scores(examples, score_examples(examples, weights))


def evaluate(examples: Sequence[Example], weights: Weights) -> dict[str, Any]:
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
    """Write ``doc`` through a staged file: readers never see a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    staged.replace(path)


def _fit_command(args: argparse.Namespace, examples: Sequence[Example]) -> int:
    result = fit_weights(examples, args.buckets)
    table = evaluate(examples, result.weights)
    doc = result.weights.to_json()
    doc["validation"] = table["test"]
    _write_json(args.out, doc)
    print(format_table(table["test"]))
    print(f"wrote {args.out} ({result.weights.version})")
    return 0


def _eval_command(args: argparse.Namespace, examples: Sequence[Example]) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="freeway router", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit_cmd = sub.add_parser("fit", help="fit weights, print held-out quality, write them")
    fit_cmd.add_argument(
        "data", nargs="*", type=Path, help="labelled prompts (default: data/prompts)"
    )
    fit_cmd.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS_PATH)
    fit_cmd.add_argument("--buckets", type=_buckets, default=1 << 14)
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
        examples = load(data)
        if not examples:
            raise DataError(f"no labelled prompts in {', '.join(map(str, data))}")
        return command(args, examples)
    except (DataError, kernel.WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
