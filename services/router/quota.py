"""Free-tier quota ledger: what each free model may still be asked this minute and today.

Counts live per *quota key*: the model id (scope per model or unspecified), the provider
name (per provider) or the provider's account (per account; with one key per provider that
is the provider too, but it is counted apart from per-provider limits). Counts are kept in
fixed UTC windows (minute, day) of the wall clock, so that every replica agrees on them.

`remaining(model)` is the smallest fraction left over the limits the model states (inf
when it states none, 0 when used up or held after a 429); routing turns it into the
kernel's `quota_left` column, refreshing only the keys `take_changes()` names.

Sharing between replicas (see `quota_sync.py`): the ledger keeps the deltas it has not yet
sent (`take_unsent`), and takes shared totals back (`apply_shared`); its own counts are
always applied at once, so a decision never waits for the network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from services.router.catalogue import (
    SCOPE_PER_ACCOUNT,
    SCOPE_PER_PROVIDER,
    ModelInfo,
)
from services.router.quota_alarm import QuotaAlarm

MINUTE_S = 60
DAY_S = 86_400
# Metric order = QuotaLimits.row: requests/minute, requests/day, tokens/minute, tokens/day.
METRICS = ("rpm", "rpd", "tpm", "tpd")
WINDOW_S = (MINUTE_S, DAY_S, MINUTE_S, DAY_S)
_EMPTY: frozenset[str] = frozenset()

FloatArray = npt.NDArray[np.float64]


class Cell(NamedTuple):
    """One counter: a quota key's metric in one window (window = epoch seconds // length).

    A tuple: cells are hashed on every count and lookup."""

    key: str
    metric: int  # index into METRICS
    window: int

    @property
    def expires_at(self) -> int:
        """Epoch second at which the window is over."""
        return (self.window + 1) * WINDOW_S[self.metric]


def quota_key(model: ModelInfo) -> str:
    """Which counters a model's free-tier use goes to."""
    scope = model.free_tier.scope
    if scope == SCOPE_PER_PROVIDER:
        return model.provider
    if scope == SCOPE_PER_ACCOUNT:
        return f"{model.provider}#account"
    return model.id


def window_of(metric: int, now: float) -> int:
    return int(now // WINDOW_S[metric])


def _fraction(limits: Sequence[float], used: Sequence[int]) -> float:
    """Smallest share left over the stated (> 0) limits, never below 0."""
    left = min(
        (limit - count) / limit for limit, count in zip(limits, used, strict=True) if limit > 0
    )
    return max(left, 0.0)


class QuotaLedger:
    """Requests and tokens per quota key in the current minute and day windows.

    `clock` is wall-clock epoch seconds (windows are UTC-aligned). With `shared`, every
    count is also kept as an unsent delta for the syncer to push to the shared store.
    """

    def __init__(self, clock: Callable[[], float] = time.time, *, shared: bool = False) -> None:
        self.clock = clock
        self.shared = shared
        self._counts: dict[tuple[str, int, int], int] = {}  # keyed by Cells
        self._unsent: dict[Cell, int] = {}
        self._held: dict[str, float] = {}  # key → epoch seconds until which it is used up
        self._unsent_holds: dict[str, float] = {}
        self._tracked: frozenset[str] = _EMPTY
        self._changed: set[str] = set()
        self._next_roll = self._minute_end(clock())
        self.on_unsent: Callable[[], None] | None = None  # the syncer's wake-up
        self.alarm: QuotaAlarm | None = None  # told of every local count (QUOTA_LOW alerts)

    # -- reading -----------------------------------------------------------------------

    def remaining(self, model: ModelInfo) -> float:
        """Smallest fraction left over the model's stated limits (inf: none; 0: used up)."""
        limits = model.free_tier.row
        if not any(limits):
            return math.inf
        key = quota_key(model)
        now = self.clock()
        if self._held.get(key, 0.0) > now:
            return 0.0
        return _fraction(limits, self.used(key, now))

    def fractions(self, key: str, limits: FloatArray) -> FloatArray:
        """`remaining` for rows of models sharing `key`; `limits` is (rows, 4), 0 = not stated."""
        now = self.clock()
        if self._held.get(key, 0.0) > now:
            return np.zeros(len(limits))
        if len(limits) == 1:  # the common case (per-model scope): no array arithmetic
            return np.array([_fraction(limits[0].tolist(), self.used(key, now))])
        used = np.array(self.used(key, now), dtype=np.float64)
        stated = limits > 0
        left: FloatArray = np.where(stated, (limits - used) / np.where(stated, limits, 1.0), np.inf)
        result: FloatArray = np.maximum(left.min(axis=1), 0.0)
        return result

    def used(self, key: str, now: float | None = None) -> tuple[int, int, int, int]:
        """Counts of `key` in the current windows, in METRICS order."""
        at = self.clock() if now is None else now
        minute, day = int(at // MINUTE_S), int(at // DAY_S)
        get = self._counts.get  # plain tuples: cheaper to build than Cells, and equal to them
        return (
            get((key, 0, minute), 0),
            get((key, 1, day), 0),
            get((key, 2, minute), 0),
            get((key, 3, day), 0),
        )

    def retry_in(self, model: ModelInfo) -> float:
        """Seconds until the model has quota again (0 when it has some now)."""
        if self.remaining(model) > 0:
            return 0.0
        now = self.clock()
        key = quota_key(model)
        held = self._held.get(key, 0.0)
        if held > now:
            return held - now
        used, limits = self.used(key, now), model.free_tier.row
        full = [m for m in range(len(METRICS)) if 0 < limits[m] <= used[m]]
        return min(Cell(key, m, window_of(m, now)).expires_at - now for m in full)

    def minute_left(self) -> float:
        """Seconds to the end of the current minute window."""
        now = self.clock()
        return self._minute_end(now) - now

    # -- counting ----------------------------------------------------------------------

    def started(self, model: ModelInfo) -> None:
        """Count one request (at attempt start) against the model's quota."""
        if model.free_tier.stated:
            self._count(model, (1, 1, 0, 0))

    def record(self, model: ModelInfo, prompt_tokens: int, completion_tokens: int) -> None:
        """Count the tokens an attempt used, once known."""
        tokens = max(prompt_tokens, 0) + max(completion_tokens, 0)
        if tokens and model.free_tier.stated:
            self._count(model, (0, 0, tokens, tokens))

    def exhausted(self, model: ModelInfo, until: float | None = None) -> float:
        """The provider said 429: the model's quota key is used up until `until` (epoch
        seconds; default the end of the current minute window). Returns that time."""
        now = self.clock()
        end = self._minute_end(now) if until is None else until
        if model.free_tier.stated:
            key = quota_key(model)
            if self._hold(key, end):
                self._unsent_holds[key] = end
                self._wake()
        return end

    # -- routing's view --------------------------------------------------------------------

    def track(self, keys: Iterable[str]) -> None:
        """The quota keys the catalogue uses (the syncer refreshes their shared counts)."""
        self._tracked = frozenset(keys)

    @property
    def tracked(self) -> frozenset[str]:
        return self._tracked

    def take_changes(self) -> AbstractSet[str]:
        """Keys whose remaining quota may have changed since the last call."""
        now = self.clock()
        if now >= self._next_roll:
            self._roll(now)
        if not self._changed:
            return _EMPTY
        changed, self._changed = self._changed, set()
        return changed

    # -- sharing -----------------------------------------------------------------------

    def take_unsent(self) -> tuple[dict[Cell, int], dict[str, float]]:
        """Counts and holds not yet pushed to the shared store (now in the caller's hands)."""
        cells, holds = self._unsent, self._unsent_holds
        self._unsent, self._unsent_holds = {}, {}
        return cells, holds

    def restore_unsent(self, cells: Mapping[Cell, int], holds: Mapping[str, float]) -> None:
        """A push failed: keep its deltas for the next one (windows already over are dropped)."""
        now = self.clock()
        for cell, delta in cells.items():
            if cell.expires_at > now:
                self._unsent[cell] = self._unsent.get(cell, 0) + delta
        for key, until in holds.items():
            if until > now:
                self._unsent_holds[key] = max(until, self._unsent_holds.get(key, 0.0))

    def apply_shared(self, cell: Cell, total: int) -> None:
        """The shared store's total for `cell` (it includes every delta we pushed)."""
        if cell.expires_at <= self.clock():
            return
        count = total + self._unsent.get(cell, 0)
        if self._counts.get(cell, 0) != count:
            self._counts[cell] = count
            self._changed.add(cell.key)

    def apply_shared_hold(self, key: str, until: float) -> None:
        """Another replica saw a 429 for `key`."""
        self._hold(key, until)

    def current_cells(self, keys: Iterable[str]) -> list[Cell]:
        """The counters of `keys` in the current windows."""
        now = self.clock()
        windows = [window_of(m, now) for m in range(len(METRICS))]
        return [Cell(key, m, w) for key in keys for m, w in enumerate(windows)]

    # -- internals -----------------------------------------------------------------------

    def _count(self, model: ModelInfo, deltas: tuple[int, int, int, int]) -> None:
        key = quota_key(model)
        self._add(key, deltas)
        if self.alarm is not None:
            now = self.clock()
            after = self.used(key, now)
            before = tuple(a - d for a, d in zip(after, deltas, strict=True))
            windows = [window_of(m, now) for m in range(len(METRICS))]
            self.alarm.counted(model, key, before, after, windows, now)

    def _add(self, key: str, deltas: tuple[int, int, int, int]) -> None:
        now = self.clock()
        for metric, delta in enumerate(deltas):
            if delta:
                cell = Cell(key, metric, window_of(metric, now))
                self._counts[cell] = self._counts.get(cell, 0) + delta
                if self.shared:
                    self._unsent[cell] = self._unsent.get(cell, 0) + delta
        self._changed.add(key)
        self._wake()

    def _hold(self, key: str, until: float) -> bool:
        if until <= max(self._held.get(key, 0.0), self.clock()):
            return False
        self._held[key] = until
        self._next_roll = min(self._next_roll, until)
        self._changed.add(key)
        return True

    def _wake(self) -> None:
        if self.shared and self.on_unsent is not None:
            self.on_unsent()

    def _roll(self, now: float) -> None:
        """Windows or holds ran out: forget them and mark their keys changed."""
        stale = [cell for cell in map(Cell._make, self._counts) if cell.expires_at <= now]
        for cell in stale:
            del self._counts[cell]
            self._changed.add(cell.key)
        for cell in [cell for cell in self._unsent if cell.expires_at <= now]:
            del self._unsent[cell]
        expired = [key for key, until in self._held.items() if until <= now]
        for key in expired:
            del self._held[key]
            self._changed.add(key)
        self._next_roll = min([self._minute_end(now), *self._held.values()])

    @staticmethod
    def _minute_end(now: float) -> float:
        return float((int(now // MINUTE_S) + 1) * MINUTE_S)
