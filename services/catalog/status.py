"""A provider's polling status, as ListProviders shows it (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderState:
    """Status of one provider; times are epoch seconds (None: never)."""

    name: str
    format: str = "auto"
    base_url: str = ""
    healthy: bool = False
    last_success: float | None = None
    last_error: str = ""
    next_poll: float | None = None
    model_count: int = 0
    free_count: int = 0
    etag: str = ""  # validators of the last full response, for conditional requests
    last_modified: str = ""
