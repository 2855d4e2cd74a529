"""Free-tier quota alarms: a quota key's use crossing a share of a window's limit (80 %
and 95 % by default), noticed once per key, limit and window, as the ledger counts.

Plain arithmetic on the counts the ledger already holds; what to do with a crossing (send
it to the catalog as a QUOTA_LOW alert) is the sink's business, and must not block.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.router.catalogue import ModelInfo

# QuotaLimits' fields, in the ledger's metric order (rpm, rpd, tpm, tpd).
LIMIT_NAMES = ("requests_per_minute", "requests_per_day", "tokens_per_minute", "tokens_per_day")
WINDOW_NAMES = ("minute", "day", "minute", "day")


@dataclass(frozen=True, slots=True)
class Crossing:
    """A quota key's count of one metric went from `before` to `after`, past `share`."""

    key: str
    model: ModelInfo
    metric: int
    window: int
    share: float
    before: int
    after: int
    limit: int
    at: float

    @property
    def limit_name(self) -> str:
        return LIMIT_NAMES[self.metric]

    @property
    def window_name(self) -> str:
        return WINDOW_NAMES[self.metric]

    @property
    def id(self) -> str:
        """Stable: every replica crossing this share in this window names it alike."""
        return f"quota_low:{self.key}:{self.limit_name}:{self.window}:{round(self.share * 100)}"


class QuotaAlarm:
    """Calls `sink` with each new crossing (the highest share crossed, once per window)."""

    def __init__(self, shares: Sequence[float], sink: Callable[[Crossing], None]) -> None:
        self.shares = tuple(sorted(shares))
        self.sink = sink
        self._fired: dict[tuple[str, int], tuple[int, int]] = {}  # → (window, shares fired)

    def counted(
        self,
        model: ModelInfo,
        key: str,
        before: Sequence[int],
        after: Sequence[int],
        windows: Sequence[int],
        at: float,
    ) -> None:
        """The ledger counted for `key`: check each stated limit."""
        for metric, limit in enumerate(model.free_tier.row):
            if limit > 0 and after[metric] > before[metric]:
                self._check(model, key, metric, int(limit), before, after, windows[metric], at)

    def _check(
        self,
        model: ModelInfo,
        key: str,
        metric: int,
        limit: int,
        before: Sequence[int],
        after: Sequence[int],
        window: int,
        at: float,
    ) -> None:
        level = bisect.bisect_right(self.shares, after[metric] / limit)
        if not level:
            return
        fired_window, fired = self._fired.get((key, metric), (window, 0))
        if fired_window != window:
            fired = 0
        if level <= fired:
            return
        self._fired[(key, metric)] = (window, level)
        share = self.shares[level - 1]
        self.sink(
            Crossing(key, model, metric, window, share, before[metric], after[metric], limit, at)
        )
