"""Labelled examples from Freeway's own traffic: usage rows with feedback and feature vectors.

A row is a usage export line (``/v1/usage/export?include=feedback,features`` or analytics'
``Export`` with ``include_feedback`` and ``include_features``): the prompt's stored feature
vector (``native.vectors``, never its text), the model that answered, the feedback scores,
and the cascade's escalations. The labelling rule says what such a row teaches about "did
the weak (cheap) model suffice", in the labelled sets' terms (``strong``/``weak``
performance in [0, 1], see ``scorer.labelled``):

1. A cascade escalation because an answer failed a check (empty, refusal, cut off, bad JSON,
   bad tool arguments) → the cheaper model did not suffice: ``weak 0, strong 1``.
2. Feedback (the application's score, else the judge's) on an answer of a *weak* model —
   one whose catalogue quality is below ``strong_quality`` → ``weak = score, strong = 1``
   (a stronger model is assumed to answer at least as well): thumbs up says the weak model
   sufficed (no gain from strong), thumbs down says the prompt needs the strong one.
3. Feedback on a *strong* model's answer is skipped: it says how the strong model did, not
   whether a weak one would have sufficed (a thumbs down there is most likely a prompt both
   get wrong, where the strong model gains nothing).
4. Rows without feedback or escalation, failed or cancelled requests, rows of a model the
   catalogue does not know, and rows without a usable vector are skipped, and counted.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from native._common import DENSE_FEATURE_NAMES
from native.vectors import Stored, VectorError, decode
from scorer.labelled import DataError

SOURCE = "usage"
STRONG_QUALITY = 0.5  # catalogue quality at or above which a model counts as strong
NOT_ESCALATIONS = frozenset({"", "none better"})  # recorded, but no answer failed a check
_LOG_CHARS = DENSE_FEATURE_NAMES.index("log_chars")


@dataclass(frozen=True)
class VectorExample:
    """One labelled prompt known only by its stored feature vector."""

    key: str  # the usage event id: decides the train / test side and the folds
    stored: Stored
    strong: float
    weak: float
    source: str = SOURCE
    weight: float = 1.0

    @property
    def split_key(self) -> str:
        return self.key

    @property
    def chars(self) -> float:
        """The prompt's length (for the length baseline), from its log_chars feature."""
        return math.expm1(float(self.stored.dense[_LOG_CHARS]))


@dataclass(frozen=True)
class Tiers:
    """Which served models are weak: catalogue quality below ``strong_quality``."""

    quality: Mapping[str, float]
    strong_quality: float = STRONG_QUALITY

    def is_weak(self, model: str) -> bool | None:
        """True / False, or None when the catalogue does not know the model."""
        q = self.quality.get(model)
        return None if q is None else q < self.strong_quality


@dataclass
class Labelled:
    examples: list[VectorExample] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        kinds = Counter(
            "needs strong" if e.strong - e.weak > 0.5 else "weak sufficed" for e in self.examples
        )
        made = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common()) or "none"
        return f"{len(self.examples)} usage examples ({made}); skipped: {skipped}"


def _score(row: Mapping[str, Any]) -> float | None:
    for column in ("feedback_application", "feedback_judge"):
        value = row.get(column)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value) and 0.0 <= value <= 1.0:
            return float(value)
    return None


def _escalated(row: Mapping[str, Any]) -> bool:
    reasons = str(row.get("escalation_reason") or "").split(",")
    return int(row.get("escalations") or 0) > 0 and any(
        r.strip() not in NOT_ESCALATIONS for r in reasons
    )


def label(row: Mapping[str, Any], tiers: Tiers) -> tuple[float, float] | str:
    """(strong, weak) for one usage row by the labelling rule, or why it teaches nothing."""
    if row.get("status") != "ok":
        return "not answered"
    if _escalated(row):
        return 1.0, 0.0
    score = _score(row)
    if score is None:
        return "no feedback"
    weak = tiers.is_weak(str(row.get("served_model") or ""))
    if weak is None:
        return "model not in the catalogue"
    if not weak:
        return "feedback on a strong model"
    return 1.0, score


def examples(
    rows: Iterable[Mapping[str, Any]], tiers: Tiers, buckets: int, weight: float = 1.0
) -> Labelled:
    """The labelled examples among ``rows`` (to be fitted at ``buckets`` hash buckets)."""
    out = Labelled()
    for row in rows:
        verdict = label(row, tiers)
        if isinstance(verdict, str):
            out.skipped[verdict] += 1
            continue
        stored = _stored(row.get("features"), buckets)
        if isinstance(stored, str):
            out.skipped[stored] += 1
            continue
        key = str(row.get("event_id") or row.get("request_id") or len(out.examples))
        out.examples.append(VectorExample(key, stored, verdict[0], verdict[1], weight=weight))
    return out


def _stored(features: object, buckets: int) -> Stored | str:
    if not isinstance(features, list) or not features:
        return "no feature vector (FREEWAY_ROUTER_KEEP_FEATURES off)"
    try:
        stored = decode(features)
    except (VectorError, TypeError, ValueError):
        return "feature vector of an older layout"
    if stored.hashed_omitted:
        return "prompt too long for its hashed part to be stored"
    if stored.hash_buckets < buckets:
        return f"stored with fewer than {buckets} hash buckets"
    return stored


# ------------------------------------------------------------------ reading rows


def rows_from_file(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSON-lines usage export."""
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    yield _row(line, f"{path}:{number}")
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None


def _row(line: str | bytes, where: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not a JSON line ({exc.msg})") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object (a usage export row)")
    return row


def is_address(source: str) -> bool:
    """Whether SOURCE names a gRPC address (host:port) rather than a file."""
    if Path(source).exists():
        return False
    host, _, port = source.rpartition(":")
    return bool(host) and port.isdigit()


async def rows_from_analytics(address: str, token: str | None) -> list[dict[str, Any]]:
    """Every usage row, with feedback and features, from analytics' Export."""
    import grpc

    from freeway.analytics.v1 import analytics_pb2, analytics_pb2_grpc
    from services.shared.channels import channel

    request = analytics_pb2.ExportRequest(
        format=analytics_pb2.EXPORT_FORMAT_JSONL, include_feedback=True, include_features=True
    )
    rows: list[dict[str, Any]] = []
    async with channel(address, token) as chan:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(chan)
        try:
            async for chunk in stub.Export(request, timeout=600):
                for line in chunk.data.splitlines():
                    if line.strip():
                        rows.append(_row(line, f"analytics {address}"))
        except grpc.aio.AioRpcError as exc:
            raise DataError(f"analytics {address}: Export: {exc.details()}") from None
    return rows


async def catalogue_quality(address: str, token: str | None) -> dict[str, float]:
    """Every model's quality estimate, from the catalog's ListModels."""
    import grpc

    from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
    from services.shared.channels import channel

    async with channel(address, token) as chan:
        stub = catalog_pb2_grpc.CatalogServiceStub(chan)
        try:
            reply = await stub.ListModels(catalog_pb2.ListModelsRequest(), timeout=30)
        except grpc.aio.AioRpcError as exc:
            raise DataError(f"catalog {address}: ListModels: {exc.details()}") from None
    return {m.id: m.quality for m in reply.models}


def read_usage(
    source: str, catalog: str | None, token: str | None
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """(rows, model qualities) from SOURCE (a file or an analytics address) and the catalog."""

    async def both() -> tuple[list[dict[str, Any]], dict[str, float]]:
        if is_address(source):
            rows = await rows_from_analytics(source, token)
        else:
            rows = list(rows_from_file(Path(source)))
        quality = await catalogue_quality(catalog, token) if catalog else {}
        return rows, quality

    return asyncio.run(both())


def qualities_from_file(path: Path) -> dict[str, float]:
    """Model qualities from a JSON file: {"model id": quality, ...}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read model qualities ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object {{model id: quality}}")
    out = {}
    for model, q in data.items():
        if not (isinstance(q, int | float) and not isinstance(q, bool) and math.isfinite(q)):
            raise DataError(f"{path}: {model}: quality must be a number")
        out[str(model)] = float(q)
    return out
