"""Query-string parameters, validated: a bad value is an InvalidArgument naming the
parameter (→ 400 in OpenAI's error shape). Unknown parameters are ignored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from multidict import MultiMapping

from freeway.catalog.v1 import catalog_pb2
from freeway.common.v1 import common_pb2
from services.shared.errors import InvalidArgument
from services.shared.vocabulary import ALERT_KIND_BY_NAME, CAPABILITY_BY_NAME

TRUE = frozenset({"true", "1", "yes"})
FALSE = frozenset({"false", "0", "no"})
CAPABILITIES: Mapping[str, common_pb2.Capability] = {
    name: getattr(common_pb2, f"CAPABILITY_{name.upper()}") for name in CAPABILITY_BY_NAME
}
# The catalog's own maximum page of changes (it rejects more); checked here too so the
# 400 names the parameter.
MAX_CHANGES_LIMIT = 5000
MAX_INT64 = 2**63 - 1
MAX_ALERTS_LIMIT = 1000  # the catalog's maximum page of alerts

Query = MultiMapping[str]


def boolean(query: Query, name: str, default: bool) -> bool:
    """`true|false` (also 1/0, yes/no); `default` when absent."""
    value = optional_boolean(query, name)
    return default if value is None else value


def optional_boolean(query: Query, name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise InvalidArgument(f"expected true or false, got {raw!r}", field=name)


def integer(query: Query, name: str, default: int, low: int = 0, high: int = MAX_INT64) -> int:
    """A decimal integer from `low` to `high`; `default` when absent."""
    raw = query.get(name)
    if raw is None:
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else None
    if value is None or not low <= value <= high:
        bound = "" if high == MAX_INT64 else f" up to {high}"
        raise InvalidArgument(f"expected an integer ≥ {low}{bound}, got {raw!r}", field=name)
    return value


def capabilities(query: Query, name: str = "capability") -> list[common_pb2.Capability]:
    """Every capability asked for: repeated (`?capability=tools&capability=json`) and/or
    comma-separated (`?capability=tools,json`)."""
    wanted: list[common_pb2.Capability] = []
    for raw in query.getall(name, ()):
        for word in filter(None, (w.strip().lower() for w in raw.split(","))):
            if word not in CAPABILITIES:
                raise InvalidArgument(
                    f"expected one of {', '.join(CAPABILITIES)}; got {word!r}", field=name
                )
            if CAPABILITIES[word] not in wanted:
                wanted.append(CAPABILITIES[word])
    return wanted


@dataclass(frozen=True)
class CatalogQuery:
    """`GET /v1/catalog` filters. `free`: None for every model, True for the free ones,
    False for the paid (or unpriced) ones."""

    free: bool | None
    provider: str
    capabilities: tuple[common_pb2.Capability, ...]
    min_context: int
    extra: bool

    @classmethod
    def parse(cls, query: Query) -> CatalogQuery:
        return cls(
            free=optional_boolean(query, "free"),
            provider=query.get("provider", "").strip(),
            capabilities=tuple(sorted(capabilities(query))),
            min_context=integer(query, "min_context", 0),
            extra=boolean(query, "extra", default=False),
        )

    def request(self) -> catalog_pb2.ListModelsRequest:
        return catalog_pb2.ListModelsRequest(
            free_only=self.free is True,
            provider=self.provider,
            capabilities=self.capabilities,
            min_context=self.min_context,
        )


@dataclass(frozen=True)
class ChangesQuery:
    """`GET /v1/catalog/changes` parameters; limit 0 lets the catalog choose its default."""

    since: int
    limit: int
    extra: bool

    @classmethod
    def parse(cls, query: Query) -> ChangesQuery:
        return cls(
            since=integer(query, "since", 0),
            limit=integer(query, "limit", 0, low=1, high=MAX_CHANGES_LIMIT),
            extra=boolean(query, "extra", default=False),
        )

    def request(self) -> catalog_pb2.ListChangesRequest:
        return catalog_pb2.ListChangesRequest(since_version=self.since, limit=self.limit)


@dataclass(frozen=True)
class AlertsQuery:
    """`GET /v1/alerts` parameters: `kind` repeated and/or comma-separated (went_paid, gone,
    provider_down, provider_recovered, quota_low), `limit`, and `before` (a seq) to page."""

    kinds: tuple[int, ...]
    limit: int
    before: int

    @classmethod
    def parse(cls, query: Query) -> AlertsQuery:
        return cls(
            kinds=tuple(alert_kinds(query)),
            limit=integer(query, "limit", 0, low=1, high=MAX_ALERTS_LIMIT),
            before=integer(query, "before", 0),
        )

    def request(self) -> catalog_pb2.ListAlertsRequest:
        return catalog_pb2.ListAlertsRequest(
            kinds=self.kinds,  # type: ignore[arg-type]  # the vocabulary holds the enum's numbers
            limit=self.limit,
            before_seq=self.before,
        )


def alert_kinds(query: Query, name: str = "kind") -> list[int]:
    wanted: list[int] = []
    for raw in query.getall(name, ()):
        for word in filter(None, (w.strip().lower() for w in raw.split(","))):
            if word not in ALERT_KIND_BY_NAME:
                raise InvalidArgument(
                    f"expected one of {', '.join(ALERT_KIND_BY_NAME)}; got {word!r}", field=name
                )
            if ALERT_KIND_BY_NAME[word] not in wanted:
                wanted.append(int(ALERT_KIND_BY_NAME[word]))
    return wanted
