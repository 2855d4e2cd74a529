"""Small records for the catalog service's unit tests."""

from __future__ import annotations

from services.catalog.catalogue import ChangeType, Entry, VersionedChange
from services.catalog.records import FreeReason, ModelRecord


def record(name: str, *, price: float | None = 1.0, context: int = 8192) -> ModelRecord:
    free = price == 0
    return ModelRecord(
        id=f"p/{name}",
        provider="p",
        upstream_id=name,
        context_window=context,
        input_price_per_mtok=price,
        output_price_per_mtok=price,
        is_free=free,
        free_reason=FreeReason.ZERO_PRICE if free else FreeReason.NONE,
    )


def added(version: int, name: str, **kwargs: float | int | None) -> VersionedChange:
    entry = Entry(record(name, **kwargs), 100.0, 100.0)  # type: ignore[arg-type]
    return VersionedChange(version, 100.0 + version, ChangeType.ADDED, entry.id, None, entry)
