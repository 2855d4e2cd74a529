"""One poll of one provider: fetch its model list, decide what is free, work out what
changed, store it (versioned), publish it to watchers, and record the provider's status.

A provider that fails is logged and its error stored as `last_error`; it never stops the
others. Only the replica that holds the leadership runs a Poller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace

import httpx

from services.catalog.capabilities import with_capabilities
from services.catalog.catalogue import Catalogue, ChangeType, Entry, VersionedChange
from services.catalog.fetch import FetchError, Limits, Listing, fetch_listing
from services.catalog.formats import LOCAL_FORMATS
from services.catalog.freeness import FreePolicy, classify
from services.catalog.pricing import PriceCatalogue, enrich
from services.catalog.quality import with_qualities
from services.catalog.records import ModelRecord, QuotaLimits, QuotaScope
from services.catalog.schedule import Outcome
from services.catalog.status import ProviderState
from services.catalog.store import CatalogStore, StaleVersion
from services.catalog.tracking import Plan, plan_poll, plan_unchanged
from services.shared.providers import ProviderConfig
from services.shared.redact import redact

# vLLM speaks the OpenAI format, so only the configured format tells it is a local runtime.
LOCAL_RUNTIMES = LOCAL_FORMATS | {"vllm"}

log = logging.getLogger("freeway.catalog")

ChangeSink = Callable[[Sequence[VersionedChange]], Awaitable[None]]
# A poll's outcome: the provider's state before it and after it.
PollSink = Callable[[ProviderState, ProviderState], Awaitable[None]]


def free_policy(provider: ProviderConfig) -> FreePolicy:
    """The provider's free policy from the providers file, as the freeness module takes it."""
    tier = provider.free_tier
    return FreePolicy(
        mode=provider.free_policy,
        allow=provider.free_allow,
        free_tier=QuotaLimits(
            requests_per_minute=tier.requests_per_minute,
            requests_per_day=tier.requests_per_day,
            tokens_per_minute=tier.tokens_per_minute,
            tokens_per_day=tier.tokens_per_day,
            scope=QuotaScope(tier.scope),
        ),
    )


def unpollable_reason(provider: ProviderConfig, env: Mapping[str, str]) -> str:
    """Why a configured provider is not polled ("" when it is)."""
    if not provider.enabled:
        return "disabled in the providers file"
    if provider.missing_key(env):
        return f"missing API key {provider.api_key_env}"
    return ""


class Poller:
    """Polls providers on demand (the Scheduler decides when) and applies what changed."""

    def __init__(
        self,
        providers: Sequence[ProviderConfig],
        env: Mapping[str, str],
        client: httpx.AsyncClient,
        store: CatalogStore,
        catalogue: Catalogue,
        misses_before_removal: int = 3,
        limits: Limits | None = None,
        on_changes: ChangeSink | None = None,
        wall: Callable[[], float] = time.time,
        prices: PriceCatalogue | None = None,
        on_poll: Callable[[str, bool], None] | None = None,
        on_polled: PollSink | None = None,
    ) -> None:
        self.providers = {p.name: p for p in providers}
        self.env = env
        self.client = client
        self.store = store
        self.catalogue = catalogue
        self.misses_before_removal = misses_before_removal
        self.limits = limits or Limits()
        self.on_changes = on_changes
        self.on_polled = on_polled
        self.prices = prices
        self.on_poll = on_poll  # (provider, ok) as each poll ends: the metrics
        self.misses: dict[str, int] = {}
        self.states: dict[str, ProviderState] = {}
        self._wall = wall
        self._write = asyncio.Lock()

    async def start(self, misses: Mapping[str, int]) -> None:
        """Take over from the store: miss counts, validators, and the status of every
        provider (unpollable ones say why)."""
        self.misses = dict(misses)
        stored = await self.store.providers()
        for provider in self.providers.values():
            previous = stored.get(provider.name, ProviderState(provider.name))
            # The providers file may have changed the format or URL since it was stored, and
            # this process may read a list differently (an upgrade; a provider's stated
            # capabilities): its first poll re-reads every list whole, never "not modified".
            state = replace(
                previous,
                format=provider.format,
                base_url=provider.base_url,
                etag="",
                last_modified="",
            )
            reason = unpollable_reason(provider, self.env)
            if reason:
                state = replace(state, healthy=False, last_error=reason, next_poll=None)
            await self._save(state)

    def pollable(self) -> list[ProviderConfig]:
        return [p for p in self.providers.values() if not unpollable_reason(p, self.env)]

    async def poll(self, name: str) -> Outcome:
        """Poll one provider now; errors become its status, never an exception."""
        provider = self.providers[name]
        state = self.states.get(name, ProviderState(name, provider.format, provider.base_url))
        try:
            listing = await fetch_listing(
                self.client, provider, self.env, state.etag, state.last_modified, self.limits
            )
        except FetchError as exc:
            log.warning("poll of %s failed: %s", name, exc)
            await self._save(replace(state, healthy=False, last_error=str(exc)))
            self._polled(name, ok=False)
            await self._report(state)
            return Outcome(ok=False, retry_after_s=exc.retry_after_s)
        if listing.warnings:
            log.warning("%s: %s", name, "; ".join(listing.warnings))
        await self._apply(provider, listing)
        self._polled(name, ok=True)
        await self._report(state)
        return Outcome(ok=True)

    def _polled(self, name: str, ok: bool) -> None:
        if self.on_poll is not None:
            self.on_poll(name, ok)

    async def _report(self, before: ProviderState) -> None:
        """Tell `on_polled` how the poll went; its failure never fails the poll."""
        if self.on_polled is None:
            return
        try:
            await self.on_polled(before, self.states[before.name])
        except Exception:
            log.exception("reporting the poll of %s failed", before.name)

    async def set_next_poll(self, name: str, when: float) -> None:
        state = self.states.get(name)
        if state is not None:
            await self._save(replace(state, next_poll=when))

    async def _apply(self, provider: ProviderConfig, listing: Listing) -> None:
        async with self._write:
            now = self._wall()
            current = self.catalogue.entries_of(provider.name)
            if listing.not_modified:
                plan = plan_unchanged(
                    current_records(current), self.misses, self.misses_before_removal
                )
            else:
                policy = free_policy(provider)
                local = bool({listing.format, provider.format} & LOCAL_RUNTIMES)
                records = [
                    classify(
                        with_capabilities(r, provider.capabilities),
                        policy,
                        provider.base_url,
                        local,
                    )
                    for r in with_qualities([self._priced(r) for r in listing.records])
                ]
                plan = plan_poll(
                    current_records(current),
                    self.misses,
                    records,
                    self.misses_before_removal,
                    listing.complete,
                )
            changes = await self._commit(plan, now, {i: e.first_seen for i, e in current.items()})
            self.catalogue.apply(changes)
            self.catalogue.touch(plan.seen, now)
            self._remember_misses(plan, changes)
        if changes:
            log.info(
                "%s: %d change(s), catalogue version %d",
                provider.name,
                len(changes),
                self.catalogue.version,
            )
            report_unpriced(provider.name, changes)
            await self._publish(changes)
        await self._save_success(provider, listing, now)

    async def _publish(self, changes: Sequence[VersionedChange]) -> None:
        """Hand stored changes to `on_changes` (webhooks, alerts); its failure is logged,
        never a failed poll: the changes are in the catalogue already."""
        if self.on_changes is None:
            return
        try:
            await self.on_changes(changes)
        except Exception:
            log.exception("publishing %d change(s) failed", len(changes))

    def _priced(self, record: ModelRecord) -> ModelRecord:
        """Prices from the price catalogues for a record whose list states none (before
        it is classified: a price decides what is free)."""
        return record if self.prices is None else enrich(record, self.prices)

    async def _commit(
        self, plan: Plan, now: float, first_seen: Mapping[str, float]
    ) -> list[VersionedChange]:
        try:
            return await self.store.commit(self.catalogue.version, plan, now, first_seen)
        except StaleVersion as exc:
            # Another writer got in (a previous leader finishing a poll): our view is stale,
            # so drop this poll's result; the next poll works from the reloaded catalogue.
            raise FetchError(f"catalogue moved to version {exc.found} under this poll") from exc

    def _remember_misses(self, plan: Plan, changes: Sequence[VersionedChange]) -> None:
        for model_id in plan.seen:
            self.misses.pop(model_id, None)
        self.misses.update(plan.misses)
        for change in changes:
            if change.type is ChangeType.REMOVED:
                self.misses.pop(change.model_id, None)

    async def _save_success(self, provider: ProviderConfig, listing: Listing, now: float) -> None:
        entries = self.catalogue.entries_of(provider.name).values()
        previous = self.states.get(provider.name, ProviderState(provider.name))
        note = ""
        if not listing.not_modified and (listing.generic or not listing.records):
            note = "; ".join(listing.warnings)[:500]
        await self._save(
            ProviderState(
                provider.name,
                provider.format,
                provider.base_url,
                healthy=True,
                last_success=now,
                last_error=note,
                next_poll=previous.next_poll,
                model_count=len(entries),
                free_count=sum(1 for e in entries if e.record.is_free),
                etag=listing.etag,
                last_modified=listing.last_modified,
            )
        )

    async def _save(self, state: ProviderState) -> None:
        if state.last_error:  # a provider's own words: its key may be among them
            state = replace(state, last_error=redact(state.last_error))
        self.states[state.name] = state
        await self.store.save_provider(state)


def newly_unpriced(changes: Sequence[VersionedChange]) -> list[str]:
    """Models that now have no known price and had one before (or are new)."""
    return [
        c.model_id
        for c in changes
        if c.new is not None and not c.new.record.priced and (c.old is None or c.old.record.priced)
    ]


def report_unpriced(provider: str, changes: Sequence[VersionedChange], shown: int = 10) -> None:
    """Raise models without a known price as a warning: they are never counted as $0, so
    an operator may want a price catalogue (FREEWAY_CATALOG_PRICE_FILES) that knows them."""
    unpriced = newly_unpriced(changes)
    if not unpriced:
        return
    more = f" and {len(unpriced) - shown} more" if len(unpriced) > shown else ""
    log.warning(
        "%s: %d model(s) without a known price (unpriced): %s%s",
        provider,
        len(unpriced),
        ", ".join(unpriced[:shown]),
        more,
    )


def current_records(entries: Mapping[str, Entry]) -> dict[str, ModelRecord]:
    return {i: e.record for i, e in entries.items()}
