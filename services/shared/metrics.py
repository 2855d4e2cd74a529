"""Prometheus metrics: a small registry of counters, gauges and histograms with labels,
written out in the text exposition format 0.0.4, and the `/metrics` HTTP endpoint.

Why not prometheus_client: its every `inc()` takes a lock and `labels()` builds its key
from keyword arguments, about ten times the cost of the plain attribute arithmetic here
(see `make bench-metrics`); every Freeway service is one asyncio event loop, so no update
ever races another and none needs a lock. Do not update a metric from another thread.

A metric's child for one set of label values is made once and kept: hot paths call
`labels(...)` (one dict lookup) or hold the child. What is cheaper to read when scraped
than to count on every request (a catalogue's size, breaker states, spool depth) is a
`sampled` metric whose callback runs only at scrape time. A family holds at most
`max_series` children; label values past that bound are folded into one `_other` series
(with a warning), so a bug can never grow memory or Prometheus without bound.
"""

from __future__ import annotations

import bisect
import hmac
import logging
import math
import os
import re
import resource
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.shared.server import CannotListen

log = logging.getLogger("freeway.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PATH = "/metrics"
# Request durations, 5 ms to 2 minutes: LLM calls span sub-second cache hits to long streams.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
MAX_SERIES = 5000
OTHER = "_other"

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

Rows = Iterable[tuple[Sequence[str], float]]


class MetricError(ValueError):
    """A metric declared against the naming rules, or used with the wrong labels."""


def format_value(value: float) -> str:
    """A sample value as the exposition format writes it (+Inf, -Inf, NaN, integers bare)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


class CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add `amount` (never negative: a counter only goes up)."""
        if amount < 0:
            raise MetricError(f"a counter only goes up, got inc({amount})")
        self.value += amount


class GaugeChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = value

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class HistogramChild:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket (not cumulative); last is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (le = "less or equal").
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)


class _Family:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str], max_series: int) -> None:
        if not _NAME.fullmatch(name):
            raise MetricError(f"{name!r}: not a Prometheus metric name")
        for label in labels:
            if not _LABEL.fullmatch(label) or label.startswith("__"):
                raise MetricError(f"{name}: {label!r} is not a label name")
        if len(set(labels)) != len(labels):
            raise MetricError(f"{name}: a label appears twice in {labels}")
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self.max_series = max_series
        self._children: dict[tuple[str, ...], Any] = {}
        if not labels:
            self._children[()] = self._child()

    def _child(self) -> Any:
        raise NotImplementedError

    def labels(self, *values: str) -> Any:
        """The child of these label values (made on first use, then one dict lookup)."""
        child = self._children.get(values)
        if child is None:
            child = self._new_child(values)
        return child

    def _new_child(self, values: tuple[str, ...]) -> Any:
        if len(values) != len(self.label_names):
            raise MetricError(
                f"{self.name}: expected labels {self.label_names}, got {len(values)} values"
            )
        values = tuple(str(v) for v in values)
        if len(self._children) >= self.max_series:
            if (OTHER,) * len(values) not in self._children:
                log.warning("%s: more than %d series; folding the rest", self.name, self.max_series)
            values = (OTHER,) * len(values)
            if values in self._children:
                return self._children[values]
        child = self._children[values] = self._child()
        return child

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        out = self.header()
        for values, child in sorted(self._children.items()):
            out.append(
                f"{self.name}{_label_text(self.label_names, values)} {format_value(child.value)}"
            )
        return out


class Counter(_Family):
    kind = "counter"

    def _child(self) -> CounterChild:
        return CounterChild()

    def labels(self, *values: str) -> CounterChild:
        child: CounterChild = super().labels(*values)
        return child

    def inc(self, amount: float = 1.0) -> None:
        """For a counter without labels."""
        self.labels().inc(amount)


class Gauge(_Family):
    kind = "gauge"

    def _child(self) -> GaugeChild:
        return GaugeChild()

    def labels(self, *values: str) -> GaugeChild:
        child: GaugeChild = super().labels(*values)
        return child

    def set(self, value: float) -> None:
        self.labels().set(value)

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self.labels().dec(amount)


class Histogram(_Family):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        max_series: int,
        buckets: Sequence[float],
    ) -> None:
        bounds = tuple(float(b) for b in buckets if not math.isinf(b))
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise MetricError(f"{name}: buckets must be increasing and distinct, got {buckets}")
        if "le" in labels:
            raise MetricError(f"{name}: 'le' is the bucket label of a histogram")
        self.bounds = bounds
        super().__init__(name, help_text, labels, max_series)

    def _child(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def labels(self, *values: str) -> HistogramChild:
        child: HistogramChild = super().labels(*values)
        return child

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    def lines(self) -> list[str]:
        out = self.header()
        edges = [format_value(b) for b in self.bounds] + ["+Inf"]
        for values, child in sorted(self._children.items()):
            running = 0
            for edge, count in zip(edges, child.counts, strict=True):
                running += count
                labels = _label_text(self.label_names, values, f'le="{edge}"')
                out.append(f"{self.name}_bucket{labels} {running}")
            labels = _label_text(self.label_names, values)
            out.append(f"{self.name}_sum{labels} {format_value(child.sum)}")
            out.append(f"{self.name}_count{labels} {running}")
        return out


class Sampled(_Family):
    """A gauge or counter read at scrape time from `read()`: (label values, value) rows."""

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        kind: str,
        read: Callable[[], Rows],
    ) -> None:
        if kind not in ("gauge", "counter"):
            raise MetricError(f"{name}: a sampled metric is a gauge or a counter, not {kind}")
        super().__init__(name, help_text, labels, MAX_SERIES)
        self.kind = kind
        self.read = read
        self._children.clear()

    def _child(self) -> GaugeChild:
        return GaugeChild()

    def lines(self) -> list[str]:
        out = self.header()
        rows: dict[tuple[str, ...], float] = {}
        for values, value in self.read():
            key = tuple(str(v) for v in values)
            if len(key) != len(self.label_names):
                raise MetricError(f"{self.name}: expected labels {self.label_names}, got {key}")
            if len(rows) < self.max_series:
                rows[key] = value
        for key, value in sorted(rows.items()):
            out.append(f"{self.name}{_label_text(self.label_names, key)} {format_value(value)}")
        return out


class Registry:
    """Metric families by name; `expose()` is the body of a scrape."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def _add(self, family: _Family) -> Any:
        if family.name in self._families:
            raise MetricError(f"{family.name}: declared twice")
        if family.kind == "counter" and not family.name.endswith("_total"):
            raise MetricError(f"{family.name}: a counter's name ends in _total")
        self._families[family.name] = family
        return family

    def counter(
        self, name: str, help_text: str, labels: Sequence[str] = (), max_series: int = MAX_SERIES
    ) -> Counter:
        counter: Counter = self._add(Counter(name, help_text, labels, max_series))
        return counter

    def gauge(
        self, name: str, help_text: str, labels: Sequence[str] = (), max_series: int = MAX_SERIES
    ) -> Gauge:
        gauge: Gauge = self._add(Gauge(name, help_text, labels, max_series))
        return gauge

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DURATION_BUCKETS,
        max_series: int = MAX_SERIES,
    ) -> Histogram:
        histogram: Histogram = self._add(Histogram(name, help_text, labels, max_series, buckets))
        return histogram

    def sampled(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        read: Callable[[], Rows],
        kind: str = "gauge",
    ) -> Sampled:
        """A metric whose values are read when scraped (nothing to count on the hot path)."""
        sampled: Sampled = self._add(Sampled(name, help_text, labels, kind, read))
        return sampled

    def names(self) -> list[str]:
        return sorted(self._families)

    def expose(self) -> str:
        """Every family in the text exposition format 0.0.4. A sampled metric whose reading
        fails is left out of this scrape (logged), never a failed scrape."""
        out: list[str] = []
        for name in sorted(self._families):
            try:
                out += self._families[name].lines()
            except Exception:
                log.exception("metric %s could not be read", name)
        return "\n".join(out) + "\n"


def add_process_metrics(registry: Registry, clock: Callable[[], float] = time.time) -> None:
    """The standard process_* metrics Prometheus tooling expects (CPU, memory, fds, start)."""
    started = clock()
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def cpu() -> Rows:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        yield (), usage.ru_utime + usage.ru_stime

    def rss() -> Rows:
        try:
            with open("/proc/self/statm", encoding="ascii") as statm:
                yield (), int(statm.read().split()[1]) * page
        except OSError:
            yield (), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def fds() -> Rows:
        try:
            yield (), len(os.listdir("/proc/self/fd"))
        except OSError:
            return

    registry.sampled(
        "process_cpu_seconds_total", "User and system CPU time spent", (), cpu, "counter"
    )
    registry.sampled("process_resident_memory_bytes", "Resident memory size", (), rss)
    registry.sampled("process_open_fds", "Open file descriptors", (), fds)
    registry.sampled(
        "process_start_time_seconds", "Start time since the epoch", (), lambda: [((), started)]
    )


def service_registry(service: str) -> Registry:
    """A service's registry: the process metrics plus `freeway_build_info{service}`."""
    registry = Registry()
    add_process_metrics(registry)
    registry.sampled(
        "freeway_service_info", "The Freeway service this process runs", ("service",),
        lambda: [((service,), 1.0)],
    )  # fmt: skip
    return registry


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNAUTHORIZED = {
    "error": {
        "message": "metrics: missing or wrong Authorization (Bearer $FREEWAY_METRICS_TOKEN)",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_metrics_token",
    }
}
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def metrics_handler(registry: Registry, token: str | None = None) -> Handler:
    """GET /metrics; with `token`, only for `Authorization: Bearer <token>` (Prometheus'
    `authorization: {credentials_file: …}`)."""
    expected = f"Bearer {token}".encode() if token else None

    async def scrape(request: web.Request) -> web.StreamResponse:
        if expected is not None:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json_response(UNAUTHORIZED, status=401, headers=_CHALLENGE)
        return web.Response(body=registry.expose().encode(), headers={"Content-Type": CONTENT_TYPE})

    return scrape


@dataclass
class MetricsServer:
    """The metrics port of a gRPC service: plain HTTP, `GET /metrics` only."""

    name: str
    registry: Registry
    token: str | None = None
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self, address: tuple[str, int]) -> int:
        host, port = address
        app = web.Application()
        app.router.add_get(PATH, metrics_handler(self.registry, self.token), allow_head=False)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self.runner.cleanup()
            self.runner = None
            raise CannotListen(
                f"{self.name}: cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
            ) from exc
        self.port = int(self.runner.addresses[0][1])
        log.info("%s metrics on http://%s:%d%s", self.name, host, self.port, PATH)
        return self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def metrics_address(address: str, port: int) -> tuple[str, int]:
    """Where a service's metrics listen: the host of its own (first) address, on `port`;
    a service on an ephemeral port (0: tests, benchmarks) gets an ephemeral metrics port."""
    host, _, own = address.split(",")[0].strip().rpartition(":")
    return host.strip("[]") or "0.0.0.0", 0 if own == "0" else port
