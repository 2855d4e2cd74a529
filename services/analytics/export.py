"""Usage rows as CSV or JSON lines: the export format, defined once.

One row per usage event, in time order, with these columns (`COLUMNS`); unknown costs are
`null` in JSON and an empty cell in CSV, never 0. `include_feedback` adds one score column
per feedback source (`feedback_application`, `feedback_judge`, in [0, 1]); and
`include_features` adds `features`, the stored feature vector of the prompt (a JSON array
of numbers; space-separated in CSV), so a fitting tool can read prompts' features and
their scores without ever seeing a prompt.
"""

from __future__ import annotations

import csv
import io
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from services.analytics.queries import Export, ExportFormat
from services.analytics.usage import FEATURE_BYTES, UsageEvent

COLUMNS = (
    "time", "event_id", "request_id", "key_id", "team_id", "requested_model",
    "served_model", "provider", "strategy", "status", "prompt_tokens", "completion_tokens",
    "cached_tokens", "reasoning_tokens", "cost_usd", "baseline_cost_usd", "saving_usd",
    "latency_ms", "ttft_ms", "attempts", "cache_hit", "stream", "complexity", "escalations",
    "escalation_reason", "capabilities", "error",
)  # fmt: skip
FEEDBACK_SOURCES = ("application", "judge")

Scores = Mapping[str, float]  # feedback source → score


def features(raw: bytes) -> list[float]:
    """A stored feature vector (little-endian float64) as numbers."""
    return list(struct.unpack(f"<{len(raw) // FEATURE_BYTES}d", raw))


def record(event: UsageEvent, feedback: Scores, query: Export) -> dict[str, Any]:
    """One row as JSON values, in column order."""
    saving = (
        None
        if event.cost_usd is None or event.baseline_cost_usd is None
        else event.baseline_cost_usd - event.cost_usd
    )
    assert event.time is not None
    row: dict[str, Any] = {
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "event_id": event.event_id,
        "request_id": event.request_id,
        "key_id": event.key_id,
        "team_id": event.team_id,
        "requested_model": event.requested_model,
        "served_model": event.served_model,
        "provider": event.provider,
        "strategy": event.strategy.value,
        "status": event.status.value,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "cached_tokens": event.cached_tokens,
        "reasoning_tokens": event.reasoning_tokens,
        "cost_usd": event.cost_usd,
        "baseline_cost_usd": event.baseline_cost_usd,
        "saving_usd": saving,
        "latency_ms": event.latency_ms,
        "ttft_ms": event.ttft_ms,
        "attempts": event.attempts,
        "cache_hit": event.cache_hit,
        "stream": event.stream,
        "complexity": event.complexity,
        "escalations": event.escalations,
        "escalation_reason": event.escalation_reason,
        "capabilities": list(event.capabilities),
        "error": event.error,
    }
    if query.include_feedback:
        for source in FEEDBACK_SOURCES:
            row[f"feedback_{source}"] = feedback.get(source)
    if query.include_features:
        row["features"] = features(event.features) if event.features else None
    return row


def header(query: Export) -> list[str]:
    names = list(COLUMNS)
    if query.include_feedback:
        names += [f"feedback_{source}" for source in FEEDBACK_SOURCES]
    if query.include_features:
        names.append("features")
    return names


class Encoder:
    """Rows to text in the query's format; the CSV header comes with the first chunk."""

    def __init__(self, query: Export) -> None:
        self.query = query
        self._header_due = query.format is ExportFormat.CSV

    def encode(self, rows: Sequence[tuple[UsageEvent, Scores]]) -> bytes:
        records = [record(event, feedback, self.query) for event, feedback in rows]
        if self.query.format is ExportFormat.JSONL:
            return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if self._header_due:
            writer.writerow(header(self.query))
            self._header_due = False
        writer.writerows([_csv_cell(v) for v in r.values()] for r in records)
        return out.getvalue().encode()

    def finish(self) -> bytes:
        """What an export of no rows still carries: the CSV header."""
        if not self._header_due:
            return b""
        self._header_due = False
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(header(self.query))
        return out.getvalue().encode()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(repr(v) if isinstance(v, float) else str(v) for v in value)
    return value
