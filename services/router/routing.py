"""Scoring and model selection: the one module that calls the kernel (`native.kernel`).

`Router.install` turns a catalogue into the kernel's columnar `Catalogue` (copy-on-write: a
new table is built and the reference swapped, so a decision never sees arrays change under
it). Health and free-tier quota refresh the same way: a copy whose changed rows are
rewritten (for quota, only the rows of the keys the ledger reports changed).
`Router.decide` turns a request into needs, context, allow/deny and price limits, asks the
kernel for the ranked candidates and explains the outcome, or says why nothing fits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import random
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from native import kernel, vectors
from services.router import breaker, strategies
from services.router.breaker import HealthBoard
from services.router.catalogue import ModelInfo
from services.router.quota import QuotaLedger, quota_key
from services.shared.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from services.shared.vocabulary import Capability, capability_bits, capability_names

FEATURE_NAMES: tuple[str, ...] = tuple(kernel.FEATURE_NAMES)
_LOG_TOKENS = FEATURE_NAMES.index("log_tokens") if "log_tokens" in FEATURE_NAMES else -1
_TOKENS_PER_MESSAGE = 4  # role and separators, as chat templates add them
_AUTO = frozenset({"", "auto"})
# Stored vectors of weights without a hashed part (hand-set ones) still carry one, to fit on.
DEFAULT_STORED_BUCKETS = 1 << 14
_STATIC_COLUMNS = ("price_in", "price_out", "quality", "context", "max_output", "caps", "free")
_HEALTH_COLUMNS = ("breaker", "latency_ms", "error_rate", "load")
_CALLABLE_LABEL = "callable (active chat model, provider configured)"
_FREE_LABEL = "free"
_HEALTHY_LABEL = "healthy (breaker closed, not rate-limited)"
_QUOTA_LABEL = "within free-tier quota"
_ALLOW_CACHE_SIZE = 128

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RouteRequest:
    """A routing question in domain terms (vocabulary numbers for capabilities, strategy)."""

    messages: tuple[tuple[str, str], ...]
    model: str = "auto"
    max_tokens: int | None = None
    capabilities: tuple[int, ...] = ()  # asked for beyond what the request itself needs
    needs: int = 0  # capability bits the request itself needs (request.ChatRequest.needs)
    need_fields: tuple[tuple[int, str], ...] = ()  # (bit, the field that needs it)
    extra_tokens: int = 0  # context beyond the text: images, audio, tool definitions
    min_context: int = 0
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    max_price: float | None = None
    free_only: bool = False
    strategy: int = strategies.UNSPECIFIED


@dataclass(frozen=True)
class Decision:
    """The chosen model, its ranked fallbacks, and why."""

    chosen: ModelInfo
    fallbacks: tuple[ModelInfo, ...]
    complexity: float
    feature_values: npt.NDArray[np.float64]
    feature_contributions: npt.NDArray[np.float64]
    strategy: int
    reason: str
    catalog_version: int
    decision_us: float
    prompt_tokens: int  # estimated
    needs: int = 0  # capability bits the request needs
    min_context: int = 0  # prompt plus requested output, in tokens
    weights_version: str = ""  # the scoring weights that scored it: version@hash

    @property
    def candidates(self) -> tuple[ModelInfo, ...]:
        return (self.chosen, *self.fallbacks)

    def features(self) -> list[tuple[str, float, float]]:
        """(name, value, contribution) of every scoring feature."""
        values = self.feature_values.tolist()
        parts = self.feature_contributions.tolist()
        return list(zip(FEATURE_NAMES, values, parts, strict=True))


def needs_mask(capabilities: Iterable[int], needs: int = 0) -> int:
    """The kernel's capability bits for capability numbers (plus bits already known)."""
    mask = needs
    for capability in capabilities:
        if capability not in Capability._value2member_map_:
            raise InvalidArgument(
                f"unknown capability {capability}", field="constraints.capabilities"
            )
        mask |= Capability(capability).bit
    return mask


@dataclass
class _Table:
    """One immutable catalogue version as kernel columns, plus lookups to explain them."""

    models: tuple[ModelInfo, ...]
    index: dict[str, int]
    by_provider: dict[str, IntArray]
    callable_mask: BoolArray  # active and from a provider we can call
    cat: kernel.Catalogue
    version: int
    quota_rows: dict[str, IntArray]  # quota key → rows of the models that state limits
    limits: FloatArray  # (n, 4) free-tier limits in the ledger's metric order; 0 = none
    received: bool = True  # False until the first catalogue arrives
    health_version: int = -1
    health_due: float = 0.0
    derived: dict[tuple[tuple[str, ...], tuple[str, ...]], kernel.Catalogue] = field(
        default_factory=dict
    )

    @property
    def n(self) -> int:
        return len(self.models)


class Router:
    """Holds the current catalogue table and answers routing questions against it."""

    def __init__(
        self,
        board: HealthBoard,
        *,
        candidates: int = 4,
        default_strategy: int = strategies.FREE_FIRST,
        allow_paid: bool = False,
        unknown_context: int = 8192,
        can_call: Callable[[str], bool] = lambda provider: True,
        weights_file: Path | None = None,
        health_refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        quota: QuotaLedger | None = None,
    ) -> None:
        self.board = board
        self.candidates = candidates
        self.default_strategy = default_strategy
        self.allow_paid = allow_paid
        self.unknown_context = unknown_context
        self.can_call = can_call
        self.weights_file = weights_file
        self.weights = kernel.load_weights(weights_file)
        self.weights_version = weights_tag(self.weights)
        self._weights_stamp = _stamp(weights_file)
        self.health_refresh_s = health_refresh_s
        self.clock = clock
        self.quota = quota
        self._quota_dirty: set[str] = set()
        self._seeds = itertools.count(random.getrandbits(48))
        self._table = dataclasses.replace(self._build((), 0), received=False)

    @property
    def version(self) -> int:
        return self._table.version

    @property
    def size(self) -> int:
        return self._table.n

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        """Every model of the current catalogue snapshot."""
        return self._table.models

    def model(self, model_id: str) -> ModelInfo | None:
        table = self._table
        i = table.index.get(model_id)
        return None if i is None else table.models[i]

    def reload_weights(self) -> bool:
        """Take up the weights file again when it changed (a refit: `freeway router fit`);
        a file that cannot be read keeps the weights in use (and raises WeightsError)."""
        stamp = _stamp(self.weights_file)
        if stamp == self._weights_stamp:
            return False
        self._weights_stamp = stamp
        weights = kernel.load_weights(self.weights_file)
        # one reference each, swapped together between two decisions (one event loop)
        self.weights, self.weights_version = weights, weights_tag(weights)
        return True

    def stored_features(self, request: RouteRequest, needs: int) -> bytes:
        """The prompt's model inputs as usage keeps them (native.vectors), never its text:
        what refitting the scorer needs, at the hash buckets of the weights in use."""
        buckets = self.weights.hash_buckets or DEFAULT_STORED_BUCKETS
        dense, hashed = kernel.featurize(
            request.messages, request.max_tokens or 0, _scored(needs), buckets
        )
        return vectors.encode(dense, hashed).astype("<f8").tobytes()

    def install(self, models: Iterable[ModelInfo], version: int) -> None:
        """Publish a new catalogue: build a new table, then swap the reference."""
        self._table = self._build(tuple(models), version)

    def decide(self, request: RouteRequest, candidates: int | None = None) -> Decision:
        """Choose a model and its fallbacks (`candidates` in all; the configured number by
        default), or raise a typed error saying why none fits."""
        started = time.perf_counter()
        strategy = self._strategy(request.strategy)
        needs = needs_mask(request.capabilities, request.needs)
        _validate(request)
        weights, weights_version = self.weights, self.weights_version
        score = kernel.score(request.messages, request.max_tokens or 0, _scored(needs), weights)
        prompt_tokens = _prompt_tokens(request.messages, score.features) + request.extra_tokens
        table = self._current()
        min_context = max(request.min_context, prompt_tokens + (request.max_tokens or 0))
        if request.model not in _AUTO:
            ranked: Sequence[ModelInfo] = (self._explicit(table, request),)
            reason = f"{request.model} requested explicitly"
        else:
            k = self.candidates if candidates is None else candidates
            ranked = self._select(table, request, needs, strategy, score.value, min_context, k)
            reason = _reason(strategy, ranked, score.value)
        return Decision(
            chosen=ranked[0],
            fallbacks=tuple(ranked[1:]),
            complexity=score.value,
            feature_values=score.features,
            feature_contributions=score.contributions,
            strategy=strategy,
            reason=reason,
            catalog_version=table.version,
            decision_us=(time.perf_counter() - started) * 1e6,
            prompt_tokens=prompt_tokens,
            needs=needs,
            min_context=min_context,
            weights_version=weights_version,
        )

    def _strategy(self, number: int) -> int:
        if number == strategies.UNSPECIFIED:
            return self.default_strategy
        if number not in strategies.NAMES:
            raise InvalidArgument(f"unknown strategy {number}", field="strategy")
        return number

    def _max_price(self, request: RouteRequest) -> float:
        if not self.allow_paid or request.free_only:
            return 0.0
        return math.inf if request.max_price is None else request.max_price

    def _select(
        self,
        table: _Table,
        request: RouteRequest,
        needs: int,
        strategy: int,
        score: float,
        min_context: int,
        k: int,
    ) -> list[ModelInfo]:
        cat = _allowed_catalogue(table, request.allow, request.deny)
        max_price = self._max_price(request)
        seed = next(self._seeds)
        picked = kernel.select(score, cat, needs, min_context, max_price, strategy, k, seed)
        if len(picked) == 0:
            raise explain_no_candidate(
                table,
                cat,
                needs,
                min_context,
                max_price,
                self.board,
                self.quota,
                allow_paid=self.allow_paid and not request.free_only,
                need_fields=dict(request.need_fields),
            )
        return [table.models[i] for i in picked.tolist()]

    def _explicit(self, table: _Table, request: RouteRequest) -> ModelInfo:
        i = table.index.get(request.model)
        if i is None:
            raise NotFound(f"no model {request.model!r} in the catalogue", field="model")
        model = table.models[i]
        if not self.can_call(model.provider):
            raise FailedPrecondition(
                f"provider {model.provider!r} of {model.id} is not configured with its API key",
                field="model",
            )
        if not _allowed_catalogue(table, request.allow, request.deny).allowed[i]:
            raise PermissionDenied(
                f"{model.id} is excluded by this key's or request's allowed models",
                field="model",
                code="model_not_allowed",
            )
        if not model.is_free and (not self.allow_paid or request.free_only):
            why = (
                "this key may use free models only"
                if request.free_only
                else "paid models are off on this gateway (FREEWAY_ROUTER_ALLOW_PAID)"
            )
            raise PermissionDenied(
                f"{model.id} is not free and {why}", field="model", code="model_not_allowed"
            )
        return model

    def _current(self) -> _Table:
        """The published table, with health columns refreshed when they went stale.

        Quota rows of the keys whose use changed since the last decision are rewritten in a
        new table as soon as one of them runs out or comes back (the kernel only filters on
        `quota_left <= 0`); other changes of the fraction wait for the next new table (at
        most `health_refresh_s`), which saves a catalogue copy per request.
        """
        table = self._table
        now = self.clock()
        stale = table.health_version != self.board.version or now >= table.health_due
        if self.quota is not None:
            changed = self.quota.take_changes()
            if changed:
                self._quota_dirty |= changed
                stale = stale or _quota_flipped(table, changed, self.quota)
        if stale:
            table = self._table = self._refreshed(table, now, self._quota_dirty)
            self._quota_dirty = set()
        return table

    def _build(self, models: tuple[ModelInfo, ...], version: int) -> _Table:
        cat = kernel.Catalogue(len(models))
        _fill_static(cat, models, self.unknown_context)
        providers = np.array([m.provider for m in models], dtype=object)
        by_provider = {
            name: np.flatnonzero(providers == name).astype(np.int64)
            for name in set(providers.tolist())
        }
        callable_mask = np.array(
            [m.active and m.chat and self.can_call(m.provider) for m in models], dtype=np.bool_
        )
        quota_rows = _quota_rows(models)
        if self.quota is not None:
            self.quota.track(quota_rows)
        table = _Table(
            models=models,
            index={m.id: i for i, m in enumerate(models)},
            by_provider=by_provider,
            callable_mask=callable_mask,
            cat=cat,
            version=version,
            quota_rows=quota_rows,
            limits=np.array([m.free_tier.row for m in models], dtype=np.float64).reshape(-1, 4),
        )
        return self._refreshed(table, self.clock(), quota_rows)

    def _refreshed(self, table: _Table, now: float, quota_keys: Collection[str]) -> _Table:
        """A copy of `table` with current health columns and the quota rows of `quota_keys`
        rewritten; the arrays of `table` are never touched."""
        cat = _copy(table.cat, table.n, table.callable_mask, health=False)
        _fill_health(cat, table.index, self.board)
        if self.quota is not None:
            _fill_quota(cat, table, quota_keys, self.quota)
        return dataclasses.replace(
            table,
            cat=cat,
            health_version=self.board.version,
            health_due=min(self.board.next_expiry(), now + self.health_refresh_s),
            derived={},
        )


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    """What tells a weights file changed: its inode (a refit renames a new file into
    place), modification time and size."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def weights_tag(weights: kernel.Weights) -> str:
    """``version@hash``: the weights' own name and the first hex digits of a SHA-256 of
    their numbers, so two files that share a version but not their weights tell apart."""
    digest = hashlib.sha256(weights.packed.tobytes()).hexdigest()[:12]
    return f"{weights.version}@{digest}"


def _scored(needs: int) -> int:
    """The capability bits the score sees: a JSON schema is JSON output too (the filter
    keeps them apart)."""
    return needs | kernel.CAP_JSON if needs & Capability.JSON_SCHEMA.bit else needs


def _validate(request: RouteRequest) -> None:
    if not request.messages:
        raise InvalidArgument("must hold at least one message", field="messages")
    if request.max_tokens is not None and request.max_tokens < 0:
        raise InvalidArgument(f"must be >= 0, got {request.max_tokens}", field="max_tokens")
    if request.min_context < 0:
        raise InvalidArgument(
            f"must be >= 0, got {request.min_context}", field="constraints.min_context"
        )
    price = request.max_price
    if price is not None and not price >= 0:
        raise InvalidArgument(f"must be >= 0, got {price}", field="constraints.max_price_per_mtok")


def _prompt_tokens(messages: Sequence[tuple[str, str]], features: npt.NDArray[np.float64]) -> int:
    """The kernel's token estimate of the prompt plus per-message overhead."""
    if _LOG_TOKENS >= 0:
        tokens = round(math.expm1(float(features[_LOG_TOKENS])))
    else:
        tokens = sum(len(content) for _, content in messages) // 4
    return tokens + _TOKENS_PER_MESSAGE * len(messages)


def _price(value: float | None) -> float:
    return math.nan if value is None else value


def _token_price(model: ModelInfo, value: float | None) -> float:
    """A price for the kernel. A model that is not free but costs $0 per token is billed
    some other way (per image, per song, per request): its per-token price is not known,
    so it never passes as free and ranks after every priced model."""
    if not model.is_free and not (model.input_price or model.output_price):
        return math.nan
    return _price(value)


def _copy(
    source: kernel.Catalogue, n: int, allowed: BoolArray, *, health: bool
) -> kernel.Catalogue:
    """A new catalogue with `source`'s static and quota columns (and health ones when
    `health`; else they are left for `_fill_health`) and the given `allowed` rows."""
    cat = kernel.Catalogue(n)
    columns = (*_STATIC_COLUMNS, *_HEALTH_COLUMNS) if health else _STATIC_COLUMNS
    for name in (*columns, "quota_left"):
        getattr(cat, name)[:] = getattr(source, name)
    cat.allowed[:] = allowed
    return cat


def _fill_static(cat: kernel.Catalogue, models: Sequence[ModelInfo], unknown_context: int) -> None:
    cat.price_in[:] = [_token_price(m, m.input_price) for m in models]
    cat.price_out[:] = [_token_price(m, m.output_price) for m in models]
    cat.quality[:] = [m.quality for m in models]
    cat.context[:] = [m.context_window or unknown_context for m in models]
    cat.max_output[:] = [m.max_output_tokens for m in models]
    cat.caps[:] = [capability_bits(m.capabilities) for m in models]
    cat.free[:] = [m.is_free for m in models]


def _fill_health(cat: kernel.Catalogue, index: dict[str, int], board: HealthBoard) -> None:
    cat.latency_ms[:] = math.nan
    cat.error_rate[:] = math.nan
    cat.breaker[:] = kernel.BREAKER_CLOSED
    states = {breaker.OPEN: kernel.BREAKER_OPEN, breaker.HALF_OPEN: kernel.BREAKER_HALF_OPEN}
    for column, values in (
        (cat.breaker, {k: states[v] for k, v in board.abnormal().items()}),
        (cat.latency_ms, board.latency_ms),
        (cat.error_rate, board.error_rate),
        (cat.load, board.inflight),
    ):
        for model_id, value in values.items():
            i = index.get(model_id)
            if i is not None:
                column[i] = value


def _quota_rows(models: Sequence[ModelInfo]) -> dict[str, IntArray]:
    rows: dict[str, list[int]] = {}
    for i, model in enumerate(models):
        if model.free_tier.stated:
            rows.setdefault(quota_key(model), []).append(i)
    return {key: np.array(found, dtype=np.int64) for key, found in rows.items()}


def _quota_flipped(table: _Table, keys: Iterable[str], quota: QuotaLedger) -> bool:
    """Whether a row of `keys` ran out of quota or got some back."""
    column = table.cat.quota_left
    for key in keys:
        rows = table.quota_rows.get(key)
        if rows is None:
            continue
        if len(rows) == 1:  # per-model scope, the common case: no array arithmetic
            i = int(rows[0])
            if (quota.remaining(table.models[i]) <= 0) != (column[i] <= 0):
                return True
        elif ((quota.fractions(key, table.limits[rows]) <= 0) != (column[rows] <= 0)).any():
            return True
    return False


def _fill_quota(
    cat: kernel.Catalogue, table: _Table, keys: Collection[str], quota: QuotaLedger
) -> None:
    for key in keys:
        rows = table.quota_rows.get(key)
        if rows is not None:
            cat.quota_left[rows] = quota.fractions(key, table.limits[rows])


def _allowed_catalogue(
    table: _Table, allow: Sequence[str], deny: Sequence[str]
) -> kernel.Catalogue:
    """The table's catalogue with `allowed` narrowed to the lists (cached per list pair)."""
    if not allow and not deny:
        return table.cat
    key = (tuple(sorted(allow)), tuple(sorted(deny)))
    cat = table.derived.get(key)
    if cat is None:
        if len(table.derived) >= _ALLOW_CACHE_SIZE:
            table.derived.clear()
        allowed = table.callable_mask & _list_mask(table, *key)
        cat = _copy(table.cat, table.n, allowed, health=True)
        table.derived[key] = cat
    return cat


def _list_mask(table: _Table, allow: Sequence[str], deny: Sequence[str]) -> BoolArray:
    """Rows passing the allow list (model ids or provider names; empty = all) and not denied."""
    mask = np.zeros(table.n, dtype=np.bool_) if allow else np.ones(table.n, dtype=np.bool_)
    for names, value in ((allow, True), (deny, False)):
        for name in names:
            i = table.index.get(name)
            if i is not None:
                mask[i] = value
            rows = table.by_provider.get(name)
            if rows is not None:
                mask[rows] = value
    return mask


def _reason(strategy: int, ranked: Sequence[ModelInfo], score: float) -> str:
    chosen = ranked[0]
    cost = "free" if chosen.is_free else f"${_blended(chosen):.3g}/Mtok"
    relation = ">=" if chosen.quality >= score else "<"
    fallbacks = len(ranked) - 1
    return (
        f"{strategies.strategy_name(strategy)}: {chosen.id} ({cost}, quality {chosen.quality:.2f} "
        f"{relation} complexity {score:.2f}); {fallbacks} fallback{'s' if fallbacks != 1 else ''}"
    )


def _blended(model: ModelInfo) -> float:
    return (3 * _price(model.input_price) + _price(model.output_price)) / 4


def explain_no_candidate(
    table: _Table,
    cat: kernel.Catalogue,
    needs: int,
    min_context: int,
    max_price: float,
    board: HealthBoard,
    quota: QuotaLedger | None = None,
    *,
    allow_paid: bool = False,
    need_fields: dict[int, str] | None = None,
) -> Exception:
    """Why no model passed: the first filter that empties the catalogue, with counts, and
    what would help. A need no model meets (a capability, a context) is the request's
    to change: a 400 naming the field and the nearest models. A state that passes
    (breakers open, quotas used up) says when to retry."""
    what = "free model" if max_price == 0.0 else "model"
    if table.n == 0:
        return Unavailable(f"no {what} fits: {_empty_hint(table)}", retry_after_s=5.0)
    survivors = np.ones(table.n, dtype=np.bool_)
    trail = [f"{table.n} models in catalogue"]
    for step, label, passed in _filter_steps(table, cat, needs, min_context, max_price):
        before, survivors = survivors, survivors & passed
        count = int(survivors.sum())
        trail.append(f"{label}: {count}")
        if count == 0:
            message = f"no {what} fits: " + ", ".join(trail)
            waiting = [int(i) for i in np.flatnonzero(before)]
            if step == "callable":
                return Unavailable(f"{message} ({_uncallable_hint(table.models)})")
            if step == "capabilities":
                return _lacking(table, cat, waiting, needs, what, need_fields or {})
            if step == "context":
                return _too_long(table, waiting, min_context, what)
            if step == "healthy":
                wait = max(min(board.retry_in(table.models[i].id) for i in waiting), 1.0)
                return Unavailable(f"{message} (retry in {wait:.0f}s)", retry_after_s=wait)
            if step == "quota" and quota is not None:
                wait = max(min(quota.retry_in(table.models[i]) for i in waiting), 1.0)
                return ResourceExhausted(
                    f"{message} (retry in {wait:.0f}s)",
                    code="rate_limit_exceeded",
                    retry_after_s=wait,
                )
            if step == "price" and not allow_paid:
                hint = "paid models are off; FREEWAY_ROUTER_ALLOW_PAID=true routes to them"
                return FailedPrecondition(f"{message} ({hint})")
            if step == "allowed":
                return PermissionDenied(message, code="model_not_allowed")
            return FailedPrecondition(message)
    return Unavailable(f"no {what} fits: " + ", ".join(trail))


def _lacking(
    table: _Table,
    cat: kernel.Catalogue,
    rows: Sequence[int],
    needs: int,
    what: str,
    need_fields: dict[int, str],
) -> InvalidArgument:
    """The 400 for needs no model meets: which need, the field that asked for it, and the
    nearest models (the most needs met, then the best quality) with what each lacks."""
    offered = [int(cat.caps[i]) for i in rows]
    missing_everywhere = [
        c for c in Capability if needs & c.bit and not any(o & c.bit for o in offered)
    ]
    first = (
        missing_everywhere[0]
        if missing_everywhere
        else next(c for c in Capability if needs & c.bit)
    )
    wanted = " and ".join(capability_names(needs))
    nearest = sorted(
        rows,
        key=lambda i: (-bin(int(cat.caps[i]) & needs).count("1"), -table.models[i].quality, i),
    )[:3]
    described = ", ".join(
        f"{table.models[i].id} (lacks {', '.join(capability_names(needs & ~int(cat.caps[i])))})"
        for i in nearest
    )
    if missing_everywhere:
        names = ", ".join(c.api_name for c in missing_everywhere)
        head = f"no {what} here offers {names}"
    else:
        head = f"no {what} here offers {wanted} together"
    return InvalidArgument(
        f"{head} (this request needs {wanted}); nearest: {described or 'none'}",
        field=need_fields.get(first.bit, ""),
        code="model_not_capable",
    )


def _too_long(table: _Table, rows: Sequence[int], min_context: int, what: str) -> InvalidArgument:
    largest = max(rows, key=lambda i: int(table.cat.context[i]))
    model = table.models[largest]
    assumed = "" if model.context_window else ", assumed: it states none"
    return InvalidArgument(
        f"this request needs about {min_context} tokens of context (prompt and requested "
        f"output); the largest context of a {what} that could serve it is "
        f"{int(table.cat.context[largest])} ({model.id}{assumed})",
        field="messages",
        code="context_length_exceeded",
    )


def _empty_hint(table: _Table) -> str:
    if not table.received:
        return (
            "no catalogue received from the catalog service yet "
            "(is it running at FREEWAY_CATALOG_ADDR? the router keeps reconnecting)"
        )
    return "0 models in catalogue (is a provider configured with its API key?)"


def _uncallable_hint(models: Sequence[ModelInfo]) -> str:
    """Why none of `models` can be called, counted by cause."""
    inactive = sum(not m.active for m in models)
    not_chat = sum(m.active and not m.chat for m in models)
    providers = sorted({m.provider for m in models if m.active and m.chat})
    causes = []
    if providers:
        causes.append(
            f"provider missing, disabled or without its API key: {', '.join(providers)} "
            "(set the variable its api_key_env names in the providers file)"
        )
    if inactive:
        causes.append(f"{inactive} inactive")
    if not_chat:
        causes.append(f"{not_chat} not text-chat models")
    return "; ".join(causes)


def _filter_steps(
    table: _Table, cat: kernel.Catalogue, needs: int, min_context: int, max_price: float
) -> list[tuple[str, str, BoolArray]]:
    """(step, label, rows passing) in the order the explanation applies them."""
    price_ok = np.ones(table.n, dtype=np.bool_)
    if math.isfinite(max_price):
        worst = np.fmax(cat.price_in, cat.price_out)
        price_ok = (cat.free == 1) | (worst <= max_price)
    wanted = ",".join(capability_names(needs)) or "no special capability"
    return [
        ("callable", _CALLABLE_LABEL, table.callable_mask),
        ("price", _FREE_LABEL if max_price == 0.0 else f"price <= {max_price:g}/Mtok", price_ok),
        ("allowed", "allowed by constraints.allow/deny", cat.allowed == 1),
        ("capabilities", f"with {wanted}", (cat.caps & needs) == needs),
        ("context", f"context >= {min_context}", cat.context >= min_context),
        ("healthy", _HEALTHY_LABEL, cat.breaker != kernel.BREAKER_OPEN),
        ("quota", _QUOTA_LABEL, ~(cat.quota_left <= 0)),
    ]
