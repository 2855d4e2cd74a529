"""Score JSON lines: ``{"prompt": "..."}`` or an OpenAI-style ``{"messages": [...], ...}``.

One output line per input line, in order: ``{"score": …, "features": {name: value},
"contributions": {name: value}}``, or ``{"error": "..."}`` naming what is wrong with that
line. Requests are read by ``scorer.requests`` (needs and output size included).

    freeway score [--weights PATH] < prompts.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from native import kernel
from scorer.requests import RequestError, request_inputs


def score_line(line: str, weights: kernel.Weights) -> dict[str, Any]:
    """The output object for one input line."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"invalid JSON: {exc.msg}"}
    try:
        inputs = request_inputs(row)
    except RequestError as exc:
        return {"error": str(exc)}
    result = kernel.score(inputs.messages, inputs.max_output_tokens, inputs.needs, weights)
    names = kernel.FEATURE_NAMES
    return {
        "score": result.value,
        "features": dict(zip(names, result.features.tolist(), strict=True)),
        "contributions": dict(zip(names, result.contributions.tolist(), strict=True)),
    }


def score_lines(lines: Iterable[str], weights: kernel.Weights) -> Iterator[str]:
    """One JSON output line per non-blank input line, in order."""
    for line in lines:
        if line.strip():
            yield json.dumps(score_line(line, weights), ensure_ascii=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="freeway score", description=__doc__)
    parser.add_argument("--weights", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        weights = kernel.load_weights(args.weights)
    except kernel.WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = False
    for out in score_lines(sys.stdin, weights):
        failed = failed or out.startswith('{"error"')
        sys.stdout.write(out + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
