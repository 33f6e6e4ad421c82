"""Lock-free latency histograms and counters per (protocol, operation).

Record how long each call took, in **seconds** (a float, as returned by the difference of two
:func:`time.perf_counter` readings)::

    from a2a_fast import metrics

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
once, a concurrent record landing wholly before or after it.

:func:`prometheus_text` renders a registry in the Prometheus text format (as summaries);
``Metrics.buckets`` gives the raw histogram for other exporters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from a2a_fast._native import METRICS_RELATIVE_ERROR, Metrics, Series

__all__ = ["RELATIVE_ERROR", "Metrics", "Series", "default", "prometheus_text", "timer"]

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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else "NaN"


def prometheus_text(registry: Metrics | None = None, namespace: str = "a2a_fast") -> str:
    """The registry in the Prometheus text exposition format.

    Two metric families: ``<namespace>_latency_seconds`` (a summary with quantiles 0.5, 0.9, 0.99
    and 0.999, plus ``_sum`` and ``_count``) and ``<namespace>_errors_total`` (a counter), both
    labelled with ``protocol`` and ``operation``.
    """
    latency, errors = f"{namespace}_latency_seconds", f"{namespace}_errors_total"
    lines = [
        f"# HELP {latency} Latency of calls per protocol and operation.",
        f"# TYPE {latency} summary",
    ]
    counters = [
        f"# HELP {errors} Calls that failed, per protocol and operation.",
        f"# TYPE {errors} counter",
    ]
    for protocol, operations in sorted((registry or default).snapshot().items()):
        for operation, stats in sorted(operations.items()):
            labels = f'protocol="{_label(protocol)}",operation="{_label(operation)}"'
            for quantile, key in _QUANTILES:
                lines.append(f'{latency}{{{labels},quantile="{quantile}"}} {_number(stats[key])}')
            lines.append(f"{latency}_sum{{{labels}}} {_number(stats['sum'])}")
            lines.append(f"{latency}_count{{{labels}}} {int(stats['count'])}")
            counters.append(f"{errors}{{{labels}}} {int(stats['errors'])}")
    return "\n".join(lines + counters) + "\n"
