"""Price enrichment: fill in the prices a provider's model list does not state.

Sources: the LiteLLM price map (``model_prices_and_context_window.json``: USD **per token**
under ``input_cost_per_token`` / ``output_cost_per_token``, keyed ``[<provider>/]<model>``
with ``litellm_provider``) and the models.dev catalogue (``providers/<id>/models/<model>.toml``
with ``[cost] input/output`` in USD **per million tokens**, or its ``api.json``).

Matching rules (``PriceCatalogue.lookup``):

1. Only the catalogue namespaces of the record's own provider are searched (``LITELLM_PROVIDERS``
   / ``MODELS_DEV_PROVIDERS`` map our provider names, e.g. ``together`` → ``together_ai`` /
   ``togetherai``); a price of the same model elsewhere is a different price.
2. Model ids are compared normalised: lower case, without a ``models/`` prefix, and for LiteLLM
   without the ``<litellm_provider>/`` key prefix.
3. Exact normalised match first; else the last path segment (``meta-llama/Llama-3`` ~
   ``Llama-3``) when exactly one entry of that provider ends so.
4. A catalogue entry gives a price only when both token prices are known and at least one is
   positive: catalogue zeros mark subscription "coding plans", experimental placeholders and
   local runtimes, never a free model of the provider, so they are ignored.

``enrich`` touches only records without a provider-stated price (``record.priced`` false) and
records ``price_source`` ("litellm" / "models.dev"); a provider price always wins. It also
fills a missing (0) context window / max output and, when the record states none, the
catalogue's capabilities.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from services.catalog.records import ModelRecord

LITELLM = "litellm"
MODELS_DEV = "models.dev"

# Our provider name → the catalogue's provider namespaces (identity when absent).
LITELLM_PROVIDERS: dict[str, tuple[str, ...]] = {
    "together": ("together_ai",),
    "alibaba": ("dashscope",),
    "cohere": ("cohere_chat", "cohere"),
    "mistral": ("mistral", "codestral"),
    "github": ("github",),
    "gemini": ("gemini",),
}
MODELS_DEV_PROVIDERS: dict[str, tuple[str, ...]] = {
    "gemini": ("google",),
    "together": ("togetherai",),
    "cloudflare": ("cloudflare-workers-ai",),
    "github": ("github-models",),
}
_ALIASES = {LITELLM: LITELLM_PROVIDERS, MODELS_DEV: MODELS_DEV_PROVIDERS}


class PricingError(ValueError):
    """A price catalogue file that cannot be read; the message names the file."""


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One model's facts in a price catalogue. Prices are USD per million tokens."""

    input_per_mtok: float | None
    output_per_mtok: float | None
    context_window: int = 0
    max_output_tokens: int = 0
    capabilities: frozenset[str] = frozenset()
    source: str = ""

    @property
    def usable_price(self) -> bool:
        """Both prices known and at least one positive (catalogue zeros are not evidence)."""
        prices = (self.input_per_mtok, self.output_per_mtok)
        return None not in prices and any(p for p in prices if p)


@dataclass
class PriceCatalogue:
    """Entries per catalogue provider namespace, indexed for exact and last-segment lookup."""

    source: str
    entries: dict[str, dict[str, CatalogueEntry]] = field(default_factory=dict)
    _tails: dict[str, dict[str, CatalogueEntry | None]] = field(default_factory=dict, repr=False)
    fallbacks: tuple[PriceCatalogue, ...] = ()

    def add(self, namespace: str, model_id: str, entry: CatalogueEntry) -> None:
        key = normalise(model_id)
        if not key:
            return
        self.entries.setdefault(namespace, {}).setdefault(key, entry)
        tails = self._tails.setdefault(namespace, {})
        tail = key.rsplit("/", 1)[-1]
        if tails.get(tail, entry) is not entry:
            tails[tail] = None  # ambiguous: two models share the last segment
        else:
            tails[tail] = entry

    def lookup(self, provider: str, upstream_id: str) -> CatalogueEntry | None:
        """The entry for a record of ``provider``, here or in the fallback catalogues."""
        found = self._own_lookup(provider, upstream_id)
        if found is not None:
            return found
        return next(
            (e for c in self.fallbacks if (e := c.lookup(provider, upstream_id)) is not None),
            None,
        )

    def _own_lookup(self, provider: str, upstream_id: str) -> CatalogueEntry | None:
        key = normalise(upstream_id)
        spaces = _ALIASES.get(self.source, {}).get(provider, (provider,))
        for space in spaces:
            entry = self.entries.get(space, {}).get(key)
            if entry is not None and entry.usable_price:
                return entry
        tail = key.rsplit("/", 1)[-1]
        for space in spaces:
            entry = self._tails.get(space, {}).get(tail)
            if entry is not None and entry.usable_price:
                return entry
        return None

    def __len__(self) -> int:
        return sum(len(models) for models in self.entries.values())


def combine(*catalogues: PriceCatalogue) -> PriceCatalogue:
    """One catalogue that asks each given catalogue in turn (first match wins)."""
    if not catalogues:
        raise ValueError("combine: at least one catalogue is needed")
    first, *rest = catalogues
    return dataclasses.replace(first, fallbacks=(*first.fallbacks, *rest))


def enrich(record: ModelRecord, catalogue: PriceCatalogue) -> ModelRecord:
    """The record with prices (and missing limits) from the catalogue when it has none."""
    if record.priced:
        return record
    entry = catalogue.lookup(record.provider, record.upstream_id)
    if entry is None:
        return record
    return dataclasses.replace(
        record,
        input_price_per_mtok=entry.input_per_mtok,
        output_price_per_mtok=entry.output_per_mtok,
        price_source=entry.source,
        context_window=record.context_window or entry.context_window,
        max_output_tokens=record.max_output_tokens or entry.max_output_tokens,
        capabilities=record.capabilities or entry.capabilities,
    )


def load_price_catalogue(path: str | Path) -> PriceCatalogue:
    """A catalogue from a LiteLLM JSON map, a models.dev ``api.json`` or a models.dev tree."""
    location = Path(path)
    if location.is_dir():
        return _models_dev_tree(location)
    try:
        doc = json.loads(location.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PricingError(f"{location}: cannot read price catalogue: {exc}") from None
    if not isinstance(doc, dict):
        raise PricingError(f"{location}: expected a JSON object of models")
    if _looks_like_models_dev_api(doc):
        return models_dev_api_catalogue(doc)
    return litellm_catalogue(doc)


def load_price_files(
    paths: Iterable[str | Path],
) -> tuple[PriceCatalogue | None, list[PricingError]]:
    """One catalogue over every readable file, asked in the given order (None when none
    could be read), and the error of each file that could not: a bad file is skipped."""
    loaded: list[PriceCatalogue] = []
    failed: list[PricingError] = []
    for path in paths:
        try:
            catalogue = load_price_catalogue(path)
        except PricingError as exc:
            failed.append(exc)
            continue
        if len(catalogue):
            loaded.append(catalogue)
        else:
            failed.append(PricingError(f"{path}: no models found in this price catalogue"))
    return (combine(*loaded) if loaded else None), failed


def normalise(model_id: str) -> str:
    """The comparison form of a model id (rule 2)."""
    return model_id.strip().lower().removeprefix("models/")


# --- LiteLLM ----------------------------------------------------------------------------

_LITELLM_FLAGS = {
    "supports_function_calling": "tools",
    "supports_tool_choice": "tools",
    "supports_vision": "vision",
    "supports_response_schema": "json",
    "supports_reasoning": "reasoning",
}


def litellm_catalogue(doc: Mapping[str, Any]) -> PriceCatalogue:
    """Index a decoded LiteLLM price map."""
    catalogue = PriceCatalogue(LITELLM)
    for key, spec in doc.items():
        if key == "sample_spec" or not isinstance(spec, Mapping):
            continue
        namespace = spec.get("litellm_provider")
        if not isinstance(namespace, str):
            continue
        model_id = key.removeprefix(f"{namespace}/")
        catalogue.add(namespace, model_id, _litellm_entry(spec))
    return catalogue


def _litellm_entry(spec: Mapping[str, Any]) -> CatalogueEntry:
    return CatalogueEntry(
        input_per_mtok=_per_mtok(spec.get("input_cost_per_token"), 1_000_000),
        output_per_mtok=_per_mtok(spec.get("output_cost_per_token"), 1_000_000),
        context_window=_int(spec.get("max_input_tokens")),
        max_output_tokens=_int(spec.get("max_output_tokens")),
        capabilities=frozenset(cap for flag, cap in _LITELLM_FLAGS.items() if spec.get(flag)),
        source=LITELLM,
    )


# --- models.dev -------------------------------------------------------------------------


def models_dev_api_catalogue(doc: Mapping[str, Any]) -> PriceCatalogue:
    """Index a decoded models.dev ``api.json`` (provider id → {"models": {id: model}})."""
    catalogue = PriceCatalogue(MODELS_DEV)
    for namespace, provider in doc.items():
        models = provider.get("models") if isinstance(provider, Mapping) else None
        for model_id, spec in (models or {}).items():
            if isinstance(spec, Mapping):
                catalogue.add(namespace, str(spec.get("id") or model_id), _models_dev_entry(spec))
    return catalogue


def _models_dev_tree(root: Path) -> PriceCatalogue:
    """Index a checkout of models.dev (``root`` or ``root/providers``)."""
    providers = root / "providers" if (root / "providers").is_dir() else root
    catalogue = PriceCatalogue(MODELS_DEV)
    for namespace, model_id, spec in _toml_models(providers):
        catalogue.add(namespace, model_id, _models_dev_entry(spec))
    if not len(catalogue):
        raise PricingError(f"{root}: no models.dev model files with a [cost] table found")
    return catalogue


def _toml_models(providers: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for models_dir in sorted(providers.glob("*/models")):
        for path in sorted(models_dir.rglob("*.toml")):
            try:
                raw = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PricingError(f"{path}: cannot read: {exc}") from None
            if "[cost]" not in raw:
                continue  # cheap skip: no price to learn from this file
            try:
                spec = tomllib.loads(raw)
            except tomllib.TOMLDecodeError as exc:
                raise PricingError(f"{path}: invalid TOML: {exc}") from None
            model_id = path.relative_to(models_dir).with_suffix("").as_posix()
            yield models_dir.parent.name, model_id, spec


def _models_dev_entry(spec: Mapping[str, Any]) -> CatalogueEntry:
    cost = _table(spec, "cost")
    limit = _table(spec, "limit")
    inputs = _table(spec, "modalities").get("input") or ()
    caps = {
        cap
        for flag, cap in (("tool_call", "tools"), ("reasoning", "reasoning"))
        if spec.get(flag) is True
    }
    if spec.get("structured_output") is True:
        caps.add("json")
    if "image" in inputs:
        caps.add("vision")
    return CatalogueEntry(
        input_per_mtok=_per_mtok(cost.get("input"), 1),
        output_per_mtok=_per_mtok(cost.get("output"), 1),
        context_window=_int(limit.get("context")),
        max_output_tokens=_int(limit.get("output")),
        capabilities=frozenset(caps),
        source=MODELS_DEV,
    )


def _looks_like_models_dev_api(doc: Mapping[str, Any]) -> bool:
    sample = next(iter(doc.values()), None)
    return isinstance(sample, Mapping) and isinstance(sample.get("models"), Mapping)


# --- helpers ----------------------------------------------------------------------------


def _per_mtok(value: object, factor: int) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value)) * factor
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0:
        return None
    return float(f"{number:.12g}")


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _table(spec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = spec.get(name)
    return value if isinstance(value, Mapping) else {}
