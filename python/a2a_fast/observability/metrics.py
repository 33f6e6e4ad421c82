"""The metrics of a process: one registry, one Prometheus renderer.

:class:`MetricsRegistry` owns everything an agent exports on ``/metrics`` and renders it in one pass
(:meth:`MetricsRegistry.render`): counters and bucket histograms kept here, gauges given at render time, and
latency summaries kept in native lock-free :class:`Metrics` stores it holds (:meth:`MetricsRegistry.summaries`).
:func:`prometheus_text` renders one native store on its own with the same code, for programs that keep one
without a registry.

The native store records how long each call took, in **seconds** (a float, as returned by the difference of
two :func:`time.perf_counter` readings)::

    from a2a_fast.observability import metrics

    metrics.default.record("kafka", "produce", 0.0012)
    with metrics.timer("a2a", "send_task"):        # records the elapsed time, ok=False on error
        ...
    series = metrics.default.series("kafka", "consume")   # a handle: no name lookup per record
    series.record(0.0004, ok=False)
    metrics.default.snapshot()["kafka"]["produce"]["p99"]

``snapshot()`` returns ``{protocol: {operation: stats}}`` where ``stats`` has ``count``,
``errors`` (records with ``ok=False``, also included in ``count`` and the latencies), and in
seconds ``sum``, ``min``, ``mean``, ``max``, ``p50``, ``p90``, ``p99``, ``p999``.

Durations are stored as whole nanoseconds in log-linear buckets (64 per power of two). A
percentile is the nearest-rank percentile of the recorded values (the smallest value with at least
``q * count`` values at or below it), reported within :data:`RELATIVE_ERROR` (1/128, under 0.8 %)
of it, or within 1 ns below 128 ns; durations of 2^43 ns (about 2.4 hours) or more share the last
bucket, ``max`` stays exact. Recording never takes a lock; ``reset()`` empties every series at
once, a concurrent record landing wholly before or after it. ``Metrics.buckets`` gives the raw
histogram for other exporters.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from a2a_fast._native import METRICS_RELATIVE_ERROR, Metrics, Series

__all__ = [
    "LATENCY_BUCKETS",
    "RELATIVE_ERROR",
    "ROUND_BUCKETS",
    "Histogram",
    "Metrics",
    "MetricsRegistry",
    "Series",
    "default",
    "prometheus_text",
    "timer",
]

RELATIVE_ERROR: Final[float] = METRICS_RELATIVE_ERROR
"""Largest relative error of a reported percentile."""

default: Final = Metrics()
"""The process-wide registry used when no other is given."""

_QUANTILES: Final = (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"), ("0.999", "p999"))


@contextmanager
def timer(protocol: str, operation: str, registry: Metrics | None = None) -> Iterator[None]:
    """Times the ``with`` block and records it; an exception propagates and counts as an error."""
    ok = False
    start = time.perf_counter()
    try:
        yield
        ok = True
    finally:
        (registry or default).record(protocol, operation, time.perf_counter() - start, ok)


def prometheus_text(registry: Metrics | None = None, namespace: str = "a2a_fast") -> str:
    """One native store (default: :data:`default`) in the Prometheus text exposition format.

    Two metric families: ``<namespace>_latency_seconds`` (a summary with quantiles 0.5, 0.9, 0.99
    and 0.999, plus ``_sum`` and ``_count``) and ``<namespace>_errors_total`` (a counter), both
    labelled with ``protocol`` and ``operation``.
    """
    lines: list[str] = []
    _render_summaries(lines, registry or default, namespace)
    return "\n".join(lines) + "\n"


LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROUND_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10)


Labels = tuple[tuple[str, str], ...]


class Histogram:
    """Cumulative-bucket histogram in Prometheus' sense; ``quantile`` estimates from the buckets."""

    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def observe_many(self, values: Iterable[float]) -> None:
        """:meth:`observe` of each value: sorted once, then counted per bucket rather than per value (per value
        for a batch with fewer values than a quarter of the buckets)."""
        ordered = sorted(values)
        counts, start = self.counts, 0
        if 4 * len(ordered) < len(self.bounds):
            bounds = self.bounds
            for value in ordered:
                counts[bisect.bisect_left(bounds, value)] += 1
            self.total += sum(ordered)
            self.count += len(ordered)
            return
        for index, bound in enumerate(self.bounds):
            end = bisect.bisect_right(ordered, bound, start)
            counts[index] += end - start
            start = end
        counts[-1] += len(ordered) - start
        self.total += sum(ordered)
        self.count += len(ordered)


class MetricsRegistry:
    """Counters and histograms keyed by name and labels, rendered in Prometheus text format.

    Safe to update from several threads (one lock; updates are a few dict operations).
    """

    def __init__(self, prefix: str = "a2a") -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, tuple[tuple[float, ...], dict[Labels, Histogram]]] = {}
        self._help: dict[str, str] = {}
        self._summaries: dict[str, Metrics] = {}

    def summaries(self, namespace: str, store: Metrics | None = None) -> Metrics:
        """The native latency store rendered as ``<namespace>_latency_seconds`` and ``<namespace>_errors_total``
        (``namespace`` is the full family prefix, e.g. ``a2a_handling``): ``store`` when given, else a new one,
        kept for later calls with the same namespace."""
        with self._lock:
            if namespace not in self._summaries:
                self._summaries[namespace] = store if store is not None else Metrics()
            elif store is not None and self._summaries[namespace] is not store:
                raise ValueError(f"summaries {namespace!r}: another store is registered under this name")
            return self._summaries[namespace]

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, value: float, buckets: Iterable[float] = LATENCY_BUCKETS, **labels: str) -> None:
        with self._lock:
            self._histogram(name, buckets, labels).observe(value)

    def observe_many(
        self, name: str, values: Iterable[float], buckets: Iterable[float] = LATENCY_BUCKETS, **labels: str
    ) -> None:
        """:meth:`observe` of each value, for one label set, under one lock."""
        with self._lock:
            self._histogram(name, buckets, labels).observe_many(values)

    def _histogram(self, name: str, buckets: Iterable[float], labels: dict[str, str]) -> Histogram:
        """The histogram of ``name`` for one label set, created on first use; called under the lock."""
        key = tuple(sorted(labels.items()))
        family = self._histograms.get(name)
        if family is None:
            family = self._histograms[name] = (tuple(sorted(buckets)), {})
        bounds, series = family
        histogram = series.get(key)
        if histogram is None:
            histogram = series[key] = Histogram(bounds)
        return histogram

    def counter(self, name: str, **labels: str) -> float:
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def counter_total(self, name: str) -> float:
        return sum(self._counters.get(name, {}).values())

    def render(self, gauges: Mapping[str, Mapping[Labels, float]] | None = None) -> str:
        """Every family in Prometheus text exposition format (version 0.0.4): counters, histograms, the
        ``gauges`` given, then the native summaries in the order they were registered."""
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                full = f"{self.prefix}_{name}"
                self._header(lines, name, full, "counter")
                for labels, value in sorted(series.items()):
                    lines.append(f"{full}{_labels(labels)} {_number(value)}")
            for name, (bounds, hseries) in sorted(self._histograms.items()):
                full = f"{self.prefix}_{name}"
                self._header(lines, name, full, "histogram")
                for labels, histogram in sorted(hseries.items()):
                    running = 0
                    for bound, count in zip((*bounds, float("inf")), histogram.counts, strict=True):
                        running += count
                        le = "+Inf" if bound == float("inf") else _number(bound)
                        lines.append(f"{full}_bucket{_labels((*labels, ('le', le)))} {running}")
                    lines.append(f"{full}_sum{_labels(labels)} {_number(histogram.total)}")
                    lines.append(f"{full}_count{_labels(labels)} {histogram.count}")
        for name, gseries in sorted((gauges or {}).items()):
            full = f"{self.prefix}_{name}"
            self._header(lines, name, full, "gauge")
            for labels, value in sorted(gseries.items()):
                lines.append(f"{full}{_labels(sorted(labels))} {_number(value)}")
        with self._lock:
            summaries = list(self._summaries.items())
        for namespace, store in summaries:
            _render_summaries(lines, store, namespace)
        return "\n".join(lines) + "\n"

    def _header(self, lines: list[str], name: str, full: str, kind: str) -> None:
        _family(lines, full, kind, self._help.get(name))


# --- the exposition format: every family of every store is written by the functions below ---------------


def _family(lines: list[str], full: str, kind: str, text: str | None) -> None:
    if text is not None:
        lines.append(f"# HELP {full} {text}")
    lines.append(f"# TYPE {full} {kind}")


def _render_summaries(lines: list[str], store: Metrics, namespace: str) -> None:
    """The summary and error-counter families of one native store."""
    latency, errors = f"{namespace}_latency_seconds", f"{namespace}_errors_total"
    _family(lines, latency, "summary", "Latency of calls per protocol and operation.")
    counters: list[str] = []
    _family(counters, errors, "counter", "Calls that failed, per protocol and operation.")
    for protocol, operations in sorted(store.snapshot().items()):
        for operation, stats in sorted(operations.items()):
            labels = (("protocol", protocol), ("operation", operation))
            for quantile, key in _QUANTILES:
                lines.append(f"{latency}{_labels((*labels, ('quantile', quantile)))} {_number(stats[key])}")
            lines.append(f"{latency}_sum{_labels(labels)} {_number(stats['sum'])}")
            lines.append(f"{latency}_count{_labels(labels)} {int(stats['count'])}")
            counters.append(f"{errors}{_labels(labels)} {int(stats['errors'])}")
    lines.extend(counters)


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else "NaN"


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    pairs = list(labels)
    if not pairs:
        return ""
    escaped = (value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') for _, value in pairs)
    return "{" + ",".join(f'{name}="{value}"' for (name, _), value in zip(pairs, escaped, strict=True)) + "}"
