"""What a model can do, from everything that says so: its list entry (each format's
parser), its inputs (images or video → vision; audio → audio, for a model that also
takes text), and what its provider's chat API honours for every model (the providers
file's `capabilities`, e.g. `seed` or `json` on an API whose model list states nothing)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from services.catalog.records import ModelRecord

_MEDIA = {"image": "vision", "video": "vision", "audio": "audio"}


def with_capabilities(record: ModelRecord, provider_capabilities: Iterable[str]) -> ModelRecord:
    """The record with its capabilities completed (unchanged when nothing is added)."""
    found = set(record.capabilities)
    found.update(provider_capabilities)
    if "text" in record.input_modalities:
        found.update(_MEDIA[m] for m in record.input_modalities if m in _MEDIA)
    if found == record.capabilities:
        return record
    return dataclasses.replace(record, capabilities=frozenset(found))
