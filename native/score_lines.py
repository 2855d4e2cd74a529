"""Score JSON lines: ``{"prompt": "..."}`` or an OpenAI-style ``{"messages": [...], ...}``.

One output line per input line, in order: ``{"score": …, "features": {name: value},
"contributions": {name: value}}``, or ``{"error": "..."}`` naming what is wrong with that
line. The request's needs are read the way the router reads them: ``max_tokens`` /
``max_completion_tokens``, ``tools`` (tools), ``response_format`` json (JSON mode), image
parts (vision), ``reasoning_effort`` / ``reasoning`` (reasoning).

    python -m native.score_lines [--weights PATH] < prompts.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from native import kernel


class LineError(ValueError):
    """An input line that is not a prompt or a chat request."""


def _text(content: object, where: str) -> tuple[str, bool]:
    """A message's text, and whether it carries an image."""
    if content is None or isinstance(content, str):
        return content or "", False
    if not isinstance(content, list):
        raise LineError(f"{where}.content: expected a string or a list of parts")
    texts, image = [], False
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise LineError(f"{where}.content[{j}]: expected an object")
        if part.get("type") in ("image_url", "input_image", "image"):
            image = True
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "text":
            raise LineError(f"{where}.content[{j}].text: expected a string")
    return "\n".join(texts), image


def request_inputs(row: object) -> tuple[list[tuple[str, str]], int, int]:
    """(messages, max_output_tokens, needs) of one prompt or chat request."""
    if not isinstance(row, dict):
        raise LineError("expected a JSON object")
    needs = 0
    if isinstance(row.get("prompt"), str):
        messages = [("user", row["prompt"])]
    elif isinstance(row.get("messages"), list):
        messages = []
        for i, message in enumerate(row["messages"]):
            if not isinstance(message, dict):
                raise LineError(f"messages[{i}]: expected an object")
            role = message.get("role", "user")
            if not isinstance(role, str):
                raise LineError(f"messages[{i}].role: expected a string")
            text, image = _text(message.get("content"), f"messages[{i}]")
            needs |= kernel.CAP_VISION if image else 0
            messages.append((role, text))
    else:
        raise LineError("needs 'prompt' (a string) or 'messages' (a list)")
    return messages, _max_output(row), needs | _needs(row)


def _max_output(row: dict[str, Any]) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = row.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
            raise LineError(f"{key}: expected a non-negative integer below 2**63")
        return value
    return 0


def _needs(row: dict[str, Any]) -> int:
    needs = kernel.CAP_TOOLS if row.get("tools") else 0
    response_format = row.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        needs |= kernel.CAP_JSON
    if row.get("reasoning_effort") or row.get("reasoning"):
        needs |= kernel.CAP_REASONING
    return needs


def score_line(line: str, weights: kernel.Weights) -> dict[str, Any]:
    """The output object for one input line."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"invalid JSON: {exc.msg}"}
    try:
        messages, max_output, needs = request_inputs(row)
    except LineError as exc:
        return {"error": str(exc)}
    result = kernel.score(messages, max_output, needs, weights)
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
    parser = argparse.ArgumentParser(prog="python -m native.score_lines", description=__doc__)
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
